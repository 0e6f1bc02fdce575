"""CloudWatch Logs (awsJson1.1, `Logs_20140328`, same port as ECS): every
implemented operation on its happy path and its modeled errors, with
CloudWatch Logs' own messages, pagination tokens followed to the end, and
every other model operation answering one of its modeled errors.

Each response is walked against botocore's `logs` model as it arrives (see
wire.py); test_zz_session.py re-checks all of them at the end."""

from __future__ import annotations

import json
import time

import pytest

from scenario import unique
from wire import MODELS, PROTOCOL_ERRORS

ACCOUNT = "000000000000"
REGION = "us-east-1"
GROUP_MISSING = "The specified log group does not exist."
STREAM_MISSING = "The specified log stream does not exist."
INVALID = "InvalidParameterException"
NOT_FOUND = "ResourceNotFoundException"

#: The CloudWatch Logs operations the emulator implements; every other
#: operation of the model must answer one of its modeled errors.
LOGS_IMPLEMENTED = {
    "CreateLogGroup", "DeleteLogGroup", "DescribeLogGroups", "PutRetentionPolicy",
    "DeleteRetentionPolicy", "CreateLogStream", "DeleteLogStream", "DescribeLogStreams",
    "PutLogEvents", "GetLogEvents", "FilterLogEvents", "TagResource", "UntagResource",
    "ListTagsForResource", "TagLogGroup", "UntagLogGroup", "ListTagsLogGroup",
}  # fmt: skip
MODEL = MODELS["logs"]


def now_ms() -> int:
    return int(time.time() * 1000)


