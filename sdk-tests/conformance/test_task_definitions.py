"""Task definitions: RegisterTaskDefinition (a rich valid one, and the
Fargate validation errors of reference section 4 with their exact
messages), DescribeTaskDefinition, ListTaskDefinitions,
ListTaskDefinitionFamilies, DeregisterTaskDefinition and
DeleteTaskDefinitions."""

import copy
import re

import pytest

from scenario import IMAGE, fargate_td, unique

EXEC_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
S3FILES = "arn:aws:s3files:us-east-1:000000000000:file-system/fs-0123456789abcdef0"


def rich_td(family: str) -> dict:
    """Most of what a real Fargate definition carries, so that the echo of
    every sub-shape is walked."""
    return {
        "family": family,
        "taskRoleArn": "arn:aws:iam::000000000000:role/app",
        "executionRoleArn": EXEC_ROLE,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1 vCPU",
        "memory": "2GB",
        "pidMode": "task",
        "runtimePlatform": {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"},
        "ephemeralStorage": {"sizeInGiB": 30},
        "volumes": [
            {"name": "scratch"},
            {"name": "files", "s3filesVolumeConfiguration": {"fileSystemArn": S3FILES, "rootDirectory": "/"}},
        ],
        "trustedExecutionConfiguration": {"isolationMode": "SHARED"},
        "tags": [{"key": "team", "value": "conf"}],
        "containerDefinitions": [
            {
                "name": "init",
                "image": IMAGE,
                "command": ["true"],
                "essential": False,
                "cpu": 128,
                "memoryReservation": 64,
            },
            {
                "name": "web",
                "image": IMAGE,
                "cpu": 512,
                "memory": 1024,
                "entryPoint": ["sh", "-c"],
                "command": ["httpd -f -p 8080"],
                "portMappings": [{"containerPort": 8080, "name": "http", "appProtocol": "http"}],
                "environment": [{"name": "MODE", "value": "conf"}],
                "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/t"}],
                "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/scratch"}],
                "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
                "healthCheck": {
                    "command": ["CMD-SHELL", "true"],
                    "interval": 5,
                    "timeout": 2,
                    "retries": 1,
                    "startPeriod": 0,
                },
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-region": "us-east-1", "awslogs-group": "/conf"},
                },
                "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
                "linuxParameters": {"initProcessEnabled": True, "capabilities": {"add": ["SYS_PTRACE"]}},
                "dockerLabels": {"suite": "conformance"},
                "stopTimeout": 2,
                "startTimeout": 30,
                "readonlyRootFilesystem": False,
                "workingDirectory": "/",
                "user": "0",
            },
        ],
    }


def test_register_a_rich_definition(ecs):
    family = unique("rich")
    out = ecs.call("RegisterTaskDefinition", rich_td(family))
    td = out["taskDefinition"]
    assert td["taskDefinitionArn"].endswith(f":task-definition/{family}:1")
    assert td["revision"] == 1
    assert td["status"] == "ACTIVE"
    assert td["cpu"] == "1024" and td["memory"] == "2048"
    assert "FARGATE" in td["compatibilities"]
    assert isinstance(td["registeredAt"], (int, float))
    web = next(c for c in td["containerDefinitions"] if c["name"] == "web")
    pm = web["portMappings"][0]
    assert pm["hostPort"] == 8080 and pm["protocol"] == "tcp"
    assert out["tags"] == [{"key": "team", "value": "conf"}]
    # Members the emulator only stores come back as they were sent.
    assert td["trustedExecutionConfiguration"] == {"isolationMode": "SHARED"}
    files = next(v for v in td["volumes"] if v["name"] == "files")
    assert files["s3filesVolumeConfiguration"] == {"fileSystemArn": S3FILES, "rootDirectory": "/"}
    again = ecs.call("RegisterTaskDefinition", rich_td(family))
    assert again["taskDefinition"]["revision"] == 2


def _bad(**changes):
    """A Fargate definition with one thing wrong."""
    td = fargate_td("bad")
    for path, value in changes.items():
        target = td
        keys = path.split("__")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        last = keys[-1]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return td


DELETE = object()
APP = "containerDefinitions__0__"


def _with(td, f):
    td = copy.deepcopy(td)
    f(td)
    return td


