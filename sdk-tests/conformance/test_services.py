"""Services: CreateService to DeleteService with a real busybox task, a
deployment that completes, the deployment inspection operations, and the
errors each operation models. Every DescribeServices answer along the way is
walked against the model, so deployments and events in each state are too."""

import time

from scenario import SUBNETS, fargate_td, unique

ACCOUNT = "000000000000"


def _service(ecs, cluster, name, **extra):
    return ecs.call("DescribeServices", {"cluster": cluster, "services": [name], **extra})["services"][0]


def _wait(ecs, cluster, name, ok, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        s = _service(ecs, cluster, name)
        if ok(s):
            return s
        assert time.monotonic() < deadline, f"service never got there: {s}"
        time.sleep(0.3)


def _stable(s):
    return len(s["deployments"]) == 1 and s["deployments"][0]["rolloutState"] == "COMPLETED" and s["runningCount"] == s["desiredCount"]


def test_service_lifecycle(ecs, cluster, task_definition):
    name = unique("svc")
    out = ecs.call(
        "CreateService",
        {
            "cluster": cluster,
            "serviceName": name,
            "taskDefinition": task_definition,
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": SUBNETS,
            "deploymentConfiguration": {
                "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                "maximumPercent": 200,
                "minimumHealthyPercent": 100,
            },
            "tags": [{"key": "team", "value": "conf"}],
            "propagateTags": "SERVICE",
            "enableECSManagedTags": True,
            "enableExecuteCommand": True,
            "healthCheckGracePeriodSeconds": 5,
            "platformVersion": "LATEST",
            "clientToken": "conf-token",
        },
    )["service"]
    assert out["status"] == "ACTIVE" and out["desiredCount"] == 1 and out["schedulingStrategy"] == "REPLICA"
    assert out["serviceArn"] == f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{cluster}/{name}"
    [d] = out["deployments"]
    assert d["status"] == "PRIMARY" and d["rolloutState"] == "IN_PROGRESS" and d["id"].startswith("ecs-svc/")
    assert d["rolloutStateReason"] == f"ECS deployment {d['id']} in progress."
    # The same client token returns the same service.
    again = ecs.call(
        "CreateService",
        {"cluster": cluster, "serviceName": name, "taskDefinition": task_definition, "desiredCount": 1,
         "launchType": "FARGATE", "networkConfiguration": SUBNETS, "clientToken": "conf-token"},
    )["service"]
    assert again["serviceArn"] == out["serviceArn"]
    ecs.error(
        "CreateService",
        {"cluster": cluster, "serviceName": name, "taskDefinition": task_definition, "desiredCount": 1,
         "launchType": "FARGATE", "networkConfiguration": SUBNETS},
        "InvalidParameterException",
        "Creation of service was not idempotent.",
    )

    s = _wait(ecs, cluster, name, _stable)
    assert s["events"][0]["message"] == f"(service {name}) has reached a steady state."
    tasks = ecs.call("ListTasks", {"cluster": cluster, "serviceName": name})["taskArns"]
    assert len(tasks) == 1
    t = ecs.call("DescribeTasks", {"cluster": cluster, "tasks": tasks, "include": ["TAGS"]})["tasks"][0]
    assert t["group"] == f"service:{name}" and t["startedBy"] == d["id"]
    assert {"key": "team", "value": "conf"} in t["tags"]
    assert {"key": "aws:ecs:serviceName", "value": name} in t["tags"]
    with_tags = _service(ecs, cluster, name, include=["TAGS"])
    assert with_tags["tags"] == [{"key": "team", "value": "conf"}]
    assert "tags" not in s
    assert name in str(ecs.call("ListServices", {"cluster": cluster})["serviceArns"])

    # A forced deployment rolls the task over.
    upd = ecs.call("UpdateService", {"cluster": cluster, "service": name, "forceNewDeployment": True})["service"]
    assert [x["status"] for x in upd["deployments"]] == ["PRIMARY", "ACTIVE"]
    s = _wait(ecs, cluster, name, lambda s: _stable(s) and s["deployments"][0]["id"] != d["id"])
    new_tasks = ecs.call("ListTasks", {"cluster": cluster, "serviceName": name})["taskArns"]
    assert len(new_tasks) == 1 and new_tasks != tasks

    listed = ecs.call("ListServiceDeployments", {"cluster": cluster, "service": name})["serviceDeployments"]
    assert [x["status"] for x in listed] == ["SUCCESSFUL", "SUCCESSFUL"]
    sds = ecs.call(
        "DescribeServiceDeployments", {"serviceDeploymentArns": [listed[0]["serviceDeploymentArn"], "arn:aws:ecs:us-east-1:0:service-deployment/x/y/z"]}
    )
    assert sds["failures"][0]["reason"] == "MISSING"
    sd = sds["serviceDeployments"][0]
    assert sd["deploymentCircuitBreaker"]["status"] == "MONITORING_COMPLETE"
    rev = ecs.call("DescribeServiceRevisions", {"serviceRevisionArns": [sd["targetServiceRevision"]["arn"]]})
    assert rev["serviceRevisions"][0]["taskDefinition"] == task_definition
    assert ecs.call("ListServicesByNamespace", {"namespace": "conf"})["serviceArns"] == []

    # Tags on a service.
    ecs.call("TagResource", {"resourceArn": out["serviceArn"], "tags": [{"key": "b", "value": "2"}]})
    tags = ecs.call("ListTagsForResource", {"resourceArn": out["serviceArn"]})["tags"]
    assert tags == [{"key": "team", "value": "conf"}, {"key": "b", "value": "2"}]

    # Delete: refused while scaled, then forced.
    ecs.error(
        "DeleteService", {"cluster": cluster, "service": name}, "InvalidParameterException",
        "The service cannot be stopped while it is scaled above 0.",
    )
    gone = ecs.call("DeleteService", {"cluster": cluster, "service": name, "force": True})["service"]
    assert gone["status"] == "DRAINING"
    ecs.error("UpdateService", {"cluster": cluster, "service": name, "desiredCount": 2}, "ServiceNotActiveException", "Service was not ACTIVE.")
    s = _wait(ecs, cluster, name, lambda s: s["status"] == "INACTIVE")
    assert s["runningCount"] == 0
    assert name not in str(ecs.call("ListServices", {"cluster": cluster})["serviceArns"])


def test_service_errors(ecs, cluster, task_definition):
    base = {"cluster": cluster, "serviceName": unique("bad"), "taskDefinition": task_definition, "desiredCount": 1,
            "launchType": "FARGATE", "networkConfiguration": SUBNETS}
    ecs.error("CreateService", {**base, "cluster": unique("nope")}, "ClusterNotFoundException", "Cluster not found.")
    ecs.error("CreateService", {**base, "taskDefinition": "nope:9"}, "ClientException", "TaskDefinition not found.")
    ecs.error(
        "CreateService", {k: v for k, v in base.items() if k != "networkConfiguration"}, "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    )
    ecs.error("CreateService", {**base, "platformVersion": "9.9.9"}, "PlatformUnknownException")
    ecs.error("CreateService", {**base, "propagateTags": "ALL"}, "InvalidParameterException", validate_input=False)
    ecs.error(
        "CreateService", {**base, "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:0:targetgroup/x/1", "containerName": "app", "containerPort": 80}]},
        "InvalidParameterException", "The container app did not have a container port 80 defined.",
    )
    ecs.error("DescribeServices", {"cluster": unique("nope"), "services": ["x"]}, "ClusterNotFoundException")
    ecs.error("DescribeServices", {"cluster": cluster, "services": [f"s{i}" for i in range(11)]}, "InvalidParameterException")
    ecs.error("ListServices", {"cluster": unique("nope")}, "ClusterNotFoundException")
    ecs.error("UpdateService", {"cluster": cluster, "service": unique("nope")}, "ServiceNotFoundException", "Service not found.")
    ecs.error("DeleteService", {"cluster": cluster, "service": unique("nope")}, "ServiceNotFoundException", "Service not found.")
    ecs.error("ListServiceDeployments", {"cluster": cluster, "service": unique("nope")}, "ServiceNotFoundException")
    ecs.error("DescribeServiceDeployments", {"serviceDeploymentArns": []}, "InvalidParameterException", validate_input=False)
    ecs.error("DescribeServiceRevisions", {"serviceRevisionArns": []}, "InvalidParameterException", validate_input=False)
    ecs.error("ListServicesByNamespace", {"namespace": ""}, "InvalidParameterException", validate_input=False)
    missing = ecs.call("DescribeServices", {"cluster": cluster, "services": ["ghost"]})
    assert missing == {"services": [], "failures": [{"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/{cluster}/ghost", "reason": "MISSING"}]}
