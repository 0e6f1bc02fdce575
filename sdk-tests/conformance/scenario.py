"""Scenario helpers shared by the conformance tests: names, a small Fargate
task definition for the busybox test image, RunTask and waiting on task
status through DescribeTasks (whose every answer is validated)."""

from __future__ import annotations

import subprocess
import time
import uuid

from wire import Client

IMAGE = "fargate-local-test/busybox:latest"
#: A container that exits at once on SIGTERM: the shell traps it while
#: waiting on a background sleep, so StopTask finishes in well under a second.
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"]
#: The ECS operations the emulator implements; every other model operation
#: must answer one of its modeled errors.
IMPLEMENTED = {
    "CreateCluster", "DescribeClusters", "ListClusters", "DeleteCluster", "UpdateCluster",
    "UpdateClusterSettings", "PutClusterCapacityProviders", "DescribeCapacityProviders",
    "RegisterTaskDefinition", "DescribeTaskDefinition", "ListTaskDefinitions",
    "ListTaskDefinitionFamilies", "DeregisterTaskDefinition", "DeleteTaskDefinitions", "RunTask",
    "StopTask", "DescribeTasks", "ListTasks", "TagResource", "UntagResource",
    "ListTagsForResource", "ListAccountSettings", "PutAccountSetting", "PutAccountSettingDefault",
    "DeleteAccountSetting", "ListContainerInstances", "DescribeContainerInstances",
    "CreateService", "DescribeServices", "ListServices", "UpdateService", "DeleteService",
    "ListServicesByNamespace", "DescribeServiceDeployments", "ListServiceDeployments",
    "DescribeServiceRevisions", "ExecuteCommand",
}  # fmt: skip
SUBNETS = {"awsvpcConfiguration": {"subnets": ["subnet-0conformance"], "assignPublicIp": "DISABLED"}}


def docker_objects(label: str) -> dict[str, list[str]]:
    """The containers, networks and volumes carrying `label`."""
    lists = {
        "containers": ["docker", "ps", "-aq"],
        "networks": ["docker", "network", "ls", "-q"],
        "volumes": ["docker", "volume", "ls", "-q"],
    }
    out = {}
    for kind, cmd in lists.items():
        res = subprocess.run(cmd + ["--filter", f"label={label}"], check=True, capture_output=True, text=True)
        out[kind] = res.stdout.split()
    return out


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def fargate_td(family: str, **extra) -> dict:
    """A small Fargate task definition that runs the busybox test image."""
    td = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {
                "name": "app",
                "image": IMAGE,
                "command": SLEEPER,
                "essential": True,
                "stopTimeout": 2,
            }
        ],
    }
    td.update(extra)
    return td


def run_task(ecs: Client, cluster: str, td: str, **extra) -> dict:
    params = {
        "cluster": cluster,
        "taskDefinition": td,
        "launchType": "FARGATE",
        "networkConfiguration": SUBNETS,
    }
    params.update(extra)
    out = ecs.call("RunTask", params)
    assert out["failures"] == [], out["failures"]
    assert len(out["tasks"]) == params.get("count", 1)
    return out["tasks"][0]


def wait_for(ecs: Client, cluster: str, arns: list[str], status: str, timeout: float = 60) -> list[dict]:
    """Polls DescribeTasks until every task has `lastStatus == status`; every
    poll's response is validated, so the intermediate states are too."""
    deadline = time.monotonic() + timeout
    while True:
        tasks: list[dict] = []
        for i in range(0, len(arns), 100):
            out = ecs.call("DescribeTasks", {"cluster": cluster, "tasks": arns[i : i + 100]})
            assert out["failures"] == [], out["failures"]
            tasks.extend(out["tasks"])
        got = {t["lastStatus"] for t in tasks}
        if got == {status}:
            return tasks
        if status == "RUNNING" and "STOPPED" in got:
            stopped = [t for t in tasks if t["lastStatus"] == "STOPPED"]
            raise AssertionError(f"a task stopped before RUNNING: {stopped[0].get('stoppedReason')} {stopped[0]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"tasks did not all reach {status} in {timeout} s: {sorted(got)}")
        time.sleep(0.2)