# (case id, request, message); every one is a ClientException.
FARGATE_ERRORS = [
    ("bridge", _bad(networkMode=DELETE), "Fargate only supports network mode \u2018awsvpc\u2019."),
    ("no-cpu", _bad(cpu=DELETE), "Fargate requires that 'cpu' be defined at the task level."),
    ("no-memory", _bad(memory=DELETE), "Fargate requires that 'memory' be defined at the task level."),
    (
        "bad-pair",
        _bad(cpu="512", memory="512"),
        "No Fargate configuration exists for given values: 512 CPU, 512 memory. "
        "See the Amazon ECS documentation for the valid values.",
    ),
    (
        "container-cpu-sum",
        _bad(**{APP + "cpu": 512}),
        "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
    ),
    (
        "awsvpc-host-port",
        _bad(**{APP + "portMappings": [{"containerPort": 80, "hostPort": 8080}]}),
        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
    ),
    (
        "container-port",
        _bad(**{APP + "portMappings": [{"containerPort": 70000}]}),
        "Invalid 'containerPort' setting for container 'app'.",
    ),
    ("task-cpu-string", _bad(cpu="lots"), "Invalid 'cpu' setting for task."),
    ("family-chars", _bad(family="a.b"), "Family contains invalid characters."),
    ("family-blank", _bad(family=""), "Family can not be blank."),
    ("name-chars", _bad(**{APP + "name": "a b"}), "Container.name contains invalid characters."),
    ("name-missing", _bad(**{APP + "name": DELETE}), "Container.name should not be null or empty."),
    ("image-missing", _bad(**{APP + "image": DELETE}), "Container.image should not be null or empty."),
    (
        "too-many-containers",
        _with(
            fargate_td("bad"),
            lambda td: td.update(
                containerDefinitions=[
                    dict(td["containerDefinitions"][0], name=f"c{i}") for i in range(11)
                ]
            ),
        ),
        "Too many containers.",
    ),
    ("no-containers", _bad(containerDefinitions=[]), "Container list cannot be empty."),
    ("no-essential", _bad(**{APP + "essential": False}), "Task definition doesn't have any essential container."),
    (
        "success-on-essential",
        _with(
            fargate_td("bad"),
            lambda td: td["containerDefinitions"].append(
                dict(
                    td["containerDefinitions"][0],
                    name="web",
                    dependsOn=[{"containerName": "app", "condition": "SUCCESS"}],
                )
            ),
        ),
        "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
    ),
    (
        "depends-on-missing",
        _bad(**{APP + "dependsOn": [{"containerName": "x", "condition": "START"}]}),
        "Cannot depend on container + 'x' because it does not exist",
    ),
    (
        "awslogs-needs-role",
        _bad(
            **{
                APP + "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-region": "us-east-1", "awslogs-group": "g"},
                }
            }
        ),
        "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    ),
    (
        "ecr-needs-role",
        _bad(**{APP + "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/web:1"}),
        "Fargate requires task definition to have execution role ARN to support ECR images.",
    ),
    (
        "awslogs-options",
        _bad(executionRoleArn=EXEC_ROLE, **{APP + "logConfiguration": {"logDriver": "awslogs"}}),
        "Log driver awslogs requires options: awslogs-region, awslogs-group",
    ),
    ("ipc-mode", _bad(ipcMode="host"), "Tasks using the Fargate launch type do not support ipcMode."),
    (
        "pid-mode",
        _bad(pidMode="host"),
        "Tasks using the Fargate launch type do not support pidMode 'host'. The supported value for pidMode is 'task'.",
    ),
    (
        "hostname",
        _bad(**{APP + "hostname": "web"}),
        "hostname is not supported on container when networkMode=awsvpc.",
    ),
]


@pytest.mark.parametrize("td,message", [c[1:] for c in FARGATE_ERRORS], ids=[c[0] for c in FARGATE_ERRORS])
def test_register_fargate_validation(ecs, td, message):
    ecs.error("RegisterTaskDefinition", td, "ClientException", message)


ECR_IMAGE = "000000000000.dkr.ecr.us-east-1.amazonaws.com/web:1"
PRIVATE_IMAGE = "registry.example.com/team/app:1"

