"""Tasks: RunTask with real busybox containers and its validation errors,
StopTask, DescribeTasks (with MISSING failures) and ListTasks. Tasks are
described through their lifecycle (PROVISIONING, RUNNING, STOPPED), in
several ways of ending, because later states are where shape bugs hide."""

from scenario import IMAGE, SLEEPER, SUBNETS, fargate_td, run_task, unique, wait_for

ACCOUNT = "000000000000"


def test_run_task_happy_path(ecs, cluster, running_task):
    t = running_task
    assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"
    assert t["launchType"] == "FARGATE"
    assert t["cpu"] == "256" and t["memory"] == "512"
    assert t["taskArn"].startswith(f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/")
    [c] = t["containers"]
    assert c["lastStatus"] == "RUNNING" and c["name"] == "app"
    eni = t["attachments"][0]
    assert eni["type"] == "ElasticNetworkInterface" and eni["status"] == "ATTACHED"
    with_tags = ecs.call(
        "DescribeTasks", {"cluster": cluster, "tasks": [t["taskArn"]], "include": ["TAGS"]}
    )["tasks"][0]
    assert with_tags["tags"] == [{"key": "suite", "value": "conformance"}]


def test_run_task_with_everything(ecs):
    """Overrides, exec, health checks, a port, a capacity provider strategy
    and a count of two: every optional part of Task gets walked."""
    cluster = unique("full")
    ecs.call("CreateCluster", {"clusterName": cluster, "capacityProviders": ["FARGATE", "FARGATE_SPOT"]})
    family = unique("full")
    td = fargate_td(family, tags=[{"key": "from", "value": "td"}])
    c = td["containerDefinitions"][0]
    c["portMappings"] = [{"containerPort": 8080}]
    c["healthCheck"] = {"command": ["CMD-SHELL", "true"], "interval": 5, "timeout": 2, "retries": 1}
    td["containerDefinitions"].append(
        {"name": "sidecar", "image": IMAGE, "command": SLEEPER, "essential": False, "stopTimeout": 2}
    )
    arn = ecs.call("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]
    out = ecs.call(
        "RunTask",
        {
            "cluster": cluster,
            "taskDefinition": arn,
            "count": 2,
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}],
            "networkConfiguration": SUBNETS,
            "enableExecuteCommand": True,
            "enableECSManagedTags": True,
            "propagateTags": "TASK_DEFINITION",
            "startedBy": "conformance",
            "group": "conf-group",
            "platformVersion": "LATEST",
            "overrides": {
                "containerOverrides": [{"name": "app", "environment": [{"name": "X", "value": "1"}]}],
                "cpu": "512",
                "memory": "1024",
            },
            "tags": [{"key": "run", "value": "1"}],
        },
    )
    assert out["failures"] == []
    arns = [t["taskArn"] for t in out["tasks"]]
    assert len(arns) == 2
    for t in out["tasks"]:
        assert t["capacityProviderName"] == "FARGATE"
        assert t["cpu"] == "512" and t["memory"] == "1024"
        assert t["startedBy"] == "conformance" and t["group"] == "conf-group"
        assert t["enableExecuteCommand"] is True
    running = wait_for(ecs, cluster, arns, "RUNNING")
    for t in running:
        app = next(c for c in t["containers"] if c["name"] == "app")
        assert [a["name"] for a in app.get("managedAgents", [])] == ["ExecuteCommandAgent"]
    listed = ecs.call("ListTasks", {"cluster": cluster, "startedBy": "conformance"})
    assert sorted(listed["taskArns"]) == sorted(arns)
    for a in arns:
        ecs.call("StopTask", {"cluster": cluster, "task": a, "reason": "conformance done"})
    stopped = wait_for(ecs, cluster, arns, "STOPPED")
    for t in stopped:
        assert t["stopCode"] == "UserInitiated"
        assert t["stoppedReason"] == "conformance done"
        assert t["desiredStatus"] == "STOPPED"


