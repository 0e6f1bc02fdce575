"""Fixtures of the wire-conformance suite: one emulator for the whole session
(`serve --in-memory` on a free loopback port, stopped with SIGINT at the
end, which removes every Docker object it made), a validating client, and
helpers that make the few scenario objects (clusters, task definitions,
running tasks) the tests share.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from scenario import docker_objects, fargate_td, run_task, unique, wait_for
from wire import Client

ROOT = Path(__file__).resolve().parents[2]


class Emulator:
    def __init__(self, proc: subprocess.Popen, endpoint: str, log_path: Path):
        self.proc = proc
        self.endpoint = endpoint
        self.log_path = log_path
        self.instance = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def health(self) -> dict:
        import json

        with urllib.request.urlopen(self.endpoint + "/_fargate-local/health", timeout=5) as r:
            return json.loads(r.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary() -> Path:
    given = os.environ.get("FARGATE_LOCAL_BIN")
    path = Path(given) if given else ROOT / "target" / "debug" / "fargate-local"
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"the emulator binary {path} does not exist; run `cargo build -p fargate-local` "
            "or set FARGATE_LOCAL_BIN",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def emulator():
    port = _free_port()
    log_path = Path(tempfile.mkstemp(prefix="fargate-local-conformance-", suffix=".log")[1])
    env = dict(os.environ, FARGATE_LOCAL_LOG=os.environ.get("FARGATE_LOCAL_LOG", "info"))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(_binary()), "serve", "--in-memory", "--listen", f"127.0.0.1:{port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    emu = Emulator(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the emulator exited ({proc.returncode}):\n{emu.log()}", pytrace=False)
        try:
            emu.health()
            break
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the emulator did not answer health in 30 s:\n{emu.log()}", pytrace=False)
            time.sleep(0.05)
    # The log may be coloured: drop ANSI escapes before reading the id.
    plain = re.sub(r"\x1b\[[0-9;]*m", "", emu.log())
    m = re.search(r"instance=(\w+)", plain)
    if not m:
        proc.kill()
        pytest.fail(f"no instance id in the emulator's log:\n{plain}", pytrace=False)
    emu.instance = m.group(1)
    try:
        yield emu
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"the emulator did not stop within 60 s of SIGINT:\n{emu.log()[-3000:]}")
        left = {k: v for k, v in docker_objects(f"fargate-local.instance={emu.instance}").items() if v}
        tail = emu.log()[-3000:]
        log_path.unlink(missing_ok=True)
        assert not left, f"Docker objects of instance {emu.instance} left after shutdown: {left}\n{tail}"


@pytest.fixture(scope="session")
def ecs(emulator) -> Client:
    return Client(emulator.endpoint)


@pytest.fixture(scope="session")
def logs(emulator) -> Client:
    """A validating client of the CloudWatch Logs API on the same port."""
    return Client(emulator.endpoint, "logs")


@pytest.fixture(scope="session")
def cluster(ecs) -> str:
    """A cluster for the task tests; deleted by DeleteCluster's own test."""
    name = unique("conf")
    ecs.call("CreateCluster", {"clusterName": name})
    return name


@pytest.fixture(scope="session")
def task_definition(ecs) -> str:
    """An ACTIVE Fargate task definition's ARN."""
    family = unique("conf-td")
    out = ecs.call("RegisterTaskDefinition", fargate_td(family))
    return out["taskDefinition"]["taskDefinitionArn"]


@pytest.fixture(scope="session")
def running_task(ecs, cluster, task_definition) -> dict:
    """One real busybox task, RUNNING, described once it got there."""
    t = run_task(ecs, cluster, task_definition, tags=[{"key": "suite", "value": "conformance"}])
    return wait_for(ecs, cluster, [t["taskArn"]], "RUNNING")[0]