# (case id, request, message, whether botocore would send it); every one
# is a ClientException, and none stores anything.
REPOSITORY_CREDENTIALS_ERRORS = [
    (
        "ecr-image",
        _bad(
            executionRoleArn=EXEC_ROLE,
            **{APP + "image": ECR_IMAGE, APP + "repositoryCredentials": {"credentialsParameter": "registry"}},
        ),
        "Private repository credentials are not a supported authentication method for ECR repositories.",
        True,
    ),
    (
        # What a console once generated: checked for ECR before anything else.
        "ecr-image-blank-no-role",
        _bad(**{APP + "image": ECR_IMAGE, APP + "repositoryCredentials": {"credentialsParameter": ""}}),
        "Private repository credentials are not a supported authentication method for ECR repositories.",
        True,
    ),
    (
        "no-execution-role",
        _bad(**{APP + "image": PRIVATE_IMAGE, APP + "repositoryCredentials": {"credentialsParameter": "registry"}}),
        "Private repository authentication requires that the task definition specify a value for executionRoleArn.",
        True,
    ),
    (
        "blank-parameter",
        _bad(
            executionRoleArn=EXEC_ROLE,
            **{APP + "image": PRIVATE_IMAGE, APP + "repositoryCredentials": {"credentialsParameter": ""}},
        ),
        "RepositoryCredentials.credentialsParameter should not be null or empty.",
        True,
    ),
    (
        # The model requires the member; only a hand-written client omits it.
        "missing-parameter",
        _bad(executionRoleArn=EXEC_ROLE, **{APP + "image": PRIVATE_IMAGE, APP + "repositoryCredentials": {}}),
        "RepositoryCredentials.credentialsParameter should not be null or empty.",
        False,
    ),
]


@pytest.mark.parametrize(
    "td,message,sdk",
    [c[1:] for c in REPOSITORY_CREDENTIALS_ERRORS],
    ids=[c[0] for c in REPOSITORY_CREDENTIALS_ERRORS],
)
def test_register_repository_credentials_validation(ecs, td, message, sdk):
    td = dict(td, family=unique("creds"))
    ecs.error("RegisterTaskDefinition", td, "ClientException", message, validate_input=sdk)
    ecs.error(
        "DescribeTaskDefinition",
        {"taskDefinition": td["family"]},
        "ClientException",
        "Unable to describe task definition.",
    )
    assert td["family"] not in ecs.call("ListTaskDefinitionFamilies", {"familyPrefix": td["family"]})["families"]


def test_register_repository_credentials_by_name_or_arn(ecs):
    for value in ("registry", "arn:aws:secretsmanager:eu-west-1:111122223333:secret:registry-AbCdEf"):
        td = _bad(
            family=unique("creds"),
            executionRoleArn=EXEC_ROLE,
            **{APP + "image": PRIVATE_IMAGE, APP + "repositoryCredentials": {"credentialsParameter": value}},
        )
        out = ecs.call("RegisterTaskDefinition", td)["taskDefinition"]
        assert out["containerDefinitions"][0]["repositoryCredentials"] == {"credentialsParameter": value}


def test_register_too_large(ecs):
    td = fargate_td("big")
    td["containerDefinitions"][0]["environment"] = [{"name": "PAD", "value": "x" * 70000}]
    r = ecs.error("RegisterTaskDefinition", td, "ClientException")
    assert re.fullmatch(r"Actual length: '\d+'\. Max allowed length is '65536' bytes\.", r.message), r.message


def test_describe_task_definition(ecs):
    family = unique("desc")
    reg = ecs.call("RegisterTaskDefinition", fargate_td(family, tags=[{"key": "k", "value": "v"}]))
    arn = reg["taskDefinition"]["taskDefinitionArn"]
    for ref in (family, f"{family}:1", arn):
        out = ecs.call("DescribeTaskDefinition", {"taskDefinition": ref})
        assert out["taskDefinition"]["taskDefinitionArn"] == arn
        assert "tags" not in out
    out = ecs.call("DescribeTaskDefinition", {"taskDefinition": family, "include": ["TAGS"]})
    assert out["tags"] == [{"key": "k", "value": "v"}]
    ecs.error(
        "DescribeTaskDefinition",
        {"taskDefinition": unique("nope")},
        "ClientException",
        "Unable to describe task definition.",
    )
    ecs.error(
        "DescribeTaskDefinition",
        {"taskDefinition": f"{family}:9"},
        "ClientException",
        "Unable to describe task definition.",
    )


