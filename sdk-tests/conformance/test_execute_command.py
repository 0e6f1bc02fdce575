"""ExecuteCommand: the session of an exec-enabled task (its streamUrl on the
emulator's own port), and AWS's validation errors. The data channel itself
is exercised by sdk-tests/tests/sdk/exec.rs and examples/exec-shell."""

from scenario import run_task, unique, wait_for

NOT_ENABLED = (
    "The execute command failed because execute command was not enabled when the task was run "
    "or the execute command agent isn\u2019t running. Wait and try again or run a new task with "
    "execute command enabled and try again."
)


def test_execute_command_opens_a_session(ecs, emulator, cluster, task_definition):
    t = run_task(ecs, cluster, task_definition, enableExecuteCommand=True)
    [t] = wait_for(ecs, cluster, [t["taskArn"]], "RUNNING")
    [agent] = t["containers"][0]["managedAgents"]
    assert agent["name"] == "ExecuteCommandAgent" and agent["lastStatus"] == "RUNNING"
    task_id = t["taskArn"].rsplit("/", 1)[1]
    out = ecs.call(
        "ExecuteCommand",
        {"cluster": cluster, "task": task_id, "container": "app", "command": "/bin/sh", "interactive": True},
    )
    assert out["taskArn"] == t["taskArn"] and out["clusterArn"] == t["clusterArn"]
    assert out["containerName"] == "app" and out["interactive"] is True
    assert out["containerArn"] == t["containers"][0]["containerArn"]
    s = out["session"]
    assert s["sessionId"].startswith("ecs-execute-command-")
    host = emulator.endpoint.removeprefix("http://").rstrip("/")
    assert s["streamUrl"] == f"ws://{host}/v1/data-channel/{s['sessionId']}?role=publish_subscribe"
    assert len(s["tokenValue"]) >= 32
    # Without a container name, the task's only container.
    again = ecs.call("ExecuteCommand", {"cluster": cluster, "task": t["taskArn"], "command": "sh", "interactive": True})
    assert again["containerName"] == "app" and again["session"]["sessionId"] != s["sessionId"]
    ecs.call("StopTask", {"cluster": cluster, "task": t["taskArn"]})
    ecs.error(
        "ExecuteCommand",
        {"cluster": cluster, "task": task_id, "command": "sh", "interactive": True},
        "InvalidParameterException",
        NOT_ENABLED,
    )


def test_execute_command_errors(ecs, cluster, running_task):
    task = running_task["taskArn"]
    base = {"cluster": cluster, "task": task, "command": "/bin/sh", "interactive": True}
    # The task was run without enableExecuteCommand: exec is off, as on AWS.
    assert running_task["enableExecuteCommand"] is False
    assert "managedAgents" not in running_task["containers"][0]
    ecs.error("ExecuteCommand", base, "InvalidParameterException", NOT_ENABLED)
    ecs.error(
        "ExecuteCommand",
        dict(base, interactive=False),
        "InvalidParameterException",
        "Interactive is the only mode supported currently.",
    )
    ecs.error(
        "ExecuteCommand",
        dict(base, task=unique("0123456789abcdef")),
        "InvalidParameterException",
        "The referenced task was not found.",
    )
    ecs.error("ExecuteCommand", dict(base, container="nope"), "InvalidParameterException")
    ecs.error(
        "ExecuteCommand", dict(base, cluster=unique("nowhere")), "ClusterNotFoundException", "Cluster not found."
    )
