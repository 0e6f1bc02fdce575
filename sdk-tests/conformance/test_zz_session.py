"""Runs last (pytest collects files in name order): looks back over every
response the suite received. Each was checked when it arrived; this checks
that the suite as a whole covered what it claims to cover, including tasks
in their later lifecycle states, and re-walks all of them once more."""

from scenario import IMPLEMENTED
from wire import check_response


def _tasks(r):
    if not (r.ok and isinstance(r.body, dict)):
        return []
    if r.op == "StopTask":
        return [r.body["task"]]
    if r.op in ("RunTask", "DescribeTasks"):
        return r.body.get("tasks", [])
    return []


def test_every_response_of_the_suite_conforms(ecs):
    log = list(ecs.log)
    assert len(log) > 300, f"only {len(log)} responses were recorded: run the whole suite"
    bad = []
    for r in log:
        again = check_response(
            r.op if r.op != "?" else None,
            r.status,
            r.headers,
            r.raw,
            allowed_generic=r.allowed_generic,
            service=r.service,
        )
        if again.problems:
            bad.append(f"{r.describe()[:200]}\n    " + "\n    ".join(again.problems))
    assert bad == [], f"{len(bad)} of {len(log)} responses do not conform:\n" + "\n".join(bad[:20])


def test_every_logs_response_conforms_and_every_logs_operation_was_exercised(logs):
    from test_logs import LOGS_IMPLEMENTED

    log = list(logs.log)
    assert len(log) > 100, f"only {len(log)} CloudWatch Logs responses were recorded: run the whole suite"
    bad = []
    for r in log:
        again = check_response(
            r.op if r.op != "?" else None,
            r.status,
            r.headers,
            r.raw,
            allowed_generic=r.allowed_generic,
            service="logs",
        )
        if again.problems:
            bad.append(f"{r.describe()[:200]}\n    " + "\n    ".join(again.problems))
    assert bad == [], f"{len(bad)} of {len(log)} responses do not conform:\n" + "\n".join(bad[:20])
    ok = {r.op for r in log if r.ok}
    failed = {r.op for r in log if not r.ok}
    assert LOGS_IMPLEMENTED - ok == set(), "never answered 200"
    assert LOGS_IMPLEMENTED - failed == set(), "error paths never exercised"


def test_every_implemented_operation_was_exercised(ecs):
    ok = {r.op for r in ecs.log if r.ok}
    failed = {r.op for r in ecs.log if not r.ok}
    assert IMPLEMENTED - ok == set(), "never answered 200"
    assert IMPLEMENTED - failed == set(), "error paths never exercised"


def test_tasks_were_seen_in_every_phase(ecs):
    seen = [t for r in ecs.log for t in _tasks(r)]
    statuses = {t["lastStatus"] for t in seen}
    assert {"PROVISIONING", "RUNNING", "STOPPED"} <= statuses, statuses
    codes = {t.get("stopCode") for t in seen if t["lastStatus"] == "STOPPED"}
    assert {"UserInitiated", "EssentialContainerExited", "TaskFailedToStart"} <= codes, codes
    containers = {c["lastStatus"] for t in seen for c in t["containers"]}
    assert {"PENDING", "RUNNING", "STOPPED"} <= containers, containers
    assert any("exitCode" in c for t in seen for c in t["containers"])