def test_list_task_definitions(ecs):
    family = unique("list")
    arns = [
        ecs.call("RegisterTaskDefinition", fargate_td(family))["taskDefinition"]["taskDefinitionArn"]
        for _ in range(3)
    ]
    out = ecs.call("ListTaskDefinitions", {"familyPrefix": family})
    assert out["taskDefinitionArns"] == arns
    out = ecs.call("ListTaskDefinitions", {"familyPrefix": family, "sort": "DESC"})
    assert out["taskDefinitionArns"] == arns[::-1]
    page = ecs.call("ListTaskDefinitions", {"familyPrefix": family, "maxResults": 2})
    assert page["taskDefinitionArns"] == arns[:2]
    rest = ecs.call(
        "ListTaskDefinitions", {"familyPrefix": family, "maxResults": 2, "nextToken": page["nextToken"]}
    )
    assert rest["taskDefinitionArns"] == arns[2:] and "nextToken" not in rest
    ecs.call("DeregisterTaskDefinition", {"taskDefinition": arns[0]})
    inactive = ecs.call("ListTaskDefinitions", {"familyPrefix": family, "status": "INACTIVE"})
    assert inactive["taskDefinitionArns"] == arns[:1]
    ecs.error("ListTaskDefinitions", {"status": "GONE"}, "InvalidParameterException")
    ecs.error("ListTaskDefinitions", {"nextToken": "garbage"}, "InvalidParameterException")


def test_list_task_definition_families(ecs):
    prefix = unique("fam")
    for suffix in ("a", "b"):
        ecs.call("RegisterTaskDefinition", fargate_td(f"{prefix}-{suffix}"))
    out = ecs.call("ListTaskDefinitionFamilies", {"familyPrefix": prefix})
    assert out["families"] == [f"{prefix}-a", f"{prefix}-b"]
    ecs.call("DeregisterTaskDefinition", {"taskDefinition": f"{prefix}-b:1"})
    active = ecs.call("ListTaskDefinitionFamilies", {"familyPrefix": prefix, "status": "ACTIVE"})
    assert active["families"] == [f"{prefix}-a"]
    inactive = ecs.call("ListTaskDefinitionFamilies", {"familyPrefix": prefix, "status": "INACTIVE"})
    assert inactive["families"] == [f"{prefix}-b"]
    page = ecs.call("ListTaskDefinitionFamilies", {"familyPrefix": prefix, "maxResults": 1})
    assert page["families"] == [f"{prefix}-a"] and page["nextToken"]
    ecs.error("ListTaskDefinitionFamilies", {"status": "GONE"}, "InvalidParameterException")


def test_deregister_task_definition(ecs):
    family = unique("dereg")
    ecs.call("RegisterTaskDefinition", fargate_td(family))
    out = ecs.call("DeregisterTaskDefinition", {"taskDefinition": f"{family}:1"})
    td = out["taskDefinition"]
    assert td["status"] == "INACTIVE"
    assert isinstance(td["deregisteredAt"], (int, float))
    # Still describable by revision.
    d = ecs.call("DescribeTaskDefinition", {"taskDefinition": f"{family}:1"})
    assert d["taskDefinition"]["status"] == "INACTIVE"
    ecs.error("DeregisterTaskDefinition", {"taskDefinition": f"{unique('nope')}:1"}, "ClientException")
    ecs.error("DeregisterTaskDefinition", {"taskDefinition": family}, "ClientException")


def test_delete_task_definitions(ecs):
    family = unique("delete")
    ecs.call("RegisterTaskDefinition", fargate_td(family))
    ecs.call("RegisterTaskDefinition", fargate_td(family))
    ecs.call("DeregisterTaskDefinition", {"taskDefinition": f"{family}:1"})
    missing = f"{unique('nope')}:1"
    out = ecs.call("DeleteTaskDefinitions", {"taskDefinitions": [f"{family}:1", f"{family}:2", missing]})
    assert [t["status"] for t in out["taskDefinitions"]] == ["DELETE_IN_PROGRESS"]
    assert isinstance(out["taskDefinitions"][0]["deleteRequestedAt"], (int, float))
    assert len(out["failures"]) == 2
    assert all(f.get("reason") for f in out["failures"])
    ecs.error("DeleteTaskDefinitions", {"taskDefinitions": []}, "InvalidParameterException")
    ecs.error(
        "DeleteTaskDefinitions",
        {"taskDefinitions": [f"{family}:{i}" for i in range(1, 12)]},
        "InvalidParameterException",
    )
