"""A suite as a user writes it: boto3 against the emulator the
``fargate_local`` fixture started from the image, reset between tests."""

import os
import subprocess
import time

import boto3
import pytest

CLUSTER = "tc-python"
IMAGE = "fargate-local-test/busybox:latest"


def client(emu, service):
    return boto3.client(
        service,
        endpoint_url=emu.endpoint_url,
        region_name=emu.region,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def register(ecs, family, script, logs_group=None):
    c = {
        "name": "app",
        "image": IMAGE,
        "command": ["sh", "-c", script],
        "stopTimeout": 2,
    }
    if logs_group:
        c["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": logs_group,
                "awslogs-region": ecs.meta.region_name,
                "awslogs-stream-prefix": "ecs",
                "awslogs-create-group": "true",
            },
        }
    return ecs.register_task_definition(
        family=family,
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn="arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        containerDefinitions=[c],
    )["taskDefinition"]["taskDefinitionArn"]


def run(ecs, td):
    out = ecs.run_task(
        cluster=CLUSTER,
        taskDefinition=td,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
    )
    assert out["failures"] == [], out["failures"]
    return out["tasks"][0]["taskArn"]


def wait_status(ecs, arn, status, within=60):
    deadline = time.monotonic() + within
    while True:
        t = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
        if t["lastStatus"] == status:
            return t
        assert time.monotonic() < deadline, f"{arn} is {t['lastStatus']}, not {status}"
        time.sleep(0.2)


def test_a_task_runs_and_its_output_reaches_the_logs(fargate_local_clean):
    emu = fargate_local_clean
    ecs = client(emu, "ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    td = register(ecs, "hello", "echo hello from python; exit 0", logs_group="/tc/python")
    arn = run(ecs, td)
    t = wait_status(ecs, arn, "STOPPED")
    assert t["containers"][0]["exitCode"] == 0, t
    task_id = arn.rsplit("/", 1)[1]
    events = client(emu, "logs").get_log_events(
        logGroupName="/tc/python", logStreamName=f"ecs/app/{task_id}", startFromHead=True
    )["events"]
    assert [e["message"] for e in events] == ["hello from python"]


def test_reset_removed_the_last_tests_state_and_a_task_stops(fargate_local_clean):
    emu = fargate_local_clean
    ecs = client(emu, "ecs")
    assert ecs.list_clusters()["clusterArns"] == [], "reset clears the clusters"
    ecs.create_cluster(clusterName=CLUSTER)
    td = register(ecs, "long", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done")
    arn = run(ecs, td)
    wait_status(ecs, arn, "RUNNING")
    label = f"label=fargate-local.instance={emu.instance_id}"
    running = subprocess.run(
        ["docker", "ps", "-q", "--filter", label], capture_output=True, text=True, check=True
    ).stdout.split()
    assert running, "the task's containers run on the host's engine"
    ecs.stop_task(cluster=CLUSTER, task=arn, reason="done")
    t = wait_status(ecs, arn, "STOPPED")
    assert t["stoppedReason"] == "done"


@pytest.fixture(scope="session", autouse=True)
def instance_file(fargate_local):
    """Tells run.sh which emulator instance to look for once the session
    (and so the emulator) has ended: nothing of it may be left."""
    path = os.environ.get("INSTANCE_FILE")
    if path:
        with open(path, "w") as f:
            f.write(fargate_local.instance_id)
