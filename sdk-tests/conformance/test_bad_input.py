"""Bad input over raw HTTP: whatever arrives, the answer is an AWS-shaped
JSON error (the generic protocol codes are allowed here, and only here), and
the emulator keeps serving. Ends with 50 concurrent RunTask calls and a
check that the state they leave is consistent."""

import concurrent.futures
import json
import subprocess
import time

import pytest

from scenario import IMPLEMENTED, SUBNETS, unique, wait_for
from wire import MODEL, PROTOCOL_ERRORS, TARGET_PREFIX, ConformanceError

SER = "SerializationException"
UNKNOWN_OP = "UnknownOperationException"


def expect(r, code, status=400):
    assert r.problems == [], f"{r.describe()}\n  " + "\n  ".join(r.problems)
    assert r.status == status, r.describe()
    assert r.code == code, r.describe()
    return r


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"clusters": ["a"]', b"\xff\xfe{}", b"[1, 2]", b"42", b'"text"', b"null", b"[" * 10000],
    ids=["malformed", "truncated", "not-utf8", "array", "number", "string", "null", "deep-nesting"],
)
def test_bodies_that_are_not_a_json_object(ecs, body):
    expect(ecs.raw(body, op="DescribeClusters"), SER)


@pytest.mark.parametrize(
    "op,params",
    [
        ("DescribeClusters", {"clusters": "one"}),
        ("DescribeClusters", {"clusters": [1, 2]}),
        ("ListClusters", {"maxResults": "10"}),
        ("RunTask", {"taskDefinition": "td", "count": 1.5}),
        ("RunTask", {"taskDefinition": "td", "enableExecuteCommand": "yes"}),
        ("RunTask", {"taskDefinition": "td", "networkConfiguration": []}),
        ("RegisterTaskDefinition", {"family": "f", "containerDefinitions": {"name": "a"}}),
        ("TagResource", {"resourceArn": "arn", "tags": [{"key": 1}]}),
        ("ListTasks", {"maxResults": 2**40}),
    ],
    ids=[
        "string-for-list",
        "ints-in-string-list",
        "string-for-int",
        "float-for-int",
        "string-for-bool",
        "list-for-struct",
        "struct-for-list",
        "int-for-string",
        "int-overflow",
    ],
)
def test_wrong_member_types(ecs, op, params):
    # The request is what a hand-written client might send, not an SDK, so
    # it is not validated against the input shape; the answer still is.
    expect(ecs.raw(json.dumps(params).encode(), op=op), SER)


WITH_REQUIRED = sorted(op for op in IMPLEMENTED if MODEL.operation_model(op).input_shape.required_members)


@pytest.mark.parametrize("op", WITH_REQUIRED)
def test_missing_required_members(ecs, op):
    """`{}` where the model requires members: the service's own validation
    answers, with one of the operation's modeled errors (not a protocol
    error, not a 500)."""
    r = ecs.raw(b"{}", op=op, allowed_generic=frozenset())
    assert r.problems == [], f"{r.describe()}\n  " + "\n  ".join(r.problems)
    assert r.status == 400 and r.code not in PROTOCOL_ERRORS, r.describe()


def test_an_empty_body_is_an_empty_object(ecs):
    r = ecs.raw(b"", op="ListClusters")
    assert r.ok and r.problems == [], r.describe()


@pytest.mark.parametrize("ctype", ["application/x-amz-json-1.0", "application/json"])
def test_other_json_content_types_are_accepted(ecs, ctype):
    r = ecs.raw(b"{}", op="ListClusters", extra_headers={"Content-Type": ctype})
    assert r.ok and r.problems == [], r.describe()


def test_unknown_operation(ecs):
    r = expect(ecs.raw(b"{}", target=f"{TARGET_PREFIX}.FlyToTheMoon"), UNKNOWN_OP)
    assert "FlyToTheMoon" in r.message


def test_unknown_target_prefix(ecs):
    expect(ecs.raw(b"{}", target="AmazonFooServiceV20991231.DescribeClusters"), UNKNOWN_OP)


def test_missing_target(ecs):
    expect(ecs.raw(b"{}", target=None), UNKNOWN_OP)


def test_target_without_operation(ecs):
    expect(ecs.raw(b"{}", target=TARGET_PREFIX), UNKNOWN_OP)


def test_get_instead_of_post(ecs):
    expect(ecs.raw(b"", op="ListClusters", method="GET"), UNKNOWN_OP)


def test_post_to_another_path(ecs):
    expect(ecs.raw(b"{}", op="ListClusters", path="/v1/clusters"), UNKNOWN_OP)