def group_arn(name: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


@pytest.fixture(scope="module")
def group(logs) -> str:
    """A group with two streams and a known set of events:
    `app` holds 6 events (3 ERROR), `worker` holds 2 (1 ERROR); timestamps
    are a minute apart, all in the last hour."""
    name = unique("/conf/logs")
    logs.call("CreateLogGroup", {"logGroupName": name})
    for stream in ("app", "worker"):
        logs.call("CreateLogStream", {"logGroupName": name, "logStreamName": stream})
    base = now_ms() - 30 * 60_000
    app = [
        "INFO start",
        "ERROR db timeout",
        '{"level":"error","latency":250}',
        "ERROR disk full",
        "WARN slow",
        "ERROR again",
    ]
    events = [{"timestamp": base + i * 60_000, "message": m} for i, m in enumerate(app)]
    logs.call("PutLogEvents", {"logGroupName": name, "logStreamName": "app", "logEvents": events})
    worker = [{"timestamp": base + 30_000, "message": "ERROR job"}, {"timestamp": base + 90_000, "message": "ok"}]
    logs.call("PutLogEvents", {"logGroupName": name, "logStreamName": "worker", "logEvents": worker})
    return name


# ------------------------------------------------------------------ groups


def test_create_and_describe_a_log_group(logs):
    name = unique("/conf/create")
    logs.call(
        "CreateLogGroup",
        {"logGroupName": name, "tags": {"team": "conf"}, "logGroupClass": "INFREQUENT_ACCESS"},
    )
    out = logs.call("DescribeLogGroups", {"logGroupNamePrefix": name})
    assert "nextToken" not in out
    [g] = out["logGroups"]
    assert g["logGroupName"] == name
    assert g["arn"] == group_arn(name) + ":*"
    assert g["logGroupArn"] == group_arn(name)
    assert g["logGroupClass"] == "INFREQUENT_ACCESS"
    assert abs(g["creationTime"] - now_ms()) < 60_000
    assert g["storedBytes"] == 0 and g["metricFilterCount"] == 0
    assert "retentionInDays" not in g
    logs.error("CreateLogGroup", {"logGroupName": name}, "ResourceAlreadyExistsException", "The specified log group already exists")


@pytest.mark.parametrize(
    "params,message",
    [
        (
            {"logGroupName": "has space"},
            "1 validation error detected: Value 'has space' at 'logGroupName' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ),
        ({"logGroupName": "x" * 513}, None),
    ],
    ids=["bad-character", "too-long"],
)
def test_create_log_group_bad_names(logs, params, message):
    # The model's own pattern/length would stop an SDK: send it raw.
    logs.error("CreateLogGroup", params, INVALID, message, validate_input=False)


def test_describe_log_groups_pages_to_the_end(logs):
    prefix = unique("/conf/page")
    names = [f"{prefix}/{i}" for i in range(5)]
    for n in names:
        logs.call("CreateLogGroup", {"logGroupName": n})
    seen, token, pages = [], None, 0
    while True:
        params = {"logGroupNamePrefix": prefix, "limit": 2}
        if token:
            params["nextToken"] = token
        out = logs.call("DescribeLogGroups", params)
        pages += 1
        assert len(out["logGroups"]) <= 2
        seen += [g["logGroupName"] for g in out["logGroups"]]
        token = out.get("nextToken")
        if not token:
            break
    assert seen == sorted(names) and pages == 3
    # A pattern is a case-insensitive substring.
    out = logs.call("DescribeLogGroups", {"logGroupNamePattern": prefix.upper().rsplit("/", 1)[-1]})
    assert [g["logGroupName"] for g in out["logGroups"]] == sorted(names)


def test_describe_log_groups_errors(logs):
    logs.error("DescribeLogGroups", {"nextToken": "not-a-token"}, INVALID, "The specified nextToken is invalid.")
    logs.error(
        "DescribeLogGroups",
        {"limit": 51},
        INVALID,
        "1 validation error detected: Value '51' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 50",
        validate_input=False,
    )
    logs.error("DescribeLogGroups", {"limit": 0}, INVALID, validate_input=False)
    logs.error("DescribeLogGroups", {"logGroupNamePrefix": "/a", "logGroupNamePattern": "a"}, INVALID)


def test_retention_policy(logs):
    name = unique("/conf/retention")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.call("PutRetentionPolicy", {"logGroupName": name, "retentionInDays": 7})
    [g] = logs.call("DescribeLogGroups", {"logGroupNamePrefix": name})["logGroups"]
    assert g["retentionInDays"] == 7
    logs.call("DeleteRetentionPolicy", {"logGroupName": name})
    [g] = logs.call("DescribeLogGroups", {"logGroupNamePrefix": name})["logGroups"]
    assert "retentionInDays" not in g
    r = logs.error("PutRetentionPolicy", {"logGroupName": name, "retentionInDays": 8}, INVALID)
    assert r.message.startswith(
        "1 validation error detected: Value '8' at 'retentionInDays' failed to satisfy constraint: "
        "Member must satisfy enum value set: [1, 3, 5, 7, 14, 30,"
    ), r.message
    missing = unique("/conf/nope")
    logs.error("PutRetentionPolicy", {"logGroupName": missing, "retentionInDays": 1}, NOT_FOUND, GROUP_MISSING)
    logs.error("DeleteRetentionPolicy", {"logGroupName": missing}, NOT_FOUND, GROUP_MISSING)


def test_delete_log_group(logs):
    name = unique("/conf/delete")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.call("DeleteLogGroup", {"logGroupName": name})
    assert logs.call("DescribeLogGroups", {"logGroupNamePrefix": name})["logGroups"] == []
    logs.error("DeleteLogGroup", {"logGroupName": name}, NOT_FOUND, GROUP_MISSING)


# ------------------------------------------------------------------ streams


def test_log_streams(logs):
    name = unique("/conf/streams")
    logs.call("CreateLogGroup", {"logGroupName": name})
    for s in ("b", "a", "c"):
        logs.call("CreateLogStream", {"logGroupName": name, "logStreamName": s})
    logs.error(
        "CreateLogStream",
        {"logGroupName": name, "logStreamName": "a"},
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
    )
    out = logs.call("DescribeLogStreams", {"logGroupName": name, "limit": 2})
    assert [s["logStreamName"] for s in out["logStreams"]] == ["a", "b"]
    s = out["logStreams"][0]
    assert s["arn"] == f"{group_arn(name)}:log-stream:a"
    assert "firstEventTimestamp" not in s and "lastEventTimestamp" not in s
    rest = logs.call("DescribeLogStreams", {"logGroupName": name, "limit": 2, "nextToken": out["nextToken"]})
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["c"] and "nextToken" not in rest
    desc = logs.call("DescribeLogStreams", {"logGroupIdentifier": group_arn(name), "descending": True})
    assert [s["logStreamName"] for s in desc["logStreams"]] == ["c", "b", "a"]
    logs.call("DeleteLogStream", {"logGroupName": name, "logStreamName": "b"})
    logs.error("DeleteLogStream", {"logGroupName": name, "logStreamName": "b"}, NOT_FOUND, STREAM_MISSING)
    out = logs.call("DescribeLogStreams", {"logGroupName": name, "logStreamNamePrefix": "a"})
    assert [s["logStreamName"] for s in out["logStreams"]] == ["a"]


def test_log_stream_errors(logs):
    missing = unique("/conf/nope")
    logs.error("CreateLogStream", {"logGroupName": missing, "logStreamName": "s"}, NOT_FOUND, GROUP_MISSING)
    logs.error("DescribeLogStreams", {"logGroupName": missing}, NOT_FOUND, GROUP_MISSING)
    logs.error("DeleteLogStream", {"logGroupName": missing, "logStreamName": "s"}, NOT_FOUND, GROUP_MISSING)
    name = unique("/conf/streamerr")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.error(
        "CreateLogStream",
        {"logGroupName": name, "logStreamName": "a:b"},
        INVALID,
        "1 validation error detected: Value 'a:b' at 'logStreamName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [^:*]*",
        validate_input=False,
    )
    logs.error(
        "DescribeLogStreams",
        {"logGroupName": name, "orderBy": "LastEventTime", "logStreamNamePrefix": "a"},
        INVALID,
        "Cannot order by LastEventTime with a logStreamNamePrefix.",
    )
    logs.error("DescribeLogStreams", {"logGroupName": name, "nextToken": "garbage"}, INVALID)
    logs.error(
        "DescribeLogStreams",
        {"logGroupName": name, "logGroupIdentifier": name},
        INVALID,
        "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
    )


# ------------------------------------------------------------------ events


def test_put_log_events_and_rejections(logs):
    name = unique("/conf/put")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.call("CreateLogStream", {"logGroupName": name, "logStreamName": "s"})
    now = now_ms()
    out = logs.call(
        "PutLogEvents",
        {"logGroupName": name, "logStreamName": "s", "logEvents": [{"timestamp": now, "message": "hello"}]},
    )
    assert "rejectedLogEventsInfo" not in out
    # Older than 14 days, or more than 2 hours ahead: kept out and reported.
    too_old = [{"timestamp": now - 15 * 86_400_000, "message": "old"}]
    out = logs.call("PutLogEvents", {"logGroupName": name, "logStreamName": "s", "logEvents": too_old})
    assert out["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}
    too_new = [{"timestamp": now, "message": "now"}, {"timestamp": now + 3 * 3_600_000, "message": "new"}]
    out = logs.call("PutLogEvents", {"logGroupName": name, "logStreamName": "s", "logEvents": too_new})
    assert out["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    [s] = logs.call("DescribeLogStreams", {"logGroupName": name})["logStreams"]
    assert s["firstEventTimestamp"] == now and s["lastEventTimestamp"] == now
    assert s["lastIngestionTime"] >= now - 5000


def test_put_log_events_errors(logs):
    name = unique("/conf/puterr")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.call("CreateLogStream", {"logGroupName": name, "logStreamName": "s"})
    now = now_ms()
    logs.error(
        "PutLogEvents",
        {
            "logGroupName": name,
            "logStreamName": "s",
            "logEvents": [{"timestamp": now, "message": "b"}, {"timestamp": now - 1000, "message": "a"}],
        },
        INVALID,
        "Log events in a single PutLogEvents request must be in chronological order.",
    )
    logs.error(
        "PutLogEvents",
        {
            "logGroupName": name,
            "logStreamName": "s",
            "logEvents": [
                {"timestamp": now - 25 * 3_600_000, "message": "a"},
                {"timestamp": now, "message": "b"},
            ],
        },
        INVALID,
        "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
    )
    one = [{"timestamp": now, "message": "x"}]
    logs.error("PutLogEvents", {"logGroupName": name, "logStreamName": "nope", "logEvents": one}, NOT_FOUND, STREAM_MISSING)
    logs.error(
        "PutLogEvents",
        {"logGroupName": unique("/conf/nope"), "logStreamName": "s", "logEvents": one},
        NOT_FOUND,
        GROUP_MISSING,
    )
    logs.error("PutLogEvents", {"logGroupName": name, "logStreamName": "s", "logEvents": []}, INVALID, validate_input=False)


def test_get_log_events_tokens(logs, group):
    params = {"logGroupName": group, "logStreamName": "app", "startFromHead": True, "limit": 4}
    first = logs.call("GetLogEvents", params)
    assert [e["message"] for e in first["events"]][:2] == ["INFO start", "ERROR db timeout"]
    assert len(first["events"]) == 4
    for e in first["events"]:
        assert set(e) == {"timestamp", "message", "ingestionTime"}
    f, b = first["nextForwardToken"], first["nextBackwardToken"]
    assert f.startswith("f/") and b.startswith("b/")
    second = logs.call("GetLogEvents", {**params, "nextToken": f})
    assert [e["message"] for e in second["events"]] == ["WARN slow", "ERROR again"]
    # At the end the forward token comes back unchanged: that is how a
    # reader knows it has everything.
    end = logs.call("GetLogEvents", {**params, "nextToken": second["nextForwardToken"]})
    assert end["events"] == [] and end["nextForwardToken"] == second["nextForwardToken"]
    back = logs.call("GetLogEvents", {**params, "nextToken": second["nextBackwardToken"]})
    assert [e["message"] for e in back["events"]] == [e["message"] for e in first["events"]]
    # Without startFromHead, the newest events.
    latest = logs.call("GetLogEvents", {"logGroupName": group, "logStreamName": "app", "limit": 2})
    assert [e["message"] for e in latest["events"]] == ["WARN slow", "ERROR again"]


def test_get_log_events_time_range(logs, group):
    every = logs.call("GetLogEvents", {"logGroupName": group, "logStreamName": "app", "startFromHead": True})
    ts = [e["timestamp"] for e in every["events"]]
    # startTime inclusive, endTime exclusive (GetLogEvents).
    out = logs.call(
        "GetLogEvents",
        {"logGroupName": group, "logStreamName": "app", "startTime": ts[1], "endTime": ts[3], "startFromHead": True},
    )
    assert [e["timestamp"] for e in out["events"]] == ts[1:3]


def test_get_log_events_errors(logs, group):
    logs.error("GetLogEvents", {"logGroupName": group, "logStreamName": "nope"}, NOT_FOUND, STREAM_MISSING)
    logs.error("GetLogEvents", {"logGroupName": unique("/conf/nope"), "logStreamName": "app"}, NOT_FOUND, GROUP_MISSING)
    logs.error(
        "GetLogEvents",
        {"logGroupName": group, "logStreamName": "app", "nextToken": "f/garbage"},
        INVALID,
        "The specified nextToken is invalid.",
    )
    logs.error(
        "GetLogEvents",
        {"logGroupName": group, "logStreamName": "app", "limit": 10001},
        INVALID,
        validate_input=False,
    )


def test_filter_log_events(logs, group):
    out = logs.call("FilterLogEvents", {"logGroupName": group, "filterPattern": "ERROR", "interleaved": True})
    # Interleaved across the streams, in timestamp order.
    assert [e["message"] for e in out["events"]] == ["ERROR job", "ERROR db timeout", "ERROR disk full", "ERROR again"]
    assert [e["logStreamName"] for e in out["events"]] == ["worker", "app", "app", "app"]
    # Deprecated since 2020: always an empty list.
    assert out["searchedLogStreams"] == []
    assert "nextToken" not in out
    ids = [e["eventId"] for e in out["events"]]
    assert len(set(ids)) == len(ids) and all(i.isdigit() and len(i) == 56 for i in ids), ids
    for e in out["events"]:
        assert set(e) == {"logStreamName", "timestamp", "message", "ingestionTime", "eventId"}
    # The same events give the same ids on every call (aws logs tail dedupes by them).
    again = logs.call("FilterLogEvents", {"logGroupName": group, "filterPattern": "ERROR"})
    assert [e["eventId"] for e in again["events"]] == ids
    json_out = logs.call("FilterLogEvents", {"logGroupName": group, "filterPattern": '{ $.level = "error" }'})
    assert [e["message"] for e in json_out["events"]] == ['{"level":"error","latency":250}']
    only = logs.call("FilterLogEvents", {"logGroupName": group, "logStreamNames": ["worker"]})
    assert [e["message"] for e in only["events"]] == ["ERROR job", "ok"]
    pre = logs.call("FilterLogEvents", {"logGroupIdentifier": group_arn(group), "logStreamNamePrefix": "wor"})
    assert [e["message"] for e in pre["events"]] == ["ERROR job", "ok"]
    words = logs.call("FilterLogEvents", {"logGroupName": group, "filterPattern": "[level = ERROR, ...]"})
    assert [e["message"] for e in words["events"]] == ["ERROR job", "ERROR db timeout", "ERROR disk full", "ERROR again"]
    regex = logs.call("FilterLogEvents", {"logGroupName": group, "filterPattern": "%^ERROR\\sd%"})
    assert [e["message"] for e in regex["events"]] == ["ERROR db timeout", "ERROR disk full"]


def test_filter_log_events_pages(logs, group):
    seen, token, pages = [], None, 0
    while True:
        params = {"logGroupName": group, "limit": 3}
        if token:
            params["nextToken"] = token
        out = logs.call("FilterLogEvents", params)
        pages += 1
        assert len(out["events"]) <= 3
        seen += out["events"]
        token = out.get("nextToken")
        if not token:
            break
    assert len(seen) == 8 and pages >= 3
    assert len({e["eventId"] for e in seen}) == 8
    ts = [e["timestamp"] for e in seen]
    assert ts == sorted(ts)
    # startTime and endTime are both inclusive here.
    out = logs.call("FilterLogEvents", {"logGroupName": group, "startTime": ts[1], "endTime": ts[3]})
    assert [e["timestamp"] for e in out["events"]] == ts[1:4]


def test_filter_log_events_errors(logs, group):
    logs.error("FilterLogEvents", {"logGroupName": unique("/conf/nope")}, NOT_FOUND, GROUP_MISSING)
    logs.error(
        "FilterLogEvents",
        {"logGroupName": group, "logStreamNames": ["app"], "logStreamNamePrefix": "a"},
        INVALID,
    )
    logs.error("FilterLogEvents", {"logGroupName": group, "filterPattern": "{ $.level = }"}, INVALID)
    logs.error("FilterLogEvents", {"logGroupName": group, "nextToken": "garbage"}, INVALID)
    logs.error("FilterLogEvents", {"logGroupName": group, "limit": 10001}, INVALID, validate_input=False)
    for op, extra in (("FilterLogEvents", {}), ("GetLogEvents", {"logStreamName": "app"})):
        logs.error(
            op,
            {"logGroupName": group, "startTime": -1, **extra},
            INVALID,
            "1 validation error detected: Value '-1' at 'startTime' failed to satisfy constraint: "
            "Member must have value greater than or equal to 0",
            validate_input=False,
        )
    logs.error(
        "FilterLogEvents",
        {"logGroupName": group, "logStreamNames": []},
        INVALID,
        "1 validation error detected: Value '[]' at 'logStreamNames' failed to satisfy constraint: "
        "Member must have length greater than or equal to 1",
        validate_input=False,
    )
    logs.error("FilterLogEvents", {"logGroupName": group, "filterPattern": "%ERR(OR)?%"}, INVALID, "Invalid filter pattern")
    logs.error(
        "FilterLogEvents",
        {"logGroupName": group, "filterPattern": "[a, b"},
        INVALID,
        "Invalid filter pattern",
    )
    logs.error(
        "FilterLogEvents",
        {},
        INVALID,
        "Either the logGroupName or the logGroupIdentifier parameter must be specified.",
    )


# ------------------------------------------------------------------ tags


def test_tags_by_arn(logs):
    name = unique("/conf/tags")
    logs.call("CreateLogGroup", {"logGroupName": name, "tags": {"a": "1"}})
    arn = group_arn(name)
    logs.call("TagResource", {"resourceArn": arn, "tags": {"b": "2"}})
    assert logs.call("ListTagsForResource", {"resourceArn": arn})["tags"] == {"a": "1", "b": "2"}
    logs.call("UntagResource", {"resourceArn": arn, "tagKeys": ["a"]})
    assert logs.call("ListTagsForResource", {"resourceArn": arn})["tags"] == {"b": "2"}
    missing = group_arn(unique("/conf/nope"))
    logs.error("TagResource", {"resourceArn": missing, "tags": {"a": "1"}}, NOT_FOUND)
    logs.error("UntagResource", {"resourceArn": missing, "tagKeys": ["a"]}, NOT_FOUND)
    logs.error("ListTagsForResource", {"resourceArn": missing}, NOT_FOUND)
    many = {f"k{i}": "v" for i in range(60)}
    logs.error("TagResource", {"resourceArn": arn, "tags": many}, "TooManyTagsException", validate_input=False)


def test_legacy_tag_operations(logs):
    name = unique("/conf/legacy")
    logs.call("CreateLogGroup", {"logGroupName": name})
    logs.call("TagLogGroup", {"logGroupName": name, "tags": {"x": "1", "y": "2"}})
    logs.call("UntagLogGroup", {"logGroupName": name, "tags": ["x"]})
    assert logs.call("ListTagsLogGroup", {"logGroupName": name})["tags"] == {"y": "2"}
    missing = unique("/conf/nope")
    logs.error("TagLogGroup", {"logGroupName": missing, "tags": {"a": "1"}}, NOT_FOUND, GROUP_MISSING)
    logs.error("UntagLogGroup", {"logGroupName": missing, "tags": ["a"]}, NOT_FOUND, GROUP_MISSING)
    logs.error("ListTagsLogGroup", {"logGroupName": missing}, NOT_FOUND, GROUP_MISSING)


# ------------------------------------------------------------------ the rest


OTHERS = sorted(set(MODEL.operation_names) - LOGS_IMPLEMENTED)
#: Implemented operations whose model has no InvalidParameterException.
UNMODELED_VALIDATION = {"ListTagsLogGroup", "UntagLogGroup"}


def test_the_logs_operation_lists_add_up():
    assert LOGS_IMPLEMENTED <= set(MODEL.operation_names)
    assert len(OTHERS) == len(MODEL.operation_names) - len(LOGS_IMPLEMENTED)


@pytest.mark.parametrize("op", OTHERS)
def test_unimplemented_logs_operation_answers_a_modeled_json_error(logs, op):
    from test_unsupported import minimal_input

    params = minimal_input(MODEL.operation_model(op).input_shape)
    r = logs.request(op, params)
    assert not r.ok, r.describe()
    assert r.problems == [], "\n".join(r.problems)
    assert r.status == 400, r.describe()
    assert op in r.message, f"the message should name the operation: {r.message!r}"


@pytest.mark.parametrize("body", [b"{not json", b"[1]", b"\xff"], ids=["malformed", "array", "not-utf8"])
def test_logs_bodies_that_are_not_a_json_object(logs, body):
    r = logs.raw(body, op="DescribeLogGroups")
    assert r.problems == [] and r.code == "SerializationException", r.describe()


def test_logs_wrong_member_type(logs):
    r = logs.raw(json.dumps({"logGroupName": 5}).encode(), op="CreateLogGroup")
    assert r.problems == [] and r.code == "SerializationException", r.describe()


def test_logs_unknown_operation(logs):
    r = logs.raw(b"{}", target="Logs_20140328.FlyToTheMoon")
    assert r.problems == [] and r.code == "UnknownOperationException", r.describe()
    assert "FlyToTheMoon" in r.message


@pytest.mark.parametrize(
    "op", sorted(op for op in LOGS_IMPLEMENTED if MODEL.operation_model(op).input_shape.required_members)
)
def test_logs_missing_required_members(logs, op):
    # CloudWatch Logs answers a constraint violation with
    # InvalidParameterException on every operation ("1 validation error
    # detected: ..."); the model of these two legacy operations lists only
    # ResourceNotFoundException, so it is allowed for them by name.
    legacy = frozenset({"InvalidParameterException"}) if op in UNMODELED_VALIDATION else frozenset()
    r = logs.raw(b"{}", op=op, allowed_generic=legacy)
    assert r.problems == [], f"{r.describe()}\n  " + "\n  ".join(r.problems)
    assert r.status == 400 and r.code not in PROTOCOL_ERRORS, r.describe()


def _constraint_cases():
    """(operation, member, bad value, the constraint text) for every
    pattern/length/range constraint of an implemented operation's top-level
    string and integer members that matter here, read from the model."""
    out = []
    for op in sorted(LOGS_IMPLEMENTED):
        shape = MODEL.operation_model(op).input_shape
        for name, member in shape.members.items():
            meta = member.metadata
            if member.type_name == "string" and "pattern" in meta and meta.get("min", 0) >= 1:
                bad = "bad name!" if "A-Za-z0-9" in meta["pattern"] else "a:b*"
                if name in ("resourceArn", "logGroupIdentifier"):
                    continue  # their patterns allow nearly anything; checked elsewhere
                out.append((op, name, bad, f"Member must satisfy regular expression pattern: {meta['pattern']}"))
            if member.type_name in ("integer", "long") and "max" in meta:
                out.append((op, name, int(meta["max"]) + 1, f"Member must have value less than or equal to {int(meta['max'])}"))
    return out


@pytest.mark.parametrize("op,member,bad,constraint", _constraint_cases(), ids=lambda v: str(v)[:30])
def test_model_constraints_are_enforced(logs, op, member, bad, constraint):
    """A raw request breaking one constraint of the model: AWS's
    "1 validation error detected" InvalidParameterException, naming the
    member and the model's own constraint."""
    from test_unsupported import minimal_input

    params = minimal_input(MODEL.operation_model(op).input_shape)
    params.pop("logGroupIdentifier", None)
    params[member] = bad
    if op in ("GetLogEvents", "FilterLogEvents", "DescribeLogStreams") and member != "logGroupName":
        params["logGroupName"] = "x"
    allowed = frozenset({"InvalidParameterException"}) if op in UNMODELED_VALIDATION else frozenset()
    r = logs.raw(json.dumps(params).encode(), op=op, allowed_generic=allowed)
    assert r.problems == [], f"{r.describe()}\n  " + "\n  ".join(r.problems)
    assert r.code == INVALID, r.describe()
    want = f"1 validation error detected: Value '{bad}' at '{member}' failed to satisfy constraint: {constraint}"
    assert r.message == want, r.describe()