def test_tasks_that_end_on_their_own(ecs, cluster):
    """An essential container that exits non-zero, and an image that does
    not exist: the two other ways a task reaches STOPPED."""
    family = unique("exit")
    td = fargate_td(family)
    td["containerDefinitions"][0]["command"] = ["sh", "-c", "exit 3"]
    exit_arn = ecs.call("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]
    td = fargate_td(unique("nopull"))
    td["containerDefinitions"][0]["image"] = "fargate-local-test/does-not-exist:1"
    pull_arn = ecs.call("RegisterTaskDefinition", td)["taskDefinition"]["taskDefinitionArn"]
    exited = run_task(ecs, cluster, exit_arn)
    failed = run_task(ecs, cluster, pull_arn)
    [e, f] = wait_for(ecs, cluster, [exited["taskArn"], failed["taskArn"]], "STOPPED")
    assert e["stopCode"] == "EssentialContainerExited"
    assert e["stoppedReason"] == "Essential container in task exited"
    assert e["containers"][0]["exitCode"] == 3
    assert f["stopCode"] == "TaskFailedToStart"
    assert f["stoppedReason"].startswith("CannotPullContainerError")


def test_run_task_errors(ecs, cluster, task_definition):
    base = {"cluster": cluster, "taskDefinition": task_definition, "launchType": "FARGATE"}
    ecs.error(
        "RunTask",
        base,
        "InvalidParameterException",
        "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
    )
    ecs.error(
        "RunTask",
        dict(base, taskDefinition=unique("nope"), networkConfiguration=SUBNETS),
        "ClientException",
        "TaskDefinition not found.",
    )
    ecs.error(
        "RunTask",
        dict(base, networkConfiguration=SUBNETS, count=11),
        "InvalidParameterException",
    )
    ecs.error(
        "RunTask",
        dict(
            base,
            networkConfiguration=SUBNETS,
            capacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
        ),
        "InvalidParameterException",
    )
    # A definition that is not Fargate-compatible (bridge mode, EC2 only).
    family = unique("ec2")
    ec2 = ecs.call(
        "RegisterTaskDefinition",
        {"family": family, "containerDefinitions": [{"name": "a", "image": IMAGE, "memory": 64}]},
    )["taskDefinition"]
    assert ec2["compatibilities"] == ["EC2"]
    ecs.error(
        "RunTask",
        dict(base, taskDefinition=family, networkConfiguration=SUBNETS),
        "InvalidParameterException",
        "Task definition does not support launch_type FARGATE.",
    )
    # An INACTIVE definition cannot start tasks.
    family = unique("inactive")
    ecs.call("RegisterTaskDefinition", fargate_td(family))
    ecs.call("DeregisterTaskDefinition", {"taskDefinition": f"{family}:1"})
    ecs.error(
        "RunTask",
        dict(base, taskDefinition=f"{family}:1", networkConfiguration=SUBNETS),
        "ClientException",
    )
    ecs.error(
        "RunTask",
        dict(
            base,
            networkConfiguration=SUBNETS,
            overrides={"containerOverrides": [{"name": "ghost"}]},
        ),
        "InvalidParameterException",
    )


def test_run_task_on_capacity_the_cluster_lacks(ecs, cluster, task_definition):
    """EC2 capacity does not exist here: RunTask answers 200 with a failure
    naming the cluster, as ECS does for a cluster without instances."""
    out = ecs.call(
        "RunTask",
        {"cluster": cluster, "taskDefinition": task_definition, "launchType": "EC2"},
    )
    assert out["tasks"] == []
    [f] = out["failures"]
    assert f["arn"].endswith(f":cluster/{cluster}")
    assert f["reason"] == "No Container Instances were found in your cluster."


def test_stop_task(ecs, cluster, task_definition):
    t = run_task(ecs, cluster, task_definition)
    out = ecs.call("StopTask", {"cluster": cluster, "task": t["taskArn"]})
    s = out["task"]
    assert s["desiredStatus"] == "STOPPED"
    assert s["stopCode"] == "UserInitiated"
    assert s["stoppedReason"] == "Task stopped by user"
    [done] = wait_for(ecs, cluster, [t["taskArn"]], "STOPPED")
    assert isinstance(done["stoppedAt"], (int, float))
    # Stopping a stopped task answers with it again.
    again = ecs.call("StopTask", {"cluster": cluster, "task": t["taskArn"]})
    assert again["task"]["lastStatus"] == "STOPPED"
    ecs.error(
        "StopTask",
        {"cluster": cluster, "task": "0123456789abcdef0123456789abcdef"},
        "InvalidParameterException",
        "The referenced task was not found.",
    )
    ecs.error(
        "StopTask",
        {"cluster": unique("nope"), "task": t["taskArn"]},
        "ClusterNotFoundException",
        "Cluster not found.",
    )


def test_describe_tasks_missing(ecs, cluster, running_task):
    ghost = "0123456789abcdef0123456789abcdef"
    ghost_arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/fedcba9876543210fedcba9876543210"
    out = ecs.call("DescribeTasks", {"cluster": cluster, "tasks": [running_task["taskArn"], ghost, ghost_arn]})
    assert [t["taskArn"] for t in out["tasks"]] == [running_task["taskArn"]]
    assert out["failures"] == [
        {"arn": f"arn:aws:ecs:us-east-1:{ACCOUNT}:task/{cluster}/{ghost}", "reason": "MISSING"},
        {"arn": ghost_arn, "reason": "MISSING"},
    ]
    ecs.error("DescribeTasks", {"cluster": unique("nope"), "tasks": [ghost]}, "ClusterNotFoundException")
    ecs.error("DescribeTasks", {"cluster": cluster, "tasks": []}, "InvalidParameterException")


def test_list_tasks(ecs, cluster, running_task):
    family = running_task["taskDefinitionArn"].split("/")[-1].split(":")[0]
    out = ecs.call("ListTasks", {"cluster": cluster, "family": family})
    assert running_task["taskArn"] in out["taskArns"]
    stopped = ecs.call("ListTasks", {"cluster": cluster, "desiredStatus": "STOPPED"})
    assert running_task["taskArn"] not in stopped["taskArns"]
    page = ecs.call("ListTasks", {"cluster": cluster, "maxResults": 1})
    assert len(page["taskArns"]) == 1
    ecs.error(
        "ListTasks",
        {"cluster": cluster, "family": "bad family"},
        "InvalidParameterException",
        "family must match ^[a-zA-Z0-9\\-_]+$",
    )
    ecs.error("ListTasks", {"cluster": unique("nope")}, "ClusterNotFoundException", "Cluster not found.")
    ecs.error(
        "ListTasks",
        {"cluster": cluster, "serviceName": "no-such-service"},
        "ServiceNotFoundException",
        "Service not found.",
    )
