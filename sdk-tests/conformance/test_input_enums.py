"""Enum members of the request. botocore does not check enums client-side, so
a value outside the model's list is legal SDK input that only the service
can refuse. ECS answers InvalidParameterException "<member> should be one
of [A,B,...]", in the model's order (real output quoted in
hashicorp/terraform-provider-aws#23342: "include should be one of
[ATTACHMENTS,SETTINGS,STATISTICS,TAGS]")."""

import pytest

from scenario import SUBNETS, fargate_td, unique
from wire import MODEL

BOGUS = "BOGUS"


def enum(shape_name):
    return MODEL.shape_for(shape_name).enum


def _td(**extra):
    td = fargate_td("enums")
    td.update(extra)
    return td


def _container(**extra):
    td = fargate_td("enums")
    td["containerDefinitions"][0].update(extra)
    return td


# (id, operation, params (CLUSTER and TD are filled in), member, enum shape)
CASES = [
    ("clusters-include", "DescribeClusters", {"include": [BOGUS]}, "include", "ClusterField"),
    ("providers-include", "DescribeCapacityProviders", {"include": [BOGUS]}, "include", "CapacityProviderField"),
    ("td-include", "DescribeTaskDefinition", {"taskDefinition": "TD", "include": [BOGUS]}, "include", "TaskDefinitionField"),
    ("tasks-include", "DescribeTasks", {"cluster": "CLUSTER", "tasks": ["t"], "include": [BOGUS]}, "include", "TaskField"),
    (
        "instances-include",
        "DescribeContainerInstances",
        {"cluster": "CLUSTER", "containerInstances": ["i"], "include": [BOGUS]},
        "include",
        "ContainerInstanceField",
    ),
    ("td-status", "ListTaskDefinitions", {"status": BOGUS}, "status", "TaskDefinitionStatus"),
    ("td-sort", "ListTaskDefinitions", {"sort": BOGUS}, "sort", "SortOrder"),
    ("family-status", "ListTaskDefinitionFamilies", {"status": BOGUS}, "status", "TaskDefinitionFamilyStatus"),
    ("tasks-desired", "ListTasks", {"cluster": "CLUSTER", "desiredStatus": BOGUS}, "desiredStatus", "DesiredStatus"),
    ("tasks-launch", "ListTasks", {"cluster": "CLUSTER", "launchType": BOGUS}, "launchType", "LaunchType"),
    ("instances-status", "ListContainerInstances", {"cluster": "CLUSTER", "status": BOGUS}, "status", "ContainerInstanceStatus"),
    (
        "run-launch",
        "RunTask",
        {"cluster": "CLUSTER", "taskDefinition": "TD", "launchType": BOGUS, "networkConfiguration": SUBNETS},
        "launchType",
        "LaunchType",
    ),
    (
        "run-propagate",
        "RunTask",
        {
            "cluster": "CLUSTER",
            "taskDefinition": "TD",
            "launchType": "FARGATE",
            "propagateTags": BOGUS,
            "networkConfiguration": SUBNETS,
        },
        "propagateTags",
        "PropagateTags",
    ),
    (
        "run-public-ip",
        "RunTask",
        {
            "cluster": "CLUSTER",
            "taskDefinition": "TD",
            "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["s"], "assignPublicIp": BOGUS}},
        },
        "assignPublicIp",
        "AssignPublicIp",
    ),
    ("setting-name", "PutAccountSetting", {"name": BOGUS, "value": "enabled"}, "name", "SettingName"),
    ("list-setting-name", "ListAccountSettings", {"name": BOGUS}, "name", "SettingName"),
    ("cluster-setting", "CreateCluster", {"settings": [{"name": BOGUS, "value": "enabled"}]}, "name", "ClusterSettingName"),
    (
        "exec-logging",
        "UpdateCluster",
        {"cluster": "CLUSTER", "configuration": {"executeCommandConfiguration": {"logging": BOGUS}}},
        "logging",
        "ExecuteCommandLogging",
    ),
    ("network-mode", "RegisterTaskDefinition", _td(networkMode=BOGUS), "networkMode", "NetworkMode"),
    ("compat", "RegisterTaskDefinition", _td(requiresCompatibilities=[BOGUS]), "requiresCompatibilities", "Compatibility"),
    ("pid-mode", "RegisterTaskDefinition", _td(requiresCompatibilities=["EC2"], pidMode=BOGUS), "pidMode", "PidMode"),
    ("ipc-mode", "RegisterTaskDefinition", _td(requiresCompatibilities=["EC2"], ipcMode=BOGUS), "ipcMode", "IpcMode"),
    (
        "cpu-arch",
        "RegisterTaskDefinition",
        _td(runtimePlatform={"cpuArchitecture": BOGUS}),
        "cpuArchitecture",
        "CPUArchitecture",
    ),
    (
        "os-family",
        "RegisterTaskDefinition",
        _td(runtimePlatform={"operatingSystemFamily": BOGUS}),
        "operatingSystemFamily",
        "OSFamily",
    ),
    (
        "protocol",
        "RegisterTaskDefinition",
        _container(portMappings=[{"containerPort": 80, "protocol": BOGUS}]),
        "protocol",
        "TransportProtocol",
    ),
    (
        "app-protocol",
        "RegisterTaskDefinition",
        _container(portMappings=[{"containerPort": 80, "appProtocol": BOGUS}]),
        "appProtocol",
        "ApplicationProtocol",
    ),
    (
        "condition",
        "RegisterTaskDefinition",
        _container(dependsOn=[{"containerName": "app", "condition": BOGUS}]),
        "condition",
        "ContainerCondition",
    ),
    (
        "log-driver",
        "RegisterTaskDefinition",
        _container(logConfiguration={"logDriver": BOGUS}),
        "logDriver",
        "LogDriver",
    ),
    (
        "ulimit",
        "RegisterTaskDefinition",
        _container(ulimits=[{"name": BOGUS, "softLimit": 1, "hardLimit": 1}]),
        "name",
        "UlimitName",
    ),
    (
        "env-file-type",
        "RegisterTaskDefinition",
        _container(environmentFiles=[{"value": "arn:aws:s3:::b/k.env", "type": BOGUS}]),
        "type",
        "EnvironmentFileType",
    ),
    (
        "version-consistency",
        "RegisterTaskDefinition",
        _container(versionConsistency=BOGUS),
        "versionConsistency",
        "VersionConsistency",
    ),
]