@pytest.mark.parametrize("mib", [6, 24])
def test_a_body_over_the_limit(ecs, emulator, mib):
    """4 MiB is the limit; a larger body must get a JSON answer, not a reset
    connection (which is what a client still writing sees if the server
    answers without reading the rest)."""
    pad = "x" * (mib * 1024 * 1024)
    body = json.dumps({"clusters": [pad]}).encode()
    r = ecs.raw(body, op="DescribeClusters")
    expect(r, SER)
    assert "4194304" in r.message, r.message
    # And it is still serving.
    assert emulator.health()["status"] == "ok"
    ecs.call("ListClusters", {})


@pytest.mark.parametrize("target", [None, "AmazonFooServiceV20991231.DescribeClusters"], ids=["no-target", "foreign"])
def test_a_large_body_to_nowhere(ecs, target):
    """Refusing the target must not reset a client still sending its body."""
    body = json.dumps({"clusters": ["x" * (12 * 1024 * 1024)]}).encode()
    expect(ecs.raw(body, target=target), UNKNOWN_OP)


def test_a_body_just_under_the_limit_is_read(ecs):
    """A large but legal body is decoded: the answer is a modeled error about
    the content, not a protocol error."""
    pad = "x" * (3 * 1024 * 1024)
    r = ecs.raw(json.dumps({"clusters": [pad]}).encode(), op="DescribeClusters")
    assert r.problems == [], r.describe()
    assert r.ok or r.code in {s.name for s in MODEL.operation_model("DescribeClusters").error_shapes}


def test_fifty_concurrent_run_tasks(ecs, emulator, task_definition):
    cluster = unique("swarm")
    ecs.call("CreateCluster", {"clusterName": cluster})
    params = {
        "cluster": cluster,
        "taskDefinition": task_definition,
        "launchType": "FARGATE",
        "networkConfiguration": SUBNETS,
        "startedBy": "swarm",
    }

    def one(_):
        return ecs.request("RunTask", params)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(one, range(50)))
    problems = [f"{r.describe()}: {r.problems}" for r in answers if r.problems]
    assert problems == [], "\n".join(problems)
    started = [t["taskArn"] for r in answers if r.ok for t in r.body["tasks"]]
    errors = [r for r in answers if not r.ok]
    # Fargate takes 20 RunTask calls at once (then 20 a second): the rest
    # are throttled, as AWS throttles them, and nothing else goes wrong.
    assert len(started) >= 20, [e.describe() for e in errors]
    assert {(e.status, e.code, e.message) for e in errors} <= {(400, "ThrottlingException", "Rate exceeded")}
    # Retried with a back-off, as the SDKs retry, every one of them runs.
    for _ in errors:
        for attempt in range(50):
            r = one(None)
            if r.ok:
                started += [t["taskArn"] for t in r.body["tasks"]]
                break
            assert r.code == "ThrottlingException", r.describe()
            time.sleep(0.05 * (attempt + 1))
    assert len(started) == len(set(started)) == 50

    # Still serving, and the state agrees with the answers.
    assert emulator.health()["status"] == "ok"
    counts = ecs.call("DescribeClusters", {"clusters": [cluster]})["clusters"][0]
    assert counts["runningTasksCount"] + counts["pendingTasksCount"] == 50
    listed, token = [], None
    while True:
        page = ecs.call("ListTasks", dict({"cluster": cluster}, **({"nextToken": token} if token else {})))
        listed += page["taskArns"]
        token = page.get("nextToken")
        if not token:
            break
    assert sorted(listed) == sorted(started)

    for arn in started:
        ecs.call("StopTask", {"cluster": cluster, "task": arn})
    wait_for(ecs, cluster, started, "STOPPED", timeout=120)
    assert ecs.call("ListTasks", {"cluster": cluster})["taskArns"] == []
    stopped = ecs.call("ListTasks", {"cluster": cluster, "desiredStatus": "STOPPED"})["taskArns"]
    assert sorted(stopped) == sorted(started)
    left = subprocess.run(
        [
            "docker", "ps", "-a",
            "--filter", f"label=fargate-local.instance={emulator.instance}",
            "--format", '{{.Label "fargate-local.task-arn"}}',
        ],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert set(left) & set(started) == set(), "containers of stopped tasks remain"
    counts = ecs.call("DescribeClusters", {"clusters": [cluster]})["clusters"][0]
    assert counts["runningTasksCount"] == counts["pendingTasksCount"] == 0


def test_the_bad_input_tests_really_send_bad_input(ecs):
    """Guards the guard: SDK validation would have refused these inputs, so
    the tests above do exercise the server's own decoding."""
    for op, params in [("DescribeClusters", {"clusters": "one"}), ("ListClusters", {"maxResults": "10"})]:
        with pytest.raises(ConformanceError):
            ecs.request(op, params)
