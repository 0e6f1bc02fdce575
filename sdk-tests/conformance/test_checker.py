"""The checker can fail: hand-made bad responses, and every problem in them
must be reported. No emulator is needed."""

import json
import re
import sys
from pathlib import Path

import botocore

from botocore.awsrequest import HeadersDict

from wire import CONTENT_TYPE, MODEL, MODELS, SERVICES, ConformanceError, check_input, check_response, walk

GOOD_HEADERS = {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": "0d3c6d2e-1111-2222-3333-444455556666"}
ERR_HEADERS = dict(GOOD_HEADERS, **{"X-Amzn-ErrorType": "ClientException"})


def reported(problems: list[str], *needles: str) -> None:
    for n in needles:
        assert any(n in p for p in problems), f"{n!r} not reported in {problems}"


def test_walker_reports_every_kind_of_problem():
    bad_task = {
        "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/0123",
        "createdAt": "2026-11-28T10:00:00Z",  # timestamp as a string
        "startedAt": 1764324000000,  # milliseconds
        "foo": 1,  # not in the model
        "launchType": "LAMBDA",  # not in the enum
        "cpu": 256,  # Task.cpu is a string
        "version": "1",  # a long
        "enableExecuteCommand": "false",  # a boolean
        "group": None,  # null
        "containers": [{"name": "app", "exitCode": "0", "networkBindings": {}}],
        "attributes": [{"value": "x86_64"}],  # Attribute.name is required
        "tags": [{"key": "a", "value": 1}],
    }
    problems = walk({"tasks": [bad_task], "failures": {}}, MODEL.operation_model("DescribeTasks").output_shape)
    reported(
        problems,
        "$.tasks[0].createdAt: timestamp must be epoch seconds number",
        "$.tasks[0].startedAt: timestamp 1764324000000 is not plausible epoch seconds",
        "$.tasks[0].foo: member not in model",
        "$.tasks[0].launchType: 'LAMBDA' not in enum",
        "$.tasks[0].cpu: expected string",
        "$.tasks[0].version: expected long",
        "$.tasks[0].enableExecuteCommand: expected boolean",
        "$.tasks[0].group: null value",
        "$.tasks[0].containers[0].exitCode: expected integer",
        "$.tasks[0].containers[0].networkBindings: expected array",
        "$.tasks[0].attributes[0].name: required member missing",
        "$.tasks[0].tags[0].value: expected string",
        "$.failures: expected array",
    )
    assert len(problems) == 13, problems


def test_walker_accepts_a_good_task():
    good = {
        "tasks": [
            {
                "taskArn": "arn:aws:ecs:us-east-1:000000000000:task/c/0123",
                "createdAt": 1.619719924711e9,
                "cpu": "256",
                "version": 3,
                "containers": [{"name": "app", "exitCode": 0, "cpu": "0", "networkBindings": []}],
                "attributes": [{"name": "ecs.cpu-architecture", "value": "x86_64"}],
                "overrides": {"containerOverrides": [{"name": "app"}]},
            }
        ],
        "failures": [{"arn": "arn:aws:ecs:us-east-1:000000000000:task/c/x", "reason": "MISSING"}],
    }
    assert walk(good, MODEL.operation_model("DescribeTasks").output_shape) == []


def test_integer_ranges_and_maps():
    shape = MODEL.operation_model("DescribeTaskDefinition").output_shape
    body = {
        "taskDefinition": {
            "revision": 2**31,
            "containerDefinitions": [{"name": "a", "dockerLabels": {"k": 1}, "cpu": True}],
        }
    }
    reported(
        walk(body, shape),
        "$.taskDefinition.revision: 2147483648 does not fit a integer",
        "$.taskDefinition.containerDefinitions[0].dockerLabels['k']: expected string",
        "$.taskDefinition.containerDefinitions[0].cpu: expected integer, got boolean",
    )


def _resp(status, body, headers=GOOD_HEADERS, op="DescribeClusters", **kw):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return check_response(op, status, HeadersDict(headers), raw, **kw)


def test_headers_and_body_shape_are_checked():
    r = _resp(200, b"<html>oops</html>", headers={"Content-Type": "text/html"})
    reported(r.problems, "Content-Type is 'text/html'", "no x-amzn-RequestId header", "body is not JSON")
    r = _resp(200, [1, 2])
    reported(r.problems, "body is a JSON array, not an object")
    r = _resp(200, {"clusters": [], "failures": [], "__type": "X"})
    reported(r.problems, "a 200 answer carries __type", "$.__type: member not in model")


def test_error_checks_fail_on_bad_errors():
    # No __type at all.
    reported(_resp(400, {"message": "x"}).problems, "error body has no __type")
    # No X-Amzn-ErrorType header.
    reported(
        _resp(400, {"__type": "ClientException", "message": "x"}, headers=GOOD_HEADERS).problems,
        "no X-Amzn-ErrorType header",
    )
    # Capital Message only, a code that is not modeled for the operation,
    # a disagreeing header, an unsanitised type and a stray 'code'.
    r = _resp(
        400,
        {"__type": "aws.ecs#ClusterNotFoundException:http://x", "Message": "Cluster not found.", "code": "Nope"},
        headers={**GOOD_HEADERS, "X-Amzn-ErrorType": "ServerException"},
    )
    reported(
        r.problems,
        "is not the bare shape name",
        "error body has no lowercase message",
        "error body carries 'code'",
        "X-Amzn-ErrorType 'ServerException' disagrees",
        "ClusterNotFoundException is not a modeled error of DescribeClusters",
        "$ClusterNotFoundException.Message: member not in model",
    )
    # A client exception sent as 500, and ServerException sent as 400.
    reported(
        _resp(500, {"__type": "ClientException", "message": "x"}, headers=ERR_HEADERS).problems,
        "ClientException came with HTTP 500, the model says 400",
    )
    reported(
        _resp(
            400,
            {"__type": "ServerException", "message": "x"},
            headers=dict(GOOD_HEADERS, **{"X-Amzn-ErrorType": "ServerException"}),
        ).problems,
        "ServerException came with HTTP 400, the model says 500",
    )
    # Protocol codes are refused unless a test allows them, and then carry
    # nothing but __type and message.
    reported(
        _resp(400, {"__type": "SerializationException", "message": "x"}).problems,
        "SerializationException is not a modeled error",
    )
    reported(
        _resp(
            400,
            {"__type": "SerializationException", "message": "x", "detail": 1},
            allowed_generic=frozenset({"SerializationException"}),
        ).problems,
        "carries members other than __type and message: ['detail']",
    )
    assert _resp(
        400,
        {"__type": "SerializationException", "message": "x"},
        headers=dict(GOOD_HEADERS, **{"X-Amzn-ErrorType": "SerializationException"}),
        allowed_generic=frozenset({"SerializationException"}),
    ).problems == []
    # A well-formed modeled error passes.
    assert _resp(400, {"__type": "ClientException", "message": "Bad."}, headers=ERR_HEADERS).problems == []


def test_botocore_parser_failures_are_reported():
    r = _resp(200, b'{"clusters": [{"clusterName": "a"}], "failures": []', op="DescribeClusters")
    reported(r.problems, "body is not JSON")
    # A timestamp botocore cannot read at all.
    r = _resp(200, {"taskDefinition": {"registeredAt": "yesterday"}}, op="DescribeTaskDefinition")
    reported(r.problems, "timestamp must be epoch seconds number", "botocore's parser failed")


def test_scenario_inputs_are_checked():
    check_input("DescribeClusters", {"clusters": ["a"], "include": ["TAGS"]})
    for bad in ({"clusters": "a"}, {"nope": 1}, {"include": [1]}):
        try:
            check_input("DescribeClusters", bad)
        except ConformanceError:
            continue
        raise AssertionError(f"{bad} passed input validation")


def test_the_model_is_the_pinned_botocore():
    """The walk is only as good as its model: the pinned botocore, never the
    older copy awscli vendors (importing awscli swaps it in)."""
    assert "awscli" not in sys.modules
    reqs = (Path(__file__).resolve().parents[2] / "requirements-test.txt").read_text()
    pinned = re.search(r"^botocore==(\S+)$", reqs, re.M).group(1)
    assert botocore.__version__ == pinned
    assert MODEL.metadata["targetPrefix"] == "AmazonEC2ContainerServiceV20141113"
    assert len(MODEL.operation_names) == 88
    for name, (prefix, signing) in SERVICES.items():
        assert MODELS[name].metadata["targetPrefix"] == prefix
        assert MODELS[name].metadata.get("signingName", MODELS[name].metadata["endpointPrefix"]) == signing
    assert len(MODELS["logs"].operation_names) == 118


def test_logs_responses_are_checked_against_the_logs_model():
    """The same checks with `service="logs"`: the CloudWatch Logs model's
    shapes, its error list per operation, and `message` accepted on errors
    whose shape leaves it out (most Logs exceptions) but nothing else."""
    ok = {"events": [], "searchedLogStreams": [], "nextToken": "t"}
    assert _resp(200, ok, op="FilterLogEvents", service="logs").problems == []
    bad = {"events": [{"eventId": 5, "timestamp": "now"}], "searchedLogStreams": None, "extra": 1}
    reported(
        _resp(200, bad, op="FilterLogEvents", service="logs").problems,
        "$.events[0].eventId: expected string",
        "$.events[0].timestamp: expected long",
        "$.searchedLogStreams: null value",
        "$.extra: member not in model (FilterLogEventsResponse)",
    )
    headers = dict(GOOD_HEADERS, **{"X-Amzn-ErrorType": "ResourceNotFoundException"})
    err = {"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."}
    assert _resp(400, err, headers=headers, op="FilterLogEvents", service="logs").problems == []
    reported(
        _resp(400, dict(err, resourceName="g"), headers=headers, op="FilterLogEvents", service="logs").problems,
        "$ResourceNotFoundException.resourceName: member not in model",
    )
    headers = dict(GOOD_HEADERS, **{"X-Amzn-ErrorType": "ClusterNotFoundException"})
    reported(
        _resp(400, {"__type": "ClusterNotFoundException", "message": "x"}, headers=headers, op="GetLogEvents", service="logs").problems,
        "ClusterNotFoundException is not a modeled error of GetLogEvents",
    )