def _fill(value, cluster, td):
    if isinstance(value, dict):
        return {k: _fill(v, cluster, td) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, cluster, td) for v in value]
    return {"CLUSTER": cluster, "TD": td}.get(value, value) if isinstance(value, str) else value


@pytest.mark.parametrize("op,params,member,shape", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_enum_violation(ecs, cluster, task_definition, op, params, member, shape):
    values = ",".join(enum(shape))
    ecs.error(
        op,
        _fill(params, cluster, task_definition),
        "InvalidParameterException",
        f"{member} should be one of [{values}]",
    )


def test_enum_values_are_accepted(ecs, cluster):
    """The other side: every model value of a few of them is accepted."""
    for status in enum("TaskDefinitionStatus"):
        ecs.call("ListTaskDefinitions", {"status": status})
    for status in enum("ContainerInstanceStatus"):
        ecs.call("ListContainerInstances", {"cluster": cluster, "status": status})
    for field in enum("ClusterField"):
        ecs.call("DescribeClusters", {"clusters": [cluster], "include": [field]})
    for arch in enum("CPUArchitecture"):
        ecs.call(
            "RegisterTaskDefinition",
            _td(family=unique("arch"), runtimePlatform={"cpuArchitecture": arch, "operatingSystemFamily": "LINUX"}),
        )
