#!/usr/bin/env python3
"""The measuring half of `make bench` (scripts/bench.sh prepares the machine
and cleans up after it). Every figure is measured side by side with its
baseline in the same run, interleaved where the benchmark repeats, so that
load from elsewhere on the machine hits both alike; the report gives ratios.

  1. RunTask until RUNNING (two busybox containers sharing a namespace)
     against `docker run -d` of the same two containers.
  2. API latency and throughput (wrk, -t2 -c16) for DescribeClusters,
     DescribeTasks and RegisterTaskDefinition against moto's server.
  3. Cold start to the first answered ListClusters, and idle resident
     memory, against moto's server.
  4. ECS Exec: `fargate-local exec` from spawn to the first byte of output
     (ExecuteCommand, websocket, handshake, docker exec), and the throughput
     of `cat` of a large file through the data channel, against `docker
     exec` of the same command.
  5. FireLens from a container (firelens-task): lines through Docker's
     fluentd driver, the stand-in router and its cloudwatch_logs output into
     the log store, against the same container with the awslogs driver.
  7. FireLens router engine (firelens-engine): Forward messages sent
     straight to `fargate-local firelens` into CloudWatch Logs, against the
     same messages sent straight to PutLogEvents; zero loss, delay, RSS.
  8. Services: UpdateService to a completed rolling deployment of 3 tasks
     against the same 3 task starts and stops done one by one (RunTask →
     RUNNING, StopTask → STOPPED); and the emulator's CPU time with 20
     services of 3 tasks at steady state against an idle emulator with no
     service over the same window.

  9. `serve --forward`: the latency a forwarded call adds (DynamoDB GetItem
     through the emulator to moto's server against moto directly).
 10. SQS (sqs): SendMessage, and ReceiveMessage (10 at a time) with a
     DeleteMessage per message, messages per second on one connection and on
     16 (wrk), against moto's server.
 11. Console (console): the server time of each console page (its
     Server-Timing header) with 20 services and 200 tasks in one cluster
     (20 running service tasks and 180 stopped standalone tasks: stopped
     tasks are listed and drawn like running ones), against the API calls a
     client makes to read the same cluster (ListServices, DescribeServices,
     ListTasks and DescribeTasks), timed at the client, interleaved.
 12. Service Connect (sc): HTTP GET latency from a client task through its
     alias (the task's proxy) against straight to the server task's
     address, p50/p99; and a new server task's RUNNING to its first answer
     through the alias.
 13. IAM (iam): `serve --iam enforce` against `off` side by side: an app's
     DescribeClusters signed with its task credentials (wrk, CPU per
     request), and RunTask → RUNNING of a task whose task role and execution
     role are checked (median of --iam-runs, alternated).
 14. Egress counters (egress): a task downloading a blob from a server
     outside its VPC (a container of this run on a network of its own,
     published on the Docker host's bridge address), MB/s, with
     `serve --egress on` (connection tracking's counters in the
     namespace) against `--egress off`, runs interleaved, each run once
     the one before has stopped.
 15. The image (image): the size of `make image`'s fargate-local:dev, and
     container start to the first answer against the host binary.
 16. Churn (churn): closed-loop clients running short tasks (two
     containers, one exiting after 1 s) for a fixed time, tasks per second
     against bare `docker run`/`docker rm` of the same containers; the
     emulator's memory per thousand stopped tasks it retains; the time
     Ctrl-C takes with tasks in flight.

Standard library only. Every process it starts is written to
$BENCH_TMP/pids and every emulator instance id to $BENCH_TMP/instances, and
every baseline container carries the label fargate-local-bench.run=<run>, so
that bench.sh's trap can clean up even if this script is killed.
"""

import argparse
import datetime
import http.client
import json
import urllib.parse
import os
import re
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time

TARGET_PREFIX = "AmazonEC2ContainerServiceV20141113."
# A SigV4 credential scope with a dummy signature: the emulator takes the
# region from it, moto's server the service; neither checks the signature.
AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20261128/us-east-1/ecs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=00"
)
IMAGE = "fargate-local-test/busybox:latest"
CLUSTER = "bench"
NETWORK = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-0123456789abcdef0"],
        "securityGroups": ["sg-0123456789abcdef0"],
        "assignPublicIp": "DISABLED",
    }
}

# The two containers of the RunTask benchmark, as the baseline runs them too.
WEB_CMD = ["httpd", "-f", "-p", "8080"]
SIDECAR_CMD = ["sleep", "3600"]


def fargate_task_definition(family, containers, cpu="256", memory="512"):
    """A Fargate task definition of the busybox test image's containers."""
    return {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": cpu,
        "memory": memory,
        "containerDefinitions": containers,
    }


def task_definition(family):
    # busybox as PID 1 ignores SIGTERM; a short stopTimeout keeps the
    # (untimed) StopTask between runs short.
    # moto needs a container-level memory or memoryReservation to run
    # a task; a soft reservation changes nothing for the containers.
    return fargate_task_definition(
        family,
        [
            {"name": "web", "image": IMAGE, "essential": True, "command": WEB_CMD, "stopTimeout": 2, "memoryReservation": 64},
            {"name": "sidecar", "image": IMAGE, "essential": True, "command": SIDECAR_CMD, "stopTimeout": 2, "memoryReservation": 64},
        ],
    )


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- processes


class Proc:
    """A server process this script started; recorded for bench.sh's trap."""

    def __init__(self, argv, tmp, name, env=None, port=None, emulator=False):
        self.name = name
        self.port = port
        self.emulator = emulator
        self.log_path = os.path.join(tmp, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        with open(os.path.join(tmp, "pids"), "a") as f:
            f.write(f"{self.p.pid}\n")

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout=20):
        if self.p.poll() is None and self.port and self.emulator:
            # Remove every task container of this instance first: a durable
            # instance leaves live tasks running when it exits.
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                c.request("POST", "/_fargate-local/reset")
                c.getresponse().read()
                c.close()
            except (OSError, http.client.HTTPException):
                pass
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGINT)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()

    def tail(self, n=20):
        try:
            with open(self.log_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def record_instance(tmp, proc):
    """Reads the emulator's instance id from its log, for the trap."""
    text = open(proc.log_path, "rb").read().decode(errors="replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    m = re.search(r"instance=([0-9a-f]{12})", text)
    if m:
        with open(os.path.join(tmp, "instances"), "a") as f:
            f.write(m.group(1) + "\n")
    return m.group(1) if m else None


# ---------------------------------------------------------------- ECS client


class Ecs:
    """awsJson1.1 over one keep-alive connection."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, op, body=None, ok=True):
        data = json.dumps(body or {}).encode()
        headers = {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": TARGET_PREFIX + op,
            "Authorization": AUTH,
        }
        for attempt in (0, 1):
            try:
                self.conn.request("POST", "/", data, headers)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        if ok and resp.status != 200:
            raise BenchError(f"{op} answered {resp.status}: {raw[:300]!r}")
        try:
            out = json.loads(raw) if raw else {}
        except ValueError:
            out = {"raw": raw.decode(errors="replace")}
        return resp.status, out

    def close(self):
        self.conn.close()


def first_answer(port, proc, deadline_s=60.0, poll_s=0.0002):
    """Polls with ListClusters until it is answered with 200; returns the
    seconds since the process was spawned."""
    body = b"{}"
    req = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
        f"X-Amz-Target: {TARGET_PREFIX}ListClusters\r\nAuthorization: {AUTH}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(req)
                buf = b""
                while b"\r\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                if buf.startswith(b"HTTP/1.1 200") or buf.startswith(b"HTTP/1.0 200"):
                    return time.perf_counter() - proc.t0
        except OSError:
            pass
        if not proc.alive():
            raise BenchError(f"{proc.name} exited before answering:\n{proc.tail()}")
        if time.perf_counter() - proc.t0 > deadline_s:
            raise BenchError(f"{proc.name} did not answer within {deadline_s}s:\n{proc.tail()}")
        time.sleep(poll_s)


def start_emulator(args, name, extra):
    port = free_port()
    argv = [args.bin, "serve", "--listen", f"127.0.0.1:{port}"] + extra
    env = dict(os.environ, NO_COLOR="1", FARGATE_LOCAL_LOG="info")
    proc = Proc(argv, args.tmp, name, env, port=port, emulator=True)
    first_answer(port, proc)
    record_instance(args.tmp, proc)
    return proc, port


def start_moto(args, name):
    port = free_port()
    proc = Proc([args.moto, "-H", "127.0.0.1", "-p", str(port)], args.tmp, name)
    first_answer(port, proc)
    return proc, port


# ---------------------------------------------------------------- 1. RunTask


def docker(*argv, check=True):
    r = subprocess.run(["docker", *argv], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise BenchError(f"docker {' '.join(argv)}: {r.stderr.strip()}")
    return r.stdout.strip()


def docker_cleanup(args):
    """Removes the baseline containers of this run and whatever the
    emulators it started left (bench.sh's trap does the same)."""
    ids = docker("ps", "-aq", "--filter", f"label=fargate-local-bench.run={args.run}", check=False).split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    try:
        with open(os.path.join(args.tmp, "instances")) as f:
            instances = f.read().split()
    except OSError:
        instances = []
    for inst in instances:
        label = f"label=fargate-local.instance={inst}"
        ids = docker("ps", "-aq", "--filter", label, check=False).split()
        if ids:
            docker("rm", "-f", "-v", *ids, check=False)
        for kind in ("volume", "network"):
            ids = docker(kind, "ls", "-q", "--filter", label, check=False).split()
            if ids:
                docker(kind, "rm", *ids, check=False)


def run_docker_pair(args, i):
    a = f"fl-bench-{args.run}-{i}-web"
    b = f"fl-bench-{args.run}-{i}-sidecar"
    label = ["--label", f"fargate-local-bench.run={args.run}"]
    t0 = time.perf_counter()
    docker("run", "-d", "--name", a, *label, IMAGE, *WEB_CMD)
    docker("run", "-d", "--name", b, "--network", f"container:{a}", *label, IMAGE, *SIDECAR_CMD)
    elapsed = time.perf_counter() - t0
    states = docker("inspect", "-f", "{{.State.Running}}", a, b).split()
    docker("rm", "-f", a, b)
    if states != ["true", "true"]:
        raise BenchError(f"baseline containers not running: {states}")
    return elapsed


def run_emulator_task(ecs, poll_s):
    """Seconds from sending RunTask until DescribeTasks says RUNNING, and the
    mean duration of one DescribeTasks poll."""
    t0 = time.perf_counter()
    _, out = ecs.call(
        "RunTask",
        {"cluster": CLUSTER, "taskDefinition": "bench-two", "launchType": "FARGATE", "networkConfiguration": NETWORK},
    )
    if out.get("failures"):
        raise BenchError(f"RunTask failures: {out['failures']}")
    arn = out["tasks"][0]["taskArn"]
    polls, poll_time = 0, 0.0
    while True:
        p0 = time.perf_counter()
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        now = time.perf_counter()
        polls += 1
        poll_time += now - p0
        task = d["tasks"][0]
        status = task.get("lastStatus")
        if status == "RUNNING":
            elapsed = now - t0
            break
        if status == "STOPPED":
            raise BenchError(f"task stopped while starting: {task.get('stoppedReason')}")
        if now - t0 > 120:
            raise BenchError("task did not reach RUNNING within 120 s")
        time.sleep(poll_s)
    ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
    t_stop = time.perf_counter()
    while True:
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        if d["tasks"][0].get("lastStatus") == "STOPPED":
            break
        if time.perf_counter() - t_stop > 120:
            raise BenchError("task did not stop within 120 s")
        time.sleep(0.02)
    return elapsed, poll_time / polls


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def bench_runtask(args, ecs):
    load = loadavg()
    ecs.call("RegisterTaskDefinition", task_definition("bench-two"))
    log("RunTask: warm-up (the first task may build the infrastructure image)")
    run_emulator_task(ecs, args.poll_ms / 1000)
    run_docker_pair(args, "warm")
    emu, base, poll_costs = [], [], []
    for i in range(args.runs):
        # Alternate who goes first, so drift in machine load hits both.
        for who in ("emu", "docker") if i % 2 == 0 else ("docker", "emu"):
            if who == "emu":
                t, pc = run_emulator_task(ecs, args.poll_ms / 1000)
                emu.append(t)
                poll_costs.append(pc)
            else:
                base.append(run_docker_pair(args, i))
        log(f"RunTask run {i + 1}/{args.runs}: emulator {emu[-1] * 1000:.0f} ms, docker run {base[-1] * 1000:.0f} ms")
    return {
        "load": [load, loadavg()],
        "runs": args.runs,
        "emulator_ms": [round(x * 1000, 1) for x in emu],
        "baseline_ms": [round(x * 1000, 1) for x in base],
        "emulator_median_ms": statistics.median(emu) * 1000,
        "baseline_median_ms": statistics.median(base) * 1000,
        "poll_interval_ms": args.poll_ms,
        "poll_call_ms": statistics.mean(poll_costs) * 1000,
    }


# ---------------------------------------------------------------- 2. API


def cpu_seconds(pid):
    """User plus system CPU time a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(args, port, op, body, pid=None):
    """One wrk run; with `pid`, also the server's CPU time per request, which
    load elsewhere on the machine changes far less than rates and latencies."""
    env = dict(os.environ, BENCH_TARGET=TARGET_PREFIX + op, BENCH_BODY=json.dumps(body))
    cpu0 = cpu_seconds(pid) if pid else None
    argv = [
        "wrk", f"-t{args.wrk_threads}", f"-c{args.wrk_conns}", f"-d{args.wrk_secs}s",
        "--timeout", "10s", "-s", args.lua, f"http://127.0.0.1:{port}/",
    ]
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    m = re.search(r"BENCH_RESULT (.*)", r.stdout)
    if r.returncode != 0 or not m:
        raise BenchError(f"wrk failed ({r.returncode}): {r.stdout}{r.stderr}")
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    if pid:
        res["cpu_us_per_req"] = (cpu_seconds(pid) - cpu0) * 1e6 / max(res["requests"], 1)
    if res["non2xx"] or res["socket_errors"]:
        log(f"  warning: {op}: {int(res['non2xx'])} non-2xx answers, {int(res['socket_errors'])} socket errors")
    return res


def prepare_api(ecs, with_task):
    """The same cluster, definition and task on either server; returns the
    request bodies to benchmark."""
    ecs.call("CreateCluster", {"clusterName": CLUSTER})
    ecs.call("RegisterTaskDefinition", task_definition("bench-two"))
    arn = with_task(ecs)
    return {
        "DescribeClusters": {"clusters": [CLUSTER]},
        "DescribeTasks": {"cluster": CLUSTER, "tasks": [arn]},
        "RegisterTaskDefinition": task_definition("bench-wrk"),
    }


def running_task(ecs, poll_s=0.05):
    _, out = ecs.call(
        "RunTask",
        {"cluster": CLUSTER, "taskDefinition": "bench-two", "launchType": "FARGATE", "networkConfiguration": NETWORK},
    )
    if out.get("failures") or not out.get("tasks"):
        raise BenchError(f"RunTask: {out}")
    arn = out["tasks"][0]["taskArn"]
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        status = d["tasks"][0].get("lastStatus") if d.get("tasks") else None
        if status == "RUNNING":
            return arn
        if status == "STOPPED":
            raise BenchError(f"task stopped: {d['tasks'][0].get('stoppedReason')}")
        time.sleep(poll_s)
    raise BenchError("task did not reach RUNNING")


def moto_ec2_first(port, action, tag):
    """The first `tag` value of an EC2 query call to moto (its default VPC)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    auth = AUTH.replace("/ecs/", "/ec2/")
    c.request(
        "POST", "/", f"Action={action}&Version=2016-11-15",
        {"Content-Type": "application/x-www-form-urlencoded", "Authorization": auth},
    )
    text = c.getresponse().read().decode()
    c.close()
    m = re.search(f"<{tag}>([^<]+)</{tag}>", text)
    if not m:
        raise BenchError(f"moto {action}: no {tag} in {text[:300]}")
    return m.group(1)


def moto_task(ecs):
    # moto keeps a Fargate task as a record (no containers) and reports it
    # RUNNING at once; DescribeTasks then answers from that record. It wants
    # a subnet and security group of its own EC2 backend.
    net = {
        "awsvpcConfiguration": {
            "subnets": [moto_ec2_first(ecs.port, "DescribeSubnets", "subnetId")],
            "securityGroups": [moto_ec2_first(ecs.port, "DescribeSecurityGroups", "groupId")],
            "assignPublicIp": "DISABLED",
        }
    }
    _, out = ecs.call(
        "RunTask",
        {"cluster": CLUSTER, "taskDefinition": "bench-two", "launchType": "FARGATE", "networkConfiguration": net},
    )
    if not out.get("tasks"):
        raise BenchError(f"moto RunTask: {out}")
    return out["tasks"][0]["taskArn"]


def bench_api(args, emu_srv, mem_srv, moto_srv):
    (emu_proc, emu_port), (mem_proc, mem_port), (moto_proc, moto_port) = emu_srv, mem_srv, moto_srv
    emu, moto, mem = Ecs(emu_port), Ecs(moto_port), Ecs(mem_port)
    emu_bodies = prepare_api(emu, running_task)
    moto_bodies = prepare_api(moto, moto_task)
    mem.call("CreateCluster", {"clusterName": CLUSTER})
    # The same request must succeed on both servers before it is measured.
    for op in ("DescribeClusters", "DescribeTasks", "RegisterTaskDefinition"):
        _, a = emu.call(op, emu_bodies[op])
        _, b = moto.call(op, moto_bodies[op])
        if op == "DescribeTasks" and not (a.get("tasks") and b.get("tasks")):
            raise BenchError(f"DescribeTasks found no task: emulator {a}, moto {b}")
    for c in (emu, moto, mem):
        c.close()
    results = []
    args.api_load = [loadavg()]
    for op in ("DescribeClusters", "DescribeTasks", "RegisterTaskDefinition"):
        e = wrk(args, emu_port, op, emu_bodies[op], emu_proc.pid)
        m = wrk(args, moto_port, op, moto_bodies[op], moto_proc.pid)
        log(
            f"{op}: emulator {e['rps']:.0f} req/s p50 {e['p50_us']:.0f} µs p99 {e['p99_us']:.0f} µs "
            f"({e['cpu_us_per_req']:.0f} µs CPU/req); moto {m['rps']:.0f} req/s p50 {m['p50_us']:.0f} µs "
            f"p99 {m['p99_us']:.0f} µs ({m['cpu_us_per_req']:.0f} µs CPU/req)"
        )
        results.append({"op": op, "mode": "durable", "emulator": e, "moto": m})
    # The in-memory mode skips the SQLite write; reported beside, not as the
    # headline.
    e = wrk(args, mem_port, "RegisterTaskDefinition", emu_bodies["RegisterTaskDefinition"], mem_proc.pid)
    log(f"RegisterTaskDefinition (--in-memory): {e['rps']:.0f} req/s p50 {e['p50_us']:.0f} µs p99 {e['p99_us']:.0f} µs")
    results.append({"op": "RegisterTaskDefinition", "mode": "in-memory", "emulator": e, "moto": None})
    args.api_load.append(loadavg())
    return results


# ---------------------------------------------------------------- 3. start


def a_few_requests(port):
    ecs = Ecs(port)
    ecs.call("CreateCluster", {"clusterName": CLUSTER})
    ecs.call("RegisterTaskDefinition", task_definition("bench-two"))
    ecs.call("DescribeClusters", {"clusters": [CLUSTER]})
    ecs.call("DescribeTaskDefinition", {"taskDefinition": "bench-two"})
    ecs.call("ListClusters", {})
    ecs.close()


def warm_infra_image(args):
    """Runs one task, so that the emulator's infrastructure image for this
    binary exists: an emulator that finds it missing builds it in the
    background after it starts, which would be measured as idle memory."""
    proc, port = start_emulator(args, "warm", ["--data-dir", os.path.join(args.tmp, "warm")])
    try:
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": CLUSTER})
        ecs.call("RegisterTaskDefinition", task_definition("bench-two"))
        running_task(ecs)
        ecs.close()
    finally:
        proc.stop()


def bench_start(args):
    warm_infra_image(args)
    load = loadavg()
    emu_t, moto_t, emu_rss, moto_rss = [], [], [], []
    for i in range(args.starts):
        for who in ("emu", "moto") if i % 2 == 0 else ("moto", "emu"):
            if who == "emu":
                port = free_port()
                data = os.path.join(args.tmp, f"cold-{i}")
                env = dict(os.environ, NO_COLOR="1")
                argv = [args.bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
                proc = Proc(argv, args.tmp, f"cold-emu-{i}", env, port=port, emulator=True)
            else:
                port = free_port()
                proc = Proc([args.moto, "-H", "127.0.0.1", "-p", str(port)], args.tmp, f"cold-moto-{i}")
            try:
                t = first_answer(port, proc)
                if who == "emu":
                    record_instance(args.tmp, proc)
                a_few_requests(port)
                # Let start-up work in the background (the emulator's Docker
                # connection) settle before reading the resident set.
                time.sleep(args.settle_s)
                rss = rss_kib(proc.pid) / 1024
            finally:
                proc.stop()
            (emu_t if who == "emu" else moto_t).append(t)
            (emu_rss if who == "emu" else moto_rss).append(rss)
        log(
            f"start {i + 1}/{args.starts}: emulator {emu_t[-1] * 1000:.1f} ms {emu_rss[-1]:.1f} MiB; "
            f"moto {moto_t[-1] * 1000:.0f} ms {moto_rss[-1]:.1f} MiB"
        )
    return {
        "load": [load, loadavg()],
        "starts": args.starts,
        "emulator_ms": [round(x * 1000, 2) for x in emu_t],
        "moto_ms": [round(x * 1000, 1) for x in moto_t],
        "emulator_median_ms": statistics.median(emu_t) * 1000,
        "moto_median_ms": statistics.median(moto_t) * 1000,
        "emulator_rss_mib": statistics.median(emu_rss),
        "moto_rss_mib": statistics.median(moto_rss),
        "poll_interval_ms": 0.2,
    }


# ---------------------------------------------------------------- image

EMULATOR_IMAGE = "fargate-local:dev"
INSTANCES_DIR = "/tmp/fargate-local-instances"


def started_at(name):
    """The container's State.StartedAt as seconds since the epoch (Docker
    writes nanoseconds; Python reads microseconds)."""
    raw = docker("inspect", "-f", "{{.State.StartedAt}}", name)
    head, _, frac = raw.rstrip("Z").partition(".")
    return datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.timezone.utc).timestamp() + float(
        "0." + (frac or "0")
    )


def infra_image_size(args):
    """The size of the tasks' infrastructure image the binary makes (taken
    from a running task's infrastructure container)."""
    proc, port = start_emulator(args, "infra-size", ["--in-memory", "--s3-listen", "off"])
    try:
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": CLUSTER})
        ecs.call("RegisterTaskDefinition", task_definition("bench-two"))
        task_id = running_task(ecs).rsplit("/", 1)[1]
        ecs.close()
        image = docker("inspect", "-f", "{{.Image}}", f"fargate-local-{task_id}")
        return int(docker("image", "inspect", "-f", "{{.Size}}", image))
    finally:
        proc.stop()


def bench_image(args):
    """The image `make image` built: its size, and how soon the emulator in
    it answers, against the same release binary started on the host, run
    alternately; and the size of the tasks' infrastructure image."""
    if subprocess.run(["docker", "image", "inspect", args.image], capture_output=True).returncode != 0:
        raise BenchError(f"the image {args.image} is missing: run make image")
    size = int(docker("image", "inspect", "-f", "{{.Size}}", args.image))
    infra_size = infra_image_size(args)
    load = loadavg()
    run_ms, after_start_ms, host_ms = [], [], []
    for i in range(args.starts):
        for who in ("image", "host") if i % 2 == 0 else ("host", "image"):
            port = free_port()
            serve = ["serve", "--in-memory", "--listen", f"127.0.0.1:{port}", "--s3-listen", "off"]
            if who == "host":
                proc = Proc([args.bin] + serve, args.tmp, f"host-{i}", dict(os.environ, NO_COLOR="1"), port=port)
                try:
                    host_ms.append(first_answer(port, proc) * 1000)
                finally:
                    proc.stop()
                continue
            name = f"fargate-local-bench-{args.run}-{i}"
            argv = [
                "docker", "run", "--rm", "--name", name,
                "--label", f"fargate-local-bench.run={args.run}",
                "--network", "host",
                "-v", "/var/run/docker.sock:/var/run/docker.sock",
                "-v", f"{INSTANCES_DIR}:{INSTANCES_DIR}",
                args.image,
            ] + serve
            proc = Proc(argv, args.tmp, f"image-{i}")
            try:
                t = first_answer(port, proc)
                ready = time.time()
                run_ms.append(t * 1000)
                after_start_ms.append((ready - started_at(name)) * 1000)
            finally:
                # SIGINT reaches the emulator through `docker run`.
                proc.stop()
        log(
            f"image start {i + 1}/{args.starts}: docker run → answer {run_ms[-1]:.0f} ms, "
            f"container start → answer {after_start_ms[-1]:.1f} ms; host binary {host_ms[-1]:.1f} ms"
        )
    return {
        "load": [load, loadavg()],
        "starts": args.starts,
        "image": args.image,
        "size_mb": size / 1e6,
        "infra_mb": infra_size / 1e6,
        "binary_mb": os.path.getsize(args.bin) / 1e6,
        "run_ms": [round(x, 1) for x in run_ms],
        "after_start_ms": [round(x, 1) for x in after_start_ms],
        "host_ms": [round(x, 2) for x in host_ms],
        "run_median_ms": statistics.median(run_ms),
        "after_start_median_ms": statistics.median(after_start_ms),
        "host_median_ms": statistics.median(host_ms),
    }


# ---------------------------------------------------------------- 16. churn

CHURN_CLUSTER = "bench-churn"
# The short task of the churn: `job` exits after 1 s (essential, so the task
# stops), `side` leaves at once on SIGTERM (sh as PID 1 with a trap), so no
# stopTimeout is waited out on either side.
CHURN_JOB_CMD = ["sleep", "1"]
CHURN_SIDE_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def churn_task_definition(family):
    return fargate_task_definition(
        family,
        [
            {"name": "job", "image": IMAGE, "essential": True, "command": CHURN_JOB_CMD, "stopTimeout": 2},
            {"name": "side", "image": IMAGE, "essential": True, "command": CHURN_SIDE_CMD, "stopTimeout": 2},
        ],
    )


class Churn:
    """`clients` threads each running the short task to its end, one after
    another, until the segment's deadline; a task counts if it stopped
    before the deadline (those still running then are finished off without
    counting, unless the segment ends with Ctrl-C)."""

    def __init__(self, clients, stopping):
        self.clients = clients
        self.stopping = stopping
        self.lock = threading.Lock()
        self.failures = []

    def segment(self, secs, one, side, drain=True):
        deadline = time.perf_counter() + secs
        done = [0] * self.clients
        threads = []

        def client(k):
            i = 0
            while time.perf_counter() < deadline:
                try:
                    one(k, i, deadline)
                except (BenchError, OSError, http.client.HTTPException) as e:
                    # Once Ctrl-C has been sent, the emulator going away is
                    # what is measured, not a failure.
                    if self.stopping.is_set():
                        return
                    with self.lock:
                        self.failures.append((side, str(e)))
                    i += 1
                    continue
                if time.perf_counter() <= deadline:
                    done[k] += 1
                i += 1

        for k in range(self.clients):
            t = threading.Thread(target=client, args=(k,), daemon=True)
            t.start()
            threads.append(t)
        if drain:
            for t in threads:
                t.join()
        else:
            time.sleep(max(0.0, deadline - time.perf_counter()))
        return sum(done), threads


def churn_docker_task(args, k, i):
    """One baseline task: the same two containers with bare `docker run`
    (the job in the side's namespace), waited for, then `docker rm`."""
    a = f"fl-churn-{args.run}-{k}-{i}-job"
    b = f"fl-churn-{args.run}-{k}-{i}-side"
    label = ["--label", f"fargate-local-bench.run={args.run}"]
    # The side first: it holds the namespace, as the infrastructure
    # container does in a task (the job may be gone before a second `docker
    # run` joins it on a loaded engine).
    docker("run", "-d", "--name", b, *label, IMAGE, *CHURN_SIDE_CMD)
    docker("run", "-d", "--name", a, "--network", f"container:{b}", *label, IMAGE, *CHURN_JOB_CMD)
    docker("wait", a)
    docker("rm", "-f", a, b)


def churn_emulator_task(port, poll_s, stop_at=None, started=None):
    """One emulator task: RunTask (retried on ThrottlingException, as SDKs
    do) and DescribeTasks until STOPPED. With `stop_at`, gives up waiting
    once the emulator is being stopped."""
    ecs = Ecs(port)
    try:
        body = {"cluster": CHURN_CLUSTER, "taskDefinition": "bench-churn", "launchType": "FARGATE", "networkConfiguration": NETWORK}
        backoff = 0.05
        while True:
            status, out = ecs.call("RunTask", body, ok=False)
            if status == 400 and out.get("__type") == "ThrottlingException":
                time.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if status != 200 or out.get("failures"):
                raise BenchError(f"RunTask answered {status}: {out}")
            break
        if started is not None:
            started.append(1)
        arn = out["tasks"][0]["taskArn"]
        t0 = time.perf_counter()
        while True:
            if stop_at is not None and stop_at.is_set():
                return None
            _, d = ecs.call("DescribeTasks", {"cluster": CHURN_CLUSTER, "tasks": [arn]})
            task = d["tasks"][0]
            if task.get("lastStatus") == "STOPPED":
                if task.get("stopCode") != "EssentialContainerExited":
                    raise BenchError(f"churn task stopped with {task.get('stopCode')}: {task.get('stoppedReason')}")
                return task
            if time.perf_counter() - t0 > 300:
                raise BenchError("churn task not STOPPED within 300 s")
            time.sleep(poll_s)
    finally:
        ecs.close()


def count_stopped(ecs):
    n, token = 0, None
    while True:
        body = {"cluster": CHURN_CLUSTER, "desiredStatus": "STOPPED", "maxResults": 100}
        if token:
            body["nextToken"] = token
        _, out = ecs.call("ListTasks", body)
        n += len(out.get("taskArns", []))
        token = out.get("nextToken")
        if not token:
            return n


def bench_churn(args):
    """Closed-loop clients running short tasks for a fixed time, against the
    same containers with bare `docker run`/`docker rm`, segments alternated;
    the emulator's memory per task; Ctrl-C's time with tasks in flight."""
    load = loadavg()
    emu, port = start_emulator(args, "emulator-churn", ["--in-memory", "--s3-listen", "off"])
    instance = record_instance(args.tmp, emu)
    stopping = threading.Event()
    try:
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": CHURN_CLUSTER})
        ecs.call("RegisterTaskDefinition", churn_task_definition("bench-churn"))
        log("churn: warm-up (a task each way; the first may build the infrastructure image)")
        churn_emulator_task(port, args.churn_poll_ms / 1000)
        churn_docker_task(args, "warm", 0)
        time.sleep(1)
        rss0 = rss_kib(emu.pid)
        stopped0 = count_stopped(ecs)
        churn = Churn(args.churn_clients, stopping)
        started = []  # RunTask calls that launched a task (list.append is atomic)
        emu_tasks, emu_secs, base_tasks, base_secs = 0, 0.0, 0, 0.0
        shutdown_s, left, rss1, retained = None, None, None, None
        rounds = max(1, args.churn_rounds)
        for r in range(rounds):
            order = ("emu", "docker") if r % 2 == 0 else ("docker", "emu")
            for who in order:
                if who == "docker":
                    n, _ = churn.segment(args.churn_secs, lambda k, i, _d: churn_docker_task(args, k, f"{r}-{i}"), "docker")
                    base_tasks += n
                    base_secs += args.churn_secs
                    log(f"churn round {r + 1}/{rounds}: bare docker {n} tasks in {args.churn_secs} s")
                    continue
                final = r == rounds - 1
                poll = args.churn_poll_ms / 1000
                n, threads = churn.segment(
                    args.churn_secs,
                    lambda k, i, _d: churn_emulator_task(port, poll, stopping, started),
                    "emu",
                    drain=not final,
                )
                emu_tasks += n
                emu_secs += args.churn_secs
                log(f"churn round {r + 1}/{rounds}: emulator {n} tasks in {args.churn_secs} s")
                if final:
                    # Memory with the churn's stopped tasks retained, then
                    # Ctrl-C with the clients' tasks still in flight.
                    rss1 = rss_kib(emu.pid)
                    retained = count_stopped(ecs) - stopped0
                    ecs.close()
                    stopping.set()
                    t0 = time.perf_counter()
                    emu.p.send_signal(signal.SIGINT)
                    try:
                        emu.p.wait(120)
                        shutdown_s = time.perf_counter() - t0
                    except subprocess.TimeoutExpired:
                        shutdown_s = None
                    for t in threads:
                        t.join(10)
                    left = live_containers(instance)
        for side, e in churn.failures[:5]:
            log(f"churn: a {side} task failed: {e}")
        if rss1 is None:
            raise BenchError("churn: the emulator segment that ends the benchmark did not run")
        return {
            "load": [load, loadavg()],
            "clients": args.churn_clients,
            "rounds": rounds,
            "secs": args.churn_secs,
            "emu_tasks": emu_tasks,
            "emu_rate": emu_tasks / emu_secs,
            "base_tasks": base_tasks,
            "base_rate": base_tasks / base_secs,
            "rss0_kib": rss0,
            "rss1_kib": rss1,
            "retained": retained,
            "started": len(started),
            "poll_ms": args.churn_poll_ms,
            "emu_failed": sum(1 for s, _ in churn.failures if s == "emu"),
            "base_failed": sum(1 for s, _ in churn.failures if s == "docker"),
            "shutdown_s": shutdown_s,
            "left_behind": left,
        }
    finally:
        stopping.set()
        emu.stop()
        docker_cleanup(args)


# ---------------------------------------------------------------- report


# ---------------------------------------------------------------- services

SVC_CLUSTER = "bench-svc"


def service_task_definition(family):
    """One busybox container that sleeps and exits at once on SIGTERM (sh
    as PID 1 with a trap, waiting on the sleep), so that stopping a task
    costs no stopTimeout, on either side."""
    return fargate_task_definition(
        family,
        [
            {
                "name": "app",
                "image": IMAGE,
                "essential": True,
                "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
                "stopTimeout": 2,
            }
        ],
    )


def create_service(ecs, name, count, family):
    ecs.call(
        "CreateService",
        {
            "cluster": SVC_CLUSTER,
            "serviceName": name,
            "taskDefinition": family,
            "desiredCount": count,
            "launchType": "FARGATE",
            "networkConfiguration": NETWORK,
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100},
        },
    )


def stable(svc):
    """What the services-stable waiter checks, and the deployment COMPLETED."""
    deps = svc.get("deployments", [])
    return (
        len(deps) == 1
        and svc.get("runningCount") == svc.get("desiredCount")
        and deps[0].get("rolloutState") == "COMPLETED"
    )


def wait_stable(ecs, names, deadline_s, poll_s=0.05):
    t0 = time.perf_counter()
    pending = list(names)
    while pending:
        services = []
        for i in range(0, len(pending), 10):
            _, out = ecs.call("DescribeServices", {"cluster": SVC_CLUSTER, "services": pending[i : i + 10]})
            services += out.get("services", [])
        pending = [s["serviceName"] for s in services if not stable(s)]
        if not pending:
            return time.perf_counter()
        if time.perf_counter() - t0 > deadline_s:
            raise BenchError(f"services not stable within {deadline_s} s: {pending[:5]}")
        time.sleep(poll_s)


def sequential_tasks(ecs, family, n):
    """RunTask → RUNNING then StopTask → STOPPED, n times, one by one."""
    t0 = time.perf_counter()
    for _ in range(n):
        _, out = ecs.call(
            "RunTask",
            {"cluster": SVC_CLUSTER, "taskDefinition": family, "launchType": "FARGATE", "networkConfiguration": NETWORK},
        )
        if out.get("failures"):
            raise BenchError(f"RunTask failures: {out['failures']}")
        arn = out["tasks"][0]["taskArn"]
        for want in ("RUNNING", "STOPPED"):
            while True:
                _, d = ecs.call("DescribeTasks", {"cluster": SVC_CLUSTER, "tasks": [arn]})
                status = d["tasks"][0].get("lastStatus")
                if status == want:
                    break
                if status == "STOPPED":
                    raise BenchError(f"task stopped while starting: {d['tasks'][0].get('stoppedReason')}")
                if time.perf_counter() - t0 > 120:
                    raise BenchError(f"task not {want} within 120 s")
                time.sleep(0.05)
            if want == "RUNNING":
                ecs.call("StopTask", {"cluster": SVC_CLUSTER, "task": arn, "reason": "bench"})
    return time.perf_counter() - t0


def live_containers(instance):
    if not instance:
        return -1
    return len(docker("ps", "-aq", "--filter", f"label=fargate-local.instance={instance}", check=False).split())


def bench_services(args):
    """5a: rolling deployment of 3 tasks against 3 sequential starts and
    stops, interleaved. 5b: CPU seconds of an emulator running 20 services
    of 3 tasks against an idle emulator, over the same window."""
    load = loadavg()
    svc, port = start_emulator(args, "emulator-svc", ["--in-memory", "--s3-listen", "off"])
    idle, idle_port = start_emulator(args, "emulator-idle", ["--in-memory", "--s3-listen", "off"])
    servers = [svc, idle]
    try:
        instance = record_instance(args.tmp, svc)
        record_instance(args.tmp, idle)
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": SVC_CLUSTER})
        Ecs(idle_port).call("CreateCluster", {"clusterName": SVC_CLUSTER})
        ecs.call("RegisterTaskDefinition", service_task_definition("bench-svc"))
        ecs.call("RegisterTaskDefinition", service_task_definition("bench-svc"))

        # 5a. The service's first deployment is not timed.
        log("services: rolling deployments of 3 tasks against 3 sequential RunTask/StopTask")
        create_service(ecs, "roll", 3, "bench-svc:1")
        wait_stable(ecs, ["roll"], 180)
        sequential_tasks(ecs, "bench-svc:1", 1)  # warm-up
        deploy, seq = [], []
        for i in range(args.svc_runs):
            for who in ("deploy", "seq") if i % 2 == 0 else ("seq", "deploy"):
                if who == "deploy":
                    rev = "bench-svc:2" if i % 2 == 0 else "bench-svc:1"
                    t0 = time.perf_counter()
                    ecs.call("UpdateService", {"cluster": SVC_CLUSTER, "service": "roll", "taskDefinition": rev})
                    deploy.append(wait_stable(ecs, ["roll"], 180) - t0)
                else:
                    seq.append(sequential_tasks(ecs, "bench-svc:1", 3))
            log(f"services run {i + 1}/{args.svc_runs}: deployment {deploy[-1]:.2f} s, one by one {seq[-1]:.2f} s")
        ecs.call("DeleteService", {"cluster": SVC_CLUSTER, "service": "roll", "force": True})

        # 5b. 20 services of 3 tasks; then both emulators over one window.
        n = args.svc_count
        log(f"services: {n} services of 3 tasks")
        names = [f"s{i:02d}" for i in range(n)]
        t0 = time.perf_counter()
        for name in names:
            create_service(ecs, name, 3, "bench-svc:1")
        wait_stable(ecs, names, 600, poll_s=0.5)
        steady_after = time.perf_counter() - t0
        time.sleep(5)
        running = len(ecs.call("ListTasks", {"cluster": SVC_CLUSTER, "desiredStatus": "RUNNING", "maxResults": 100})[1]["taskArns"])
        log(f"services: steady after {steady_after:.0f} s with {running} tasks; measuring {args.svc_window} s")
        c_svc, c_idle, w0 = cpu_seconds(svc.pid), cpu_seconds(idle.pid), time.perf_counter()
        time.sleep(args.svc_window)
        c_svc, c_idle, window = cpu_seconds(svc.pid) - c_svc, cpu_seconds(idle.pid) - c_idle, time.perf_counter() - w0
        wait_stable(ecs, names, 10)  # still steady: nothing was replaced
        ecs.close()
        for s in servers:
            s.stop()
        left = live_containers(instance)
        return {
            "load": [load, loadavg()],
            "runs": args.svc_runs,
            "deploy_s": [round(x, 3) for x in deploy],
            "seq_s": [round(x, 3) for x in seq],
            "deploy_median_s": statistics.median(deploy),
            "seq_median_s": statistics.median(seq),
            "services": n,
            "tasks": running,
            "steady_after_s": steady_after,
            "window_s": window,
            "cpu_s": c_svc,
            "idle_cpu_s": c_idle,
            "left_behind": left,
        }
    finally:
        for s in servers:
            s.stop()


# ---------------------------------------------------------------- 4. config sources


class Plain:
    """Plain HTTP over one keep-alive connection (anonymous S3 requests)."""

    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method, path, body=b"", headers=None, want=(200,)):
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body, headers or {})
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                if attempt:
                    raise
        if resp.status not in want:
            raise BenchError(f"{method} {path} answered {resp.status}: {raw[:300]!r}")
        return raw

    def close(self):
        self.conn.close()


def json_call(port, target, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/",
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, "Authorization": AUTH},
    )
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    if resp.status != 200:
        raise BenchError(f"{target} answered {resp.status}: {raw[:300]!r}")
    return json.loads(raw)


def config_task_definition(family, with_config):
    td = task_definition(family)
    td["containerDefinitions"] = td["containerDefinitions"][:1]
    if with_config:
        td["executionRoleArn"] = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
        c = td["containerDefinitions"][0]
        c["environmentFiles"] = [
            {"type": "s3", "value": f"arn:aws:s3:::bench-config/env/{i}.env"} for i in range(10)
        ]
        c["secrets"] = [
            {"name": f"SM_{i}", "valueFrom": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:bench/{i}:password::"}
            for i in range(5)
        ] + [{"name": f"SSM_{i}", "valueFrom": f"/bench/{i}"} for i in range(5)]
    return td


def bench_config(args, ecs, port):
    """RunTask to RUNNING with 10 env files and 10 secrets against the same
    one-container task without them (interleaved), and embedded S3
    GetObject of a 1 MiB object on one keep-alive connection."""
    load = loadavg()
    s3 = Plain(port)
    s3.request("PUT", "/bench-config")
    for i in range(10):
        lines = "".join(f"VAR_{i}_{j}=value-{j}\n" for j in range(20))
        s3.request("PUT", f"/bench-config/env/{i}.env", lines.encode())
    for i in range(5):
        json_call(port, "secretsmanager.CreateSecret", {"Name": f"bench/{i}", "SecretString": json.dumps({"password": f"p{i}"})})
        json_call(port, "AmazonSSM.PutParameter", {"Name": f"/bench/{i}", "Value": f"v{i}", "Type": "SecureString"})
    ecs.call("RegisterTaskDefinition", config_task_definition("bench-plain", False))
    ecs.call("RegisterTaskDefinition", config_task_definition("bench-config", True))

    def one(family):
        t0 = time.perf_counter()
        _, out = ecs.call(
            "RunTask",
            {"cluster": CLUSTER, "taskDefinition": family, "launchType": "FARGATE", "networkConfiguration": NETWORK},
        )
        arn = out["tasks"][0]["taskArn"]
        while True:
            _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
            status = d["tasks"][0].get("lastStatus")
            if status == "RUNNING":
                elapsed = time.perf_counter() - t0
                break
            if status == "STOPPED":
                raise BenchError(f"{family} stopped while starting: {d['tasks'][0].get('stoppedReason')}")
            if time.perf_counter() - t0 > 120:
                raise BenchError(f"{family} did not reach RUNNING within 120 s")
            time.sleep(args.poll_ms / 1000)
        ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
        while ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})[1]["tasks"][0].get("lastStatus") != "STOPPED":
            time.sleep(0.02)
        return elapsed

    log("config: warm-up")
    one("bench-plain")
    one("bench-config")
    plain, config = [], []
    for i in range(args.runs):
        for fam in ("bench-plain", "bench-config") if i % 2 == 0 else ("bench-config", "bench-plain"):
            (plain if fam == "bench-plain" else config).append(one(fam))
        log(f"config run {i + 1}/{args.runs}: plain {plain[-1] * 1000:.0f} ms, with config {config[-1] * 1000:.0f} ms")

    blob = os.urandom(1 << 20)
    s3.request("PUT", "/bench-config/blob", blob)
    s3.request("GET", "/bench-config/blob")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 5 or n < 20:
        got = s3.request("GET", "/bench-config/blob")
        if len(got) != len(blob):
            raise BenchError("GetObject returned a short body")
        n += 1
    secs = time.perf_counter() - t0
    s3.close()
    return {
        "load": [load, loadavg()],
        "runs": args.runs,
        "plain_ms": [round(x * 1000, 1) for x in plain],
        "config_ms": [round(x * 1000, 1) for x in config],
        "plain_median_ms": statistics.median(plain) * 1000,
        "config_median_ms": statistics.median(config) * 1000,
        "get_count": n,
        "get_secs": secs,
        "get_mib_s": n / secs,
        "get_ms": secs / n * 1000,
    }


# ---------------------------------------------------------------- 5. ECS Exec


def timed_exec(argv):
    """Seconds from spawn to the first byte of stdout and to the end, and
    the bytes read; the command must exit 0."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.read(1)
    t_first = time.perf_counter() - t0
    n = len(first)
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        n += len(chunk)
    err = p.stderr.read()
    rc = p.wait()
    total = time.perf_counter() - t0
    if rc != 0 or not first:
        raise BenchError(f"{argv[:2]} exited {rc}: {err.decode(errors='replace')[-300:]}")
    return t_first, total, n


def bench_exec(args, ecs, port):
    load = loadavg()
    td = {
        "family": "bench-exec",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [
            {"name": "web", "image": IMAGE, "essential": True, "command": SIDECAR_CMD, "stopTimeout": 2}
        ],
    }
    ecs.call("RegisterTaskDefinition", td)
    _, out = ecs.call(
        "RunTask",
        {
            "cluster": CLUSTER, "taskDefinition": "bench-exec", "launchType": "FARGATE",
            "networkConfiguration": NETWORK, "enableExecuteCommand": True,
        },
    )
    arn = out["tasks"][0]["taskArn"]
    deadline = time.perf_counter() + 120
    while True:
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        if d["tasks"][0].get("lastStatus") == "RUNNING":
            break
        if time.perf_counter() > deadline:
            raise BenchError("the exec task did not reach RUNNING")
        time.sleep(0.05)
    cid = docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}",
                 "--filter", "label=com.amazonaws.ecs.container-name=web")
    size = args.exec_mib * 1024 * 1024
    docker("exec", cid, "sh", "-c", f"head -c {size} /dev/urandom > /tmp/big")
    client = [args.bin, "exec", "--endpoint-url", f"http://127.0.0.1:{port}", "--cluster", CLUSTER,
              "--task", arn, "--container", "web", "--command"]
    # The same command both ways; through the emulator's TTY, output
    # processing is off so that the bytes are the file's.
    cat_emu = client + ["sh -c 'stty -opost; cat /tmp/big'"]
    cat_docker = ["docker", "exec", cid, "cat", "/tmp/big"]
    # The same through a TTY, as ECS Exec always runs its command: the
    # floor a pseudo-terminal sets (the kernel's pty passes at most 4 KiB
    # per read and Docker copies it through the shim).
    cat_docker_tty = ["docker", "exec", "-t", cid, "sh", "-c", "stty -opost; cat /tmp/big"]
    echo_emu = client + ["echo first"]
    echo_docker = ["docker", "exec", cid, "echo", "first"]
    timed_exec(echo_emu)
    timed_exec(echo_docker)
    first_e, first_d, cat_e, cat_d, cat_t = [], [], [], [], []
    for i in range(args.exec_runs):
        for who in ("emu", "docker") if i % 2 == 0 else ("docker", "emu"):
            if who == "emu":
                first_e.append(timed_exec(echo_emu)[0])
                _, t, n = timed_exec(cat_emu)
                if n != size:
                    raise BenchError(f"cat through the emulator gave {n} bytes, not {size}")
                cat_e.append(t)
            else:
                first_d.append(timed_exec(echo_docker)[0])
                _, t, n = timed_exec(cat_docker)
                cat_d.append(t)
                _, t, n = timed_exec(cat_docker_tty)
                if n != size:
                    raise BenchError(f"cat through docker exec -t gave {n} bytes, not {size}")
                cat_t.append(t)
        log(f"exec run {i + 1}/{args.exec_runs}: first byte {first_e[-1] * 1000:.0f} / {first_d[-1] * 1000:.0f} ms, "
            f"cat {cat_e[-1]:.2f} / {cat_d[-1]:.2f} / {cat_t[-1]:.2f} s (emulator / docker exec / docker exec -t)")
    ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
    mib = size / 1024 / 1024
    return {
        "load": [load, loadavg()],
        "runs": args.exec_runs,
        "mib": args.exec_mib,
        "first_emulator_ms": [round(x * 1000, 1) for x in first_e],
        "first_docker_ms": [round(x * 1000, 1) for x in first_d],
        "first_emulator_median_ms": statistics.median(first_e) * 1000,
        "first_docker_median_ms": statistics.median(first_d) * 1000,
        "cat_emulator_mib_s": mib / statistics.median(cat_e),
        "cat_docker_mib_s": mib / statistics.median(cat_d),
        "cat_docker_tty_mib_s": mib / statistics.median(cat_t),
        "cat_docker_tty_s": [round(x, 3) for x in cat_t],
        "cat_emulator_s": [round(x, 3) for x in cat_e],
        "cat_docker_s": [round(x, 3) for x in cat_d],
    }


# ---------------------------------------------------------------- FireLens router engine


def mp_str(s):
    b = s.encode()
    if len(b) < 32:
        return bytes([0xA0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + struct.pack(">H", len(b)) + b


def forward_message(tag, t, pairs):
    """A Message-mode array as Docker's fluentd driver writes it: EventTime
    (fixext8), a map of strings, an empty option map."""
    sec = int(t)
    nsec = int((t - sec) * 1e9)
    out = [b"\x94", mp_str(tag), b"\xd7\x00", struct.pack(">II", sec, nsec), bytes([0x80 | len(pairs)])]
    for k, v in pairs:
        out.append(mp_str(k))
        out.append(mp_str(v))
    out.append(b"\x80")
    return b"".join(out)


FL_TAG = "app-firelens-0123456789abcdef0123456789abcdef"
FL_CID = "4f1c" * 16


def fl_line(run, i, t):
    return f"{run} {i:08d} {t:.6f} GET /orders/{i % 997} status=200 duration_ms=12.5 user_agent=bench"


def fl_docker_pairs(line):
    return [
        ("container_id", FL_CID),
        ("container_name", "/ecs-bench-1-app-c2f0e8a1b2c3d4e5f6"),
        ("source", "stdout"),
        ("log", line),
    ]


def fl_record_json(line):
    """The message the router writes for a line: the record as JSON."""
    rec = dict(fl_docker_pairs(line))
    rec.update(
        ecs_cluster="bench",
        ecs_task_arn="arn:aws:ecs:us-east-1:000000000000:task/bench/0123456789abcdef0123456789abcdef",
        ecs_task_definition="bench:1",
    )
    return json.dumps(rec, separators=(",", ":"))


class LogsTail:
    """Follows one stream with GetLogEvents (forward tokens) and records
    when each line became visible."""

    def __init__(self, port, group, stream):
        self.port, self.group, self.stream = port, group, stream
        self.seen = {}
        self.token = None
        self.count = 0

    def poll(self):
        body = {"logGroupName": self.group, "logStreamName": self.stream, "startFromHead": True, "limit": 10000}
        if self.token:
            body["nextToken"] = self.token
        try:
            out = json_call(self.port, "Logs_20140328.GetLogEvents", body)
        except BenchError:
            return 0
        now = time.perf_counter()
        for e in out.get("events", []):
            m = re.search(r"(tput|lat) (\d{8}) ", e["message"])
            if m:
                self.seen.setdefault((m.group(1), int(m.group(2))), now)
            self.count += 1
        got = len(out.get("events", []))
        self.token = out.get("nextForwardToken", self.token)
        return got


def fl_router(args, emu_port, name):
    port = free_port()
    conf = os.path.join(args.tmp, f"{name}.conf")
    with open(conf, "w") as f:
        f.write(
            # What the ECS agent generates for one awsfirelens container
            # (no [SERVICE]: Flush 1 s), plus a cloudwatch_logs output.
            f"[INPUT]\n    Name forward\n    Mem_Buf_Limit 25MB\n    Listen 127.0.0.1\n    Port {port}\n\n"
            "[FILTER]\n    Name record_modifier\n    Match *\n    Record ecs_cluster bench\n"
            "    Record ecs_task_arn arn:aws:ecs:us-east-1:000000000000:task/bench/0123456789abcdef0123456789abcdef\n"
            "    Record ecs_task_definition bench:1\n\n"
            "[OUTPUT]\n    Name cloudwatch_logs\n    Match app-firelens*\n    region us-east-1\n"
            "    log_group_name /bench/firelens\n    log_stream_prefix app/\n    auto_create_group true\n"
            f"    endpoint 127.0.0.1\n    port {emu_port}\n"
        )
    proc = Proc([args.bin, "firelens", "-c", conf], args.tmp, name)
    deadline = time.perf_counter() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if not proc.alive() or time.perf_counter() > deadline:
                raise BenchError(f"the router did not listen:\n{proc.tail()}")
            time.sleep(0.02)
    return proc, port


def fl_wait_all(tail, n, run, deadline_s):
    t_end = time.perf_counter() + deadline_s
    while sum(1 for k in tail.seen if k[0] == run) < n:
        if time.perf_counter() > t_end:
            break
        if tail.poll() == 0:
            time.sleep(0.01)
    return max((v for k, v in tail.seen.items() if k[0] == run), default=time.perf_counter())


def bench_firelens(args):
    """Lines pushed over the Forward protocol (Message mode, as Docker sends
    them) through `fargate-local firelens` into the emulator's CloudWatch
    Logs, against the same messages sent straight to PutLogEvents (batches
    of up to 10,000 events / 1 MiB) by a client; zero loss is checked by
    counting the events in the store."""
    load = loadavg()
    n = args.engine_lines
    emu, emu_port = start_emulator(args, "emulator-firelens", ["--in-memory"])
    router = None
    try:
        router, fport = fl_router(args, emu_port, "firelens-router")
        stream = f"app/{FL_TAG}"
        # Throughput: every line pre-encoded, written as fast as the socket takes it.
        t_base = time.time()
        msgs = [forward_message(FL_TAG, t_base, fl_docker_pairs(fl_line("tput", i, 0.0))) for i in range(n)]
        tail = LogsTail(emu_port, "/bench/firelens", stream)
        rss_max = 0
        sock = socket.create_connection(("127.0.0.1", fport))
        t0 = time.perf_counter()
        step = 2000
        for i in range(0, n, step):
            sock.sendall(b"".join(msgs[i : i + step]))
            if i % 20000 == 0:
                rss_max = max(rss_max, rss_kib(router.pid))
        t_sent = time.perf_counter()
        sock.close()
        while sum(1 for k in tail.seen if k[0] == "tput") < n and time.perf_counter() - t_sent < 120:
            rss_max = max(rss_max, rss_kib(router.pid))
            if tail.poll() == 0:
                time.sleep(0.01)
        t_last = max((v for k, v in tail.seen.items() if k[0] == "tput"), default=time.perf_counter())
        got = sum(1 for k in tail.seen if k[0] == "tput")
        router_lps = got / (t_last - t0)
        # Delay: lines paced at a steady rate, each stamped when sent.
        rate, secs = args.engine_rate, args.engine_secs
        sock = socket.create_connection(("127.0.0.1", fport))
        sent_at = {}
        stop = threading.Event()

        def follow():
            while not stop.is_set():
                if tail.poll() == 0:
                    time.sleep(0.005)

        th = threading.Thread(target=follow)
        th.start()
        t_start = time.perf_counter()
        for i in range(rate * secs):
            due = t_start + i / rate
            d = due - time.perf_counter()
            if d > 0:
                time.sleep(d)
            sent_at[("lat", i)] = time.perf_counter()
            sock.sendall(forward_message(FL_TAG, time.time(), fl_docker_pairs(fl_line("lat", i, 0.0))))
        sock.close()
        fl_wait_all(tail, rate * secs, "lat", 30)
        stop.set()
        th.join()
        delays = sorted((tail.seen[k] - t) * 1000 for k, t in sent_at.items() if k in tail.seen)
        router_rss = rss_kib(router.pid)
        router.p.send_signal(signal.SIGTERM)
        router_exit = router.p.wait(20)
        # Exact count in the store: no loss, no duplicates.
        total = 0
        token = None
        while True:
            body = {"logGroupName": "/bench/firelens", "logStreamName": stream, "startFromHead": True, "limit": 10000}
            if token:
                body["nextToken"] = token
            out = json_call(emu_port, "Logs_20140328.GetLogEvents", body)
            total += len(out["events"])
            if not out["events"]:
                break
            token = out["nextForwardToken"]

        # Baseline: the same messages straight to PutLogEvents.
        json_call(emu_port, "Logs_20140328.CreateLogGroup", {"logGroupName": "/bench/direct"})
        json_call(emu_port, "Logs_20140328.CreateLogStream", {"logGroupName": "/bench/direct", "logStreamName": "s"})
        btail = LogsTail(emu_port, "/bench/direct", "s")
        conn = http.client.HTTPConnection("127.0.0.1", emu_port, timeout=30)
        hdr = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "Logs_20140328.PutLogEvents", "Authorization": AUTH}
        ms = int(t_base * 1000)
        texts = [fl_record_json(fl_line("tput", i, 0.0)) for i in range(n)]
        t0 = time.perf_counter()
        batch, size = [], 0
        for i, m in enumerate(texts + [None]):
            if m is None or len(batch) == 10000 or size + len(m) + 26 > 1048576:
                data = json.dumps({"logGroupName": "/bench/direct", "logStreamName": "s", "logEvents": batch}).encode()
                conn.request("POST", "/", data, hdr)
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise BenchError(f"PutLogEvents answered {r.status}")
                batch, size = [], 0
            if m is not None:
                batch.append({"timestamp": ms, "message": m})
                size += len(m) + 26
        btail.seen.clear()
        t_last_b = fl_wait_all(btail, n, "tput", 120)
        base_lps = sum(1 for k in btail.seen if k[0] == "tput") / (t_last_b - t0)
        # Baseline delay: each paced line in its own PutLogEvents call.
        bsent = {}
        stop.clear()

        def follow_b():
            while not stop.is_set():
                if btail.poll() == 0:
                    time.sleep(0.005)

        btail_th = threading.Thread(target=follow_b)
        btail_th.start()
        t_start = time.perf_counter()
        for i in range(rate * secs):
            due = t_start + i / rate
            d = due - time.perf_counter()
            if d > 0:
                time.sleep(d)
            bsent[("lat", i)] = time.perf_counter()
            ev = [{"timestamp": int(time.time() * 1000), "message": fl_record_json(fl_line("lat", i, 0.0))}]
            conn.request("POST", "/", json.dumps({"logGroupName": "/bench/direct", "logStreamName": "s", "logEvents": ev}).encode(), hdr)
            r = conn.getresponse()
            r.read()
        fl_wait_all(btail, rate * secs, "lat", 30)
        stop.set()
        btail_th.join()
        conn.close()
        bdelays = sorted((btail.seen[k] - t) * 1000 for k, t in bsent.items() if k in btail.seen)
    finally:
        if router:
            router.stop()
        emu.stop()

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")

    return {
        "lines": n,
        "router_lps": router_lps,
        "baseline_lps": base_lps,
        "stored": total,
        "router_exit": router_exit,
        "router_rss_max_mib": rss_max / 1024,
        "router_rss_end_mib": router_rss / 1024,
        "rate": rate,
        "secs": secs,
        "lat_p50_ms": pct(delays, 0.5),
        "lat_p99_ms": pct(delays, 0.99),
        "lat_seen": len(delays),
        "base_lat_p50_ms": pct(bdelays, 0.5),
        "base_lat_p99_ms": pct(bdelays, 0.99),
        "load": (load, loadavg()),
    }


# ------------------------------------------------- 6. FireLens, the full path


LOGS_PREFIX = "Logs_20140328."


def firelens_task_definition(family, driver, lines):
    """One app container writing `lines` lines as fast as it can, then
    waiting for SIGTERM; with `driver` "awsfirelens" a stand-in log router
    ships them to CloudWatch Logs, with "awslogs" the emulator's awslogs
    driver does."""
    app = {
        "name": "app",
        "image": IMAGE,
        "essential": True,
        "stopTimeout": 2,
        "command": [
            "sh", "-c",
            f"seq 1 {lines} | sed 's/^/bench line /'; "
            "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done",
        ],
    }
    td = {
        "family": family,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "1024",
        "memory": "2048",
        "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
        "containerDefinitions": [app],
    }
    if driver == "awslogs":
        app["logConfiguration"] = {
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": "/bench/awslogs", "awslogs-region": "us-east-1",
                "awslogs-stream-prefix": "bench", "awslogs-create-group": "true",
            },
        }
    else:
        app["logConfiguration"] = {
            "logDriver": "awsfirelens",
            "options": {
                "Name": "cloudwatch_logs", "region": "us-east-1", "log_group_name": "/bench/firelens",
                "log_stream_prefix": "fl/", "auto_create_group": "true", "log_key": "log",
            },
        }
        td["containerDefinitions"].insert(0, {
            "name": "log_router",
            "image": IMAGE,
            "essential": True,
            "stopTimeout": 10,
            "firelensConfiguration": {"type": "fluentbit", "options": {"enable-ecs-log-metadata": "false"}},
        })
    return td


def peak_rss_kib(container_id):
    """Peak resident memory (VmHWM) of a container's main process."""
    pid = docker("inspect", "-f", "{{.State.Pid}}", container_id)
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def bench_firelens_task(args, ecs, port):
    """The FireLens path from a container: its lines through Docker's
    fluentd driver, the stand-in router and its cloudwatch_logs output into
    the log store, against the same container with the awslogs driver, run
    alternately. Every line must arrive (events counted); throughput is
    lines over the time from the first line's timestamp to the last event
    seen; latency is, per event, when GetLogEvents (polled every 50 ms)
    first showed it less its timestamp."""
    load = loadavg()
    n = args.firelens_lines
    ecs.call("RegisterTaskDefinition", firelens_task_definition("bench-firelens", "awsfirelens", n))
    ecs.call("RegisterTaskDefinition", firelens_task_definition("bench-awslogs", "awslogs", n))

    def one(family):
        _, out = ecs.call(
            "RunTask",
            {"cluster": CLUSTER, "taskDefinition": family, "launchType": "FARGATE", "networkConfiguration": NETWORK},
        )
        arn = out["tasks"][0]["taskArn"]
        tid = arn.rsplit("/", 1)[1]
        group, stream = (
            ("/bench/firelens", f"fl/app-firelens-{tid}") if family == "bench-firelens"
            else ("/bench/awslogs", f"bench/app/{tid}")
        )
        seen, delays, token = 0, [], None
        first_ts, last_seen = None, None
        deadline = time.perf_counter() + 120
        while seen < n:
            if time.perf_counter() > deadline:
                raise BenchError(f"{family}: {seen} of {n} lines arrived within 120 s")
            body = {"logGroupName": group, "logStreamName": stream, "startFromHead": True, "limit": 10000}
            if token:
                body["nextToken"] = token
            try:
                page = json_call(port, LOGS_PREFIX + "GetLogEvents", body)
            except BenchError:
                time.sleep(0.05)  # the group or stream does not exist yet
                continue
            now = time.time()
            events = page.get("events", [])
            for e in events:
                if first_ts is None:
                    first_ts = e["timestamp"] / 1000
                delays.append(now - e["timestamp"] / 1000)
            if events:
                last_seen = now
            seen += len(events)
            same = page.get("nextForwardToken") == token
            token = page.get("nextForwardToken")
            if not events or same:
                time.sleep(0.05)
        if seen != n:
            raise BenchError(f"{family}: {seen} events for {n} lines")
        rss = None
        if family == "bench-firelens":
            cid = docker("ps", "-q", "--filter", f"label=com.amazonaws.ecs.task-arn={arn}",
                         "--filter", "label=com.amazonaws.ecs.container-name=log_router")
            rss = peak_rss_kib(cid)
        ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
        while ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})[1]["tasks"][0].get("lastStatus") != "STOPPED":
            time.sleep(0.05)
        delays.sort()
        return {
            "lines_s": n / max(last_seen - first_ts, 1e-3),
            "p50_ms": delays[len(delays) // 2] * 1000,
            "p99_ms": delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000,
            "rss_kib": rss,
        }

    log("firelens-task: warm-up")
    one("bench-firelens")
    fl, al = [], []
    for i in range(args.firelens_runs):
        for fam in ("bench-firelens", "bench-awslogs") if i % 2 == 0 else ("bench-awslogs", "bench-firelens"):
            (fl if fam == "bench-firelens" else al).append(one(fam))
        log(f"firelens-task run {i + 1}/{args.firelens_runs}: firelens {fl[-1]['lines_s']:.0f} lines/s "
            f"p99 {fl[-1]['p99_ms']:.0f} ms, awslogs {al[-1]['lines_s']:.0f} lines/s p99 {al[-1]['p99_ms']:.0f} ms")

    def med(rows, k):
        return statistics.median(r[k] for r in rows)

    return {
        "load": [load, loadavg()],
        "runs": args.firelens_runs,
        "lines": n,
        "firelens": fl,
        "awslogs": al,
        "firelens_lines_s": med(fl, "lines_s"),
        "awslogs_lines_s": med(al, "lines_s"),
        "firelens_p99_ms": med(fl, "p99_ms"),
        "awslogs_p99_ms": med(al, "p99_ms"),
        "firelens_p50_ms": med(fl, "p50_ms"),
        "awslogs_p50_ms": med(al, "p50_ms"),
        "router_rss_kib": max((r["rss_kib"] or 0) for r in fl),
    }


# ---------------------------------------------------------------- 9. forward


DDB_AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=00"
)


def bench_forward(args):
    """The latency `serve --forward` adds: the same DynamoDB GetItem on one
    keep-alive connection, straight to a moto server and through an
    emulator forwarding to it, alternated call by call."""
    load = loadavg()
    moto, moto_port = start_moto(args, "moto-forward")
    emu = None
    try:
        emu, emu_port = start_emulator(
            args, "emulator-forward", ["--in-memory", "--forward", f"http://127.0.0.1:{moto_port}"]
        )
        headers = {"Content-Type": "application/x-amz-json-1.0", "Authorization": DDB_AUTH}

        def call(conn, op, body):
            conn.request(
                "POST", "/", json.dumps(body).encode(), dict(headers, **{"X-Amz-Target": "DynamoDB_20120810." + op})
            )
            resp = conn.getresponse()
            raw = resp.read()
            if resp.status != 200:
                raise BenchError(f"{op} answered {resp.status}: {raw[:300]!r}")
            return raw

        direct = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=30)
        through = http.client.HTTPConnection("127.0.0.1", emu_port, timeout=30)
        call(direct, "CreateTable", {
            "TableName": "bench", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        })
        call(direct, "PutItem", {"TableName": "bench", "Item": {"id": {"S": "k"}, "v": {"S": "x" * 100}}})
        get = {"TableName": "bench", "Key": {"id": {"S": "k"}}}
        for _ in range(50):  # warm-up, both paths
            call(direct, "GetItem", get)
            call(through, "GetItem", get)
        d, t = [], []
        for i in range(args.forward_calls):
            for conn, out in ((direct, d), (through, t)) if i % 2 == 0 else ((through, t), (direct, d)):
                t0 = time.perf_counter()
                call(conn, "GetItem", get)
                out.append((time.perf_counter() - t0) * 1000)
        direct.close()
        through.close()
    finally:
        if emu:
            emu.stop()
        moto.stop()
    d.sort()
    t.sort()

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))]

    r = {
        "calls": args.forward_calls,
        "load": [load, loadavg()],
        "direct_p50_ms": pct(d, 0.5),
        "direct_p99_ms": pct(d, 0.99),
        "through_p50_ms": pct(t, 0.5),
        "through_p99_ms": pct(t, 0.99),
    }
    log(
        f"forward: GetItem direct p50 {r['direct_p50_ms']:.2f} ms, through the emulator "
        f"p50 {r['through_p50_ms']:.2f} ms (+{r['through_p50_ms'] - r['direct_p50_ms']:.2f} ms)"
    )
    return r


# ---------------------------------------------------------------- 11. Service Connect


# Runs in a child process that has joined a task's network namespace
# (setns, as `nsenter -n` does): one HTTP/1.0 GET per new connection, so
# that the proxy's connection set-up is in every figure, as in busybox
# httpd's own answers (it closes after each).
SC_CHILD = r"""
import ctypes, json, os, socket, sys, time
pid, mode = sys.argv[1], sys.argv[2]
fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:
    raise SystemExit(f"setns: {os.strerror(ctypes.get_errno())}")

def get(addr):
    with socket.create_connection(addr, timeout=5) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        buf = b""
        while True:
            b = c.recv(65536)
            if not b:
                return buf
            buf += b

if mode == "latency":
    direct = (sys.argv[3], int(sys.argv[4]))
    through = (sys.argv[5], int(sys.argv[6]))
    n = int(sys.argv[7])
    for _ in range(50):
        get(direct); get(through)
    d, t = [], []
    for i in range(n):
        pair = ((direct, d), (through, t)) if i % 2 == 0 else ((through, t), (direct, d))
        for addr, out in pair:
            t0 = time.perf_counter()
            if b" 200 " not in get(addr).split(b"\r\n", 1)[0]:
                raise SystemExit("a request failed")
            out.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({"direct": d, "through": t}))
else:
    # Until an answer names a host not seen in the first ones: the wall
    # time it came.
    through = (sys.argv[3], int(sys.argv[4]))
    known = set(sys.argv[5].split(","))
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            body = get(through).split(b"\r\n\r\n", 1)[-1].decode().strip()
        except OSError:
            body = ""
        if body and body not in known:
            print(json.dumps({"at": time.time(), "host": body}))
            break
        time.sleep(0.001)
    else:
        raise SystemExit("no new host answered within 60 s")
"""


def sc_child(args, pid, *argv):
    out = subprocess.run([args.python, "-c", SC_CHILD, str(pid), *map(str, argv)], capture_output=True, text=True)
    if out.returncode != 0:
        raise BenchError(f"the probe in the task's namespace failed: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout)


def service_tasks(ecs, name):
    _, out = ecs.call("ListTasks", {"cluster": SVC_CLUSTER, "serviceName": name})
    arns = out.get("taskArns", [])
    if not arns:
        return []
    _, out = ecs.call("DescribeTasks", {"cluster": SVC_CLUSTER, "tasks": arns})
    return out.get("tasks", [])


def task_ip(task):
    for a in task.get("attachments", []):
        for d in a.get("details", []):
            if d.get("name") == "privateIPv4Address":
                return d.get("value")
    raise BenchError(f"no address for {task.get('taskArn')}")


def bench_sc(args):
    """Service Connect: request latency from a client task through its
    alias `api:80` (the task's proxy, then the server at 8080) against the
    same requests straight to the server task's address, alternated; and
    the time from a new server task's RUNNING (its startedAt) to its first
    answer through the alias."""
    load = loadavg()
    emu, port = start_emulator(args, "emulator-sc", ["--in-memory"])
    try:
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": SVC_CLUSTER})
        json_call(port, "Route53AutoNaming_v20170314.CreateHttpNamespace", {"Name": "bench"})
        server = {
            "family": "sc-server",
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [
                {
                    "name": "web",
                    "image": IMAGE,
                    "essential": True,
                    "command": [
                        "sh", "-c",
                        "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www",
                    ],
                    "portMappings": [{"containerPort": 8080, "name": "http"}],
                    "stopTimeout": 2,
                }
            ],
        }
        ecs.call("RegisterTaskDefinition", server)
        ecs.call("RegisterTaskDefinition", service_task_definition("sc-client"))
        for name, family, sc in (
            ("api", "sc-server", {"enabled": True, "namespace": "bench", "services": [
                {"portName": "http", "discoveryName": "api", "clientAliases": [{"port": 80, "dnsName": "api"}]}]}),
            ("web", "sc-client", {"enabled": True, "namespace": "bench"}),
        ):
            ecs.call("CreateService", {
                "cluster": SVC_CLUSTER, "serviceName": name, "taskDefinition": family, "desiredCount": 1,
                "launchType": "FARGATE", "networkConfiguration": NETWORK,
                "serviceConnectConfiguration": sc,
            })
            wait_stable(ecs, [name], 120)
        client = service_tasks(ecs, "web")[0]
        client_id = client["taskArn"].rsplit("/", 1)[-1]
        pid = docker("inspect", "-f", "{{.State.Pid}}", f"fargate-local-{client_id}").strip()
        server_ip = task_ip(service_tasks(ecs, "api")[0])
        lat = sc_child(args, pid, "latency", server_ip, 8080, "127.255.0.1", 80, args.sc_requests)

        # RUNNING → reachable through the alias, scaling 1 → 2 and back.
        ready = []
        for _ in range(args.sc_runs):
            hosts = {sc_child(args, pid, "first", "127.255.0.1", 80, "-")["host"]}
            before = {t["taskArn"] for t in service_tasks(ecs, "api")}
            probe = subprocess.Popen(
                [args.python, "-c", SC_CHILD, pid, "first", "127.255.0.1", "80", ",".join(hosts)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            )
            ecs.call("UpdateService", {"cluster": SVC_CLUSTER, "service": "api", "desiredCount": 2})
            out, err = probe.communicate(timeout=90)
            if probe.returncode != 0:
                raise BenchError(f"the probe failed: {err.strip()[-500:]}")
            seen = json.loads(out)
            new = [t for t in service_tasks(ecs, "api") if t["taskArn"] not in before]
            started = new[0].get("startedAt") if new else None
            if started is None:
                raise BenchError("the new task has no startedAt")
            ready.append((seen["at"] - float(started)) * 1000)
            ecs.call("UpdateService", {"cluster": SVC_CLUSTER, "service": "api", "desiredCount": 1})
            wait_stable(ecs, ["api"], 120)
        for name in ("web", "api"):
            ecs.call("DeleteService", {"cluster": SVC_CLUSTER, "service": name, "force": True})
        ecs.close()
    finally:
        emu.stop()
    d = sorted(lat["direct"])
    t = sorted(lat["through"])

    def pct(v, p):
        return v[min(len(v) - 1, int(len(v) * p))]

    r = {
        "requests": args.sc_requests,
        "load": [load, loadavg()],
        "direct_p50_ms": pct(d, 0.5),
        "direct_p99_ms": pct(d, 0.99),
        "through_p50_ms": pct(t, 0.5),
        "through_p99_ms": pct(t, 0.99),
        "ready_ms": [round(x, 1) for x in ready],
    }
    log(
        f"sc: direct p50 {r['direct_p50_ms']:.3f} ms, through the alias p50 {r['through_p50_ms']:.3f} ms; "
        f"RUNNING → reachable {r['ready_ms']} ms"
    )
    return r


# ---------------------------------------------------------------- 10. SQS


SQS_AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/sqs/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=00"
)


def sqs_call(port, op, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request(
        "POST",
        "/",
        json.dumps(body).encode(),
        {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS." + op, "Authorization": SQS_AUTH},
    )
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    if resp.status != 200:
        raise BenchError(f"SQS {op} answered {resp.status}: {raw[:300]!r}")
    return json.loads(raw) if raw else {}


def wrk_sqs(args, port, pid, mode, queue, conns):
    """One wrk run of scripts/bench/sqs.lua: messages per second (sent, or
    deleted after being received) and the server's CPU time per message."""
    env = dict(os.environ, BENCH_MODE=mode, BENCH_QUEUE=queue)
    cpu0 = cpu_seconds(pid)
    argv = [
        "wrk", f"-t{min(conns, args.wrk_threads)}", f"-c{conns}", f"-d{args.sqs_secs}s",
        "--timeout", "10s", "-s", args.sqs_lua, f"http://127.0.0.1:{port}/",
    ]
    r = subprocess.run(argv, capture_output=True, text=True, env=env)
    m = re.search(r"BENCH_RESULT (.*)", r.stdout)
    if r.returncode != 0 or not m:
        raise BenchError(f"wrk failed ({r.returncode}): {r.stdout}{r.stderr}")
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    cpu = cpu_seconds(pid) - cpu0
    msgs = res["requests"] if mode == "send" else res["deletes"]
    res["msgs"] = msgs
    res["msgs_per_s"] = msgs / res["secs"]
    res["cpu_us_per_msg"] = cpu * 1e6 / max(msgs, 1)
    if res["non2xx"] or res["socket_errors"]:
        log(f"  warning: sqs {mode}: {int(res['non2xx'])} non-2xx answers, {int(res['socket_errors'])} socket errors")
    return res


def bench_sqs(args):
    """SQS messages per second through the emulator (durable, the default)
    and through moto's server, run by run alternated: SendMessage on 1 and 16
    connections, then ReceiveMessage + DeleteMessage on 1 and 16 from what
    was sent."""
    load = loadavg()
    servers = []
    try:
        emu, emu_port = start_emulator(args, "emulator-sqs", ["--data-dir", os.path.join(args.tmp, "data-sqs")])
        servers.append(emu)
        moto, moto_port = start_moto(args, "moto-sqs")
        servers.append(moto)
        who = {"emulator": (emu, emu_port), "moto": (moto, moto_port)}
        queues = {k: sqs_call(port, "CreateQueue", {"QueueName": "bench"})["QueueUrl"] for k, (_, port) in who.items()}
        rows = []
        for mode in ("send", "receive"):
            for conns in (1, 16):
                row = {"mode": mode, "conns": conns}
                for k in ("emulator", "moto") if conns == 1 else ("moto", "emulator"):
                    proc, port = who[k]
                    if mode == "receive":
                        # Enough messages for the run not to empty the queue:
                        # twice what its fastest send run sent, topped up by
                        # an unmeasured send run when short.
                        need = 2 * max(r[k]["msgs"] for r in rows if r["mode"] == "send")
                        if sqs_depth(port, queues[k]) < need:
                            wrk_sqs(args, port, proc.pid, "send", queues[k], 16)
                    row[k] = wrk_sqs(args, port, proc.pid, mode, queues[k], conns)
                    row[k]["left"] = sqs_depth(port, queues[k])
                log(
                    f"sqs {mode} on {conns} connection(s): emulator {row['emulator']['msgs_per_s']:.0f} msg/s "
                    f"({row['emulator']['cpu_us_per_msg']:.0f} µs CPU/msg), moto {row['moto']['msgs_per_s']:.0f} msg/s "
                    f"({row['moto']['cpu_us_per_msg']:.0f} µs CPU/msg)"
                )
                rows.append(row)
    finally:
        for s in servers:
            s.stop()
    return {"secs": args.sqs_secs, "rows": rows, "load": [load, loadavg()]}


def sqs_depth(port, queue):
    """ApproximateNumberOfMessages: the messages ready to be received."""
    attrs = sqs_call(port, "GetQueueAttributes", {"QueueUrl": queue, "AttributeNames": ["ApproximateNumberOfMessages"]})
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def yes(ok):
    return "yes" if ok else "**no**"


CONSOLE_CLUSTER = "console-bench"


def console_get(port, path):
    """One console page: (status, server ms from Server-Timing, client ms)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    wall = (time.perf_counter() - t0) * 1000
    conn.close()
    timing = resp.getheader("server-timing") or ""
    m = re.search(r"dur=([0-9.]+)", timing)
    if resp.status != 200 or not m:
        raise BenchError(f"console {path} answered {resp.status} ({timing!r})")
    return float(m.group(1)), wall


def console_api_read(ecs):
    """What a client calls to read the cluster the cluster page shows, as the
    console reads it: ListServices, DescribeServices (10 at a time),
    ListTasks (RUNNING and STOPPED, 100 a page), DescribeTasks (100 at a
    time). Client-side milliseconds."""
    t0 = time.perf_counter()
    arns, token = [], None
    while True:
        body = {"cluster": CONSOLE_CLUSTER, "maxResults": 100}
        if token:
            body["nextToken"] = token
        _, out = ecs.call("ListServices", body)
        arns += out.get("serviceArns", [])
        token = out.get("nextToken")
        if not token:
            break
    for i in range(0, len(arns), 10):
        ecs.call("DescribeServices", {"cluster": CONSOLE_CLUSTER, "services": arns[i : i + 10]})
    tasks = []
    for desired in ("RUNNING", "STOPPED"):
        token = None
        while True:
            body = {"cluster": CONSOLE_CLUSTER, "desiredStatus": desired, "maxResults": 100}
            if token:
                body["nextToken"] = token
            _, out = ecs.call("ListTasks", body)
            tasks += out.get("taskArns", [])
            token = out.get("nextToken")
            if not token:
                break
    for i in range(0, len(tasks), 100):
        ecs.call("DescribeTasks", {"cluster": CONSOLE_CLUSTER, "tasks": tasks[i : i + 100]})
    return (time.perf_counter() - t0) * 1000, len(arns), len(tasks)


def bench_console(args):
    emu, port = start_emulator(args, "emulator-console", ["--in-memory"])
    try:
        ecs = Ecs(port)
        ecs.call("CreateCluster", {"clusterName": CONSOLE_CLUSTER})
        ecs.call("RegisterTaskDefinition", service_task_definition("console-svc"))
        job = service_task_definition("console-job")
        job["containerDefinitions"][0]["command"] = ["true"]
        ecs.call("RegisterTaskDefinition", job)
        names = [f"svc-{i:02d}" for i in range(args.console_services)]
        for name in names:
            ecs.call(
                "CreateService",
                {
                    "cluster": CONSOLE_CLUSTER,
                    "serviceName": name,
                    "taskDefinition": "console-svc",
                    "desiredCount": 1,
                    "launchType": "FARGATE",
                    "networkConfiguration": NETWORK,
                },
            )
        stopped = args.console_tasks - len(names)
        log(f"console: {len(names)} services and {stopped} standalone tasks that exit at once")
        i = 0
        while i < stopped:
            status, out = ecs.call(
                "RunTask",
                {
                    "cluster": CONSOLE_CLUSTER,
                    "taskDefinition": "console-job",
                    "count": min(10, stopped - i),
                    "launchType": "FARGATE",
                    "networkConfiguration": NETWORK,
                },
                ok=False,
            )
            # Fargate's launch-rate quota, as the emulator applies it: wait
            # for the bucket to refill, as an SDK's retries would.
            if status == 400 and out.get("__type") == "ThrottlingException":
                time.sleep(1)
                continue
            if status != 200 or out.get("failures"):
                raise BenchError(f"RunTask answered {status}: {out}")
            i += 10
        t0 = time.perf_counter()
        while True:
            _, out = ecs.call("ListTasks", {"cluster": CONSOLE_CLUSTER, "desiredStatus": "RUNNING", "maxResults": 100})
            running = out.get("taskArns", [])
            _, d = ecs.call("DescribeServices", {"cluster": CONSOLE_CLUSTER, "services": names[:10]})
            _, d2 = ecs.call("DescribeServices", {"cluster": CONSOLE_CLUSTER, "services": names[10:20]})
            steady = all(s.get("runningCount") == 1 for s in d.get("services", []) + d2.get("services", []))
            if len(running) == len(names) and steady:
                break
            if time.perf_counter() - t0 > 600:
                raise BenchError(f"console: {len(running)} tasks still running after 600 s")
            time.sleep(1)
        _, total, ntasks = console_api_read(ecs)
        if ntasks < args.console_tasks:
            raise BenchError(f"console: only {ntasks} tasks listed")
        _, out = ecs.call("ListTasks", {"cluster": CONSOLE_CLUSTER, "serviceName": names[0]})
        task_id = out["taskArns"][0].rsplit("/", 1)[1]
        root = "/_fargate-local/console/"
        pages = {
            "clusters": root,
            "cluster": f"{root}clusters/{CONSOLE_CLUSTER}",
            "service": f"{root}clusters/{CONSOLE_CLUSTER}/services/{names[0]}",
            "task": f"{root}clusters/{CONSOLE_CLUSTER}/tasks/{task_id}",
            "task definitions": f"{root}task-definitions",
            "task definition diff": f"{root}task-definitions/console-svc",
            "SQS queues": f"{root}queues",
            "IAM roles": f"{root}roles",
            "Cloud Map": f"{root}namespaces",
        }
        load0 = loadavg()
        server = {k: [] for k in pages}
        client = {k: [] for k in pages}
        api = []
        for _ in range(args.console_runs):
            for name, path in pages.items():
                srv, wall = console_get(port, path)
                server[name].append(srv)
                client[name].append(wall)
            api.append(console_api_read(ecs)[0])
        ecs.close()
        rows = []
        for name in pages:
            rows.append(
                {
                    "page": name,
                    "server_p50_ms": statistics.median(server[name]),
                    "server_max_ms": max(server[name]),
                    "client_p50_ms": statistics.median(client[name]),
                }
            )
        return {
            "services": total,
            "tasks": ntasks,
            "runs": args.console_runs,
            "rows": rows,
            "api_p50_ms": statistics.median(api),
            "load": (load0, loadavg()),
        }
    finally:
        emu.stop()


# ---------------------------------------------------------------- iam


IAM_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
IAM_ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ecs:DescribeClusters", "ecs:DescribeTasks"], "Resource": "*"}]})


def iam_call(port, action, params):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = urllib.parse.urlencode(dict(params, Action=action, Version="2010-05-08"))
    c.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    if r.status != 200:
        raise BenchError(f"IAM {action} answered {r.status}: {text[:300]}")


def task_access_key(task_arn):
    """The task role's access key, fetched inside the task as an SDK would."""
    name = f"fargate-local-{task_arn.rsplit('/', 1)[1]}-web"
    for _ in range(40):
        r = subprocess.run(
            ["docker", "exec", name, "sh", "-c",
             "wget -q -O - http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
            capture_output=True, text=True)
        if r.returncode == 0:
            return json.loads(r.stdout)["AccessKeyId"]
        time.sleep(0.25)
    raise BenchError(f"no task credentials from {name}")


def bench_iam(args):
    """The cost of `serve --iam enforce` against `off` on two paths: an
    app's DescribeClusters signed with its task credentials (one policy
    evaluation per call, wrk), and RunTask → RUNNING of a task whose task
    role and execution role ECS must be able to assume (median of
    --iam-runs, alternating)."""
    load = loadavg()
    servers, ports = {}, {}
    try:
        for mode in ("enforce", "off"):
            proc, port = start_emulator(args, f"emulator-iam-{mode}", ["--in-memory", "--iam", mode])
            servers[mode], ports[mode] = proc, port
            iam_call(port, "CreateRole", {"RoleName": "bench-app", "AssumeRolePolicyDocument": IAM_TRUST})
            iam_call(port, "PutRolePolicy", {"RoleName": "bench-app", "PolicyName": "read",
                                             "PolicyDocument": IAM_ALLOW})
            ecs = Ecs(port)
            ecs.call("CreateCluster", {"clusterName": CLUSTER})
            td = task_definition("bench-two")
            td["taskRoleArn"] = td["executionRoleArn"] = "bench-app"
            ecs.call("RegisterTaskDefinition", td)
            run_emulator_task(ecs, args.poll_ms / 1000)  # warm-up
            ecs.close()
        runs = {"enforce": [], "off": []}
        for i in range(args.iam_runs):
            for mode in ("enforce", "off") if i % 2 == 0 else ("off", "enforce"):
                ecs = Ecs(ports[mode])
                runs[mode].append(run_emulator_task(ecs, args.poll_ms / 1000)[0])
                ecs.close()
            log(f"RunTask with roles run {i + 1}/{args.iam_runs}: enforce {runs['enforce'][-1] * 1000:.0f} ms, "
                f"off {runs['off'][-1] * 1000:.0f} ms")
        api = {}
        for mode in ("enforce", "off"):
            ecs = Ecs(ports[mode])
            arn = running_task(ecs)
            ecs.close()
            key = task_access_key(arn)
            os.environ["BENCH_ACCESS_KEY"] = key
            try:
                api[mode] = wrk(args, ports[mode], "DescribeClusters", {"clusters": [CLUSTER]}, servers[mode].pid)
            finally:
                del os.environ["BENCH_ACCESS_KEY"]
            if api[mode]["non2xx"]:
                raise BenchError(f"DescribeClusters with task credentials under {mode} was refused")
            log(f"DescribeClusters with task credentials, --iam {mode}: {api[mode]['rps']:.0f} req/s "
                f"p50 {api[mode]['p50_us']:.0f} µs ({api[mode]['cpu_us_per_req']:.0f} µs CPU/req)")
    finally:
        for proc in servers.values():
            proc.stop()
    # Instructions per request, counted by callgrind in the emulator
    # process: the CPU cost without the machine's noise (the wrk figure's
    # CPU per request moves by ±15 % from run to run at 2 µs of
    # difference).
    instructions = {}
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "iam-callgrind.py")
    for mode in ("off", "enforce"):
        r = subprocess.run(
            [args.python, script, "--bin", args.bin, "--mode", mode, "-n", "2000"],
            capture_output=True, text=True, timeout=600,
        )
        m = re.search(r"IAM_CALLGRIND .* per_request=(\d+)", r.stdout)
        if not m:
            raise BenchError(f"iam-callgrind.py --mode {mode} (needs valgrind): {r.stdout[-500:]} {r.stderr[-1500:]}")
        instructions[mode] = int(m.group(1))
        log(f"DescribeClusters with task credentials, --iam {mode}: {instructions[mode]} instructions per request")
    return {
        "load": [load, loadavg()],
        "runs": args.iam_runs,
        "api": api,
        "instructions": instructions,
        "runtask_enforce_ms": [round(x * 1000, 1) for x in runs["enforce"]],
        "runtask_off_ms": [round(x * 1000, 1) for x in runs["off"]],
        "runtask_enforce_median_ms": statistics.median(runs["enforce"]) * 1000,
        "runtask_off_median_ms": statistics.median(runs["off"]) * 1000,
    }


# ---------------------------------------------------------------- 11. Egress


def egress_server(args, mib):
    """A busybox httpd serving /blob (mib MiB) on a network of this run,
    published on the default bridge's gateway (what host.docker.internal
    is in a task). Returns (container, network, port)."""
    label = ["--label", f"fargate-local-bench.run={args.run}"]
    net = f"fl-bench-{args.run}-egress"
    name = f"fl-bench-{args.run}-egress-srv"
    subnet = docker("network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{end}}")
    v4 = next(s for s in subnet.split() if "." in s).split("/")[0]
    a = [int(x) for x in v4.split(".")]
    gateway = f"{a[0]}.{a[1]}.{a[2]}.{a[3] + 1}"
    docker("network", "create", *label, net)
    docker(
        "run", "-d", "--name", name, "--network", net, *label, "-p", f"{gateway}::8000", IMAGE,
        "sh", "-c", f"mkdir -p /www && head -c {mib * 1048576} /dev/zero > /www/blob && httpd -f -p 8000 -h /www",
    )
    port = int(docker("port", name, "8000").splitlines()[0].rsplit(":", 1)[1])
    # The blob is written before httpd listens (seconds for 256 MiB); until
    # then Docker's proxy accepts and resets, and a download would fail.
    deadline = time.time() + 120
    while True:
        try:
            conn = http.client.HTTPConnection(gateway, port, timeout=5)
            conn.request("HEAD", "/blob")
            ok = conn.getresponse().status == 200
            conn.close()
            if ok:
                break
        except OSError:
            pass
        if time.time() > deadline:
            raise BenchError("the egress server did not answer within 120 s")
        time.sleep(0.2)
    return name, net, port


# Holds the task open after the download, and leaves at once on SIGTERM
# (a shell as PID 1 would otherwise wait for the stop timeout's SIGKILL).
EGRESS_KEEP_CMD = ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]


def egress_run(ecs, family):
    """Seconds the download container ran (Docker's StartedAt to
    FinishedAt), read before the task is stopped and its containers go."""
    _, out = ecs.call(
        "RunTask", {"cluster": CLUSTER, "taskDefinition": family, "launchType": "FARGATE", "networkConfiguration": NETWORK}
    )
    if out.get("failures"):
        raise BenchError(f"RunTask failures: {out['failures']}")
    arn = out["tasks"][0]["taskArn"]
    tid = arn.rsplit("/", 1)[1]
    t0 = time.perf_counter()
    while True:
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        t = d["tasks"][0]
        dl = next(c for c in t["containers"] if c["name"] == "dl")
        if dl.get("lastStatus") == "STOPPED":
            break
        if t.get("lastStatus") == "STOPPED" or time.perf_counter() - t0 > 120:
            raise BenchError(f"the download did not finish: {t.get('stoppedReason')}")
        time.sleep(0.05)
    if dl.get("exitCode") != 0:
        raise BenchError(f"the download failed: exit {dl.get('exitCode')}")
    times = docker("inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", f"fargate-local-{tid}-dl").split()

    def ts(x):
        # 2026-12-07T18:00:00.123456789Z: seconds since midnight is enough.
        hms = x.split("T")[1].rstrip("Z")
        h, m, sec = hms.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)

    ecs.call("StopTask", {"cluster": CLUSTER, "task": arn, "reason": "bench"})
    # The next run starts once this task has stopped and its containers
    # are gone, so that no run shares the machine with the teardown of an
    # earlier one (of either mode). `keep` leaves at once on SIGTERM.
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 60:
        _, d = ecs.call("DescribeTasks", {"cluster": CLUSTER, "tasks": [arn]})
        if d["tasks"][0].get("lastStatus") == "STOPPED":
            break
        time.sleep(0.05)
    else:
        raise BenchError("the task did not stop within 60 s")
    return ts(times[1]) - ts(times[0])


def bench_egress(args):
    mib, rounds = args.egress_mib, args.egress_rounds
    name, net, port = egress_server(args, mib)
    servers = []
    try:
        ecss = {}
        for mode in ("on", "off"):
            proc, p = start_emulator(args, f"emulator-egress-{mode}", ["--in-memory", "--egress", mode])
            servers.append(proc)
            ecs = Ecs(p)
            ecs.call("CreateCluster", {"clusterName": CLUSTER})
            loop = " ".join(["wget -q -O /dev/null http://host.docker.internal:%d/blob || exit 1;" % port] * rounds)
            td = {
                "family": "bench-egress",
                "networkMode": "awsvpc",
                "requiresCompatibilities": ["FARGATE"],
                "cpu": "1024",
                "memory": "2048",
                "containerDefinitions": [
                    {"name": "dl", "image": IMAGE, "essential": False, "command": ["sh", "-c", loop]},
                    {"name": "keep", "image": IMAGE, "essential": True, "command": EGRESS_KEEP_CMD},
                ],
            }
            ecs.call("RegisterTaskDefinition", td)
            ecss[mode] = ecs
        load0 = loadavg()
        secs = {"on": [], "off": []}
        for i in range(args.egress_runs):
            for mode in (("on", "off") if i % 2 == 0 else ("off", "on")):
                secs[mode].append(egress_run(ecss[mode], "bench-egress"))
        load1 = loadavg()
        mb = mib * rounds * 1048576 / 1e6
        rate = {m: [mb / s for s in v] for m, v in secs.items()}
        return {
            "mib": mib,
            "rounds": rounds,
            "runs": args.egress_runs,
            "on_mbps": statistics.median(rate["on"]),
            "off_mbps": statistics.median(rate["off"]),
            "on_runs": [round(x) for x in rate["on"]],
            "off_runs": [round(x) for x in rate["off"]],
            "load": [load0, load1],
        }
    finally:
        for s in servers:
            s.stop()
        docker("rm", "-f", name, check=False)
        docker("network", "rm", net, check=False)


def report(res):
    out = []
    m = res["machine"]
    out.append(f"Machine: {m['cpus']} cores ({m['cpu']}), {m['mem_gib']:.0f} GiB, {m['kernel']}, Docker {m['docker']}.")
    out.append(
        f"Load average before / after the run: {m['load_before']} / {m['load_after']}; "
        f"containers running on the engine besides this run's at the start: {m['other_containers']}."
    )
    out.append(f"Emulator: `{m['bin']}` ({m['build']}); baseline moto {m['moto']}.")
    out.append("")
    if "runtask" in res:
        r = res["runtask"]
        ratio = r["emulator_median_ms"] / r["baseline_median_ms"]
        out.append(f"### 1. RunTask until RUNNING (two containers sharing a namespace), median of {r['runs']}")
        out.append("")
        out.append("| | emulator | baseline: 2x `docker run -d` | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| RunTask → RUNNING | {r['emulator_median_ms']:.0f} ms | {r['baseline_median_ms']:.0f} ms "
            f"| {ratio:.2f}x | ≤ 1.2x | {yes(ratio <= 1.2)} |"
        )
        out.append("")
        out.append(
            f"Poll: DescribeTasks every {r['poll_interval_ms']} ms after the previous answer (one call took "
            f"{r['poll_call_ms']:.2f} ms on average), so RUNNING is seen at most "
            f"{r['poll_interval_ms'] + r['poll_call_ms']:.1f} ms late."
        )
        out.append(f"Load average at the start / end of this benchmark: {r['load'][0]} / {r['load'][1]}.")
        out.append(f"Emulator runs (ms): {r['emulator_ms']}")
        out.append(f"Baseline runs (ms): {r['baseline_ms']}")
        out.append("")
    if "api" in res:
        a = res["api"]
        out.append(
            f"### 2. API latency and throughput: wrk -t{a['threads']} -c{a['conns']} -d{a['secs']}s "
            "(wrk and the server share the 2 cores)"
        )
        out.append("")
        out.append(
            "| operation | emulator req/s | moto req/s | throughput ratio (≥ 100x) | met? "
            "| emulator p50 / p99 | moto p50 / p99 | p99 < 1 ms? | server CPU per request, emulator / moto |"
        )
        out.append("|---|---:|---:|---:|:---:|---:|---:|:---:|---:|")
        for row in a["rows"]:
            e, mo = row["emulator"], row["moto"]
            name = row["op"] + (" (--in-memory)" if row["mode"] == "in-memory" else "")
            lat = f"{e['p50_us'] / 1000:.3f} / {e['p99_us'] / 1000:.3f} ms"
            if mo:
                ratio = e["rps"] / mo["rps"]
                mlat = f"{mo['p50_us'] / 1000:.1f} / {mo['p99_us'] / 1000:.1f} ms"
                cpu = f"{e['cpu_us_per_req']:.0f} µs / {mo['cpu_us_per_req']:,.0f} µs"
                out.append(
                    f"| {name} | {e['rps']:,.0f} | {mo['rps']:,.0f} | {ratio:,.0f}x | {yes(ratio >= 100)} "
                    f"| {lat} | {mlat} | {yes(e['p99_us'] < 1000)} | {cpu} |"
                )
            else:
                cpu = f"{e['cpu_us_per_req']:.0f} µs / –"
                out.append(
                    f"| {name} | {e['rps']:,.0f} | – | – | – | {lat} | – | {yes(e['p99_us'] < 1000)} | {cpu} |"
                )
        errs = [
            f"{r['op']} ({side}): {int(r[side]['non2xx'])} non-2xx, {int(r[side]['socket_errors'])} socket errors"
            for r in a["rows"]
            for side in ("emulator", "moto")
            if r[side] and (r[side]["non2xx"] or r[side]["socket_errors"])
        ]
        out.append("")
        out.append("Errors during the runs: " + ("; ".join(errs) if errs else "none (every answer was 200)."))
        out.append(f"Load average at the start / end of this benchmark: {a['load'][0]} / {a['load'][1]}.")
        out.append("")
    if "start" in res:
        s = res["start"]
        ct = s["emulator_median_ms"] / s["moto_median_ms"]
        cr = s["emulator_rss_mib"] / s["moto_rss_mib"]
        out.append(f"### 3. Cold start and idle memory, median of {s['starts']} starts each")
        out.append("")
        out.append("| | emulator | moto_server | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| spawn → first answered ListClusters | {s['emulator_median_ms']:.1f} ms | {s['moto_median_ms']:.0f} ms "
            f"| {ct:.3f}x | < 25 ms | {yes(s['emulator_median_ms'] < 25)} |"
        )
        out.append(
            f"| idle RSS (VmRSS) after a few requests | {s['emulator_rss_mib']:.1f} MiB | {s['moto_rss_mib']:.1f} MiB "
            f"| {cr:.2f}x | < 15 MiB | {yes(s['emulator_rss_mib'] < 15)} |"
        )
        out.append("")
        out.append(
            "Each emulator start uses a fresh --data-dir (the SQLite file is created); the port is polled every "
            f"{s['poll_interval_ms']} ms with a new connection."
        )
        out.append(f"Load average at the start / end of this benchmark: {s['load'][0]} / {s['load'][1]}.")
        out.append(f"Emulator starts (ms): {s['emulator_ms']}")
        out.append(f"moto starts (ms): {s['moto_ms']}")
    if "image" in res:
        m = res["image"]
        out.append("")
        out.append(f"### The emulator's image ({m.get('image', EMULATOR_IMAGE)}), median of {m['starts']} starts each")
        out.append("")
        out.append("| | image | host binary (baseline) | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| image size (FROM scratch) | {m['size_mb']:.1f} MB | | | < 50 MB | {yes(m['size_mb'] < 50)} |"
        )
        out.append(
            f"| the tasks' infrastructure image, as the host binary builds it | {m['infra_mb']:.1f} MB | | | ≤ 40 MB "
            f"| {yes(m['infra_mb'] <= 40)} |"
        )
        out.append(
            f"| container started (State.StartedAt) → first answered ListClusters | {m['after_start_median_ms']:.1f} ms "
            f"| {m['host_median_ms']:.1f} ms (spawn → answer) | {m['after_start_median_ms'] / m['host_median_ms']:.2f}x "
            f"| < 100 ms | {yes(m['after_start_median_ms'] < 100)} |"
        )
        out.append(
            f"| `docker run` spawned → first answered ListClusters | {m['run_median_ms']:.0f} ms "
            f"| {m['host_median_ms']:.1f} ms | {m['run_median_ms'] / m['host_median_ms']:.1f}x | | |"
        )
        out.append("")
        out.append(
            "The image's emulator runs with the docker run line of `serve --help` (--network host, the socket, "
            f"the instances directory), --in-memory; the host binary is the same release build ({m['binary_mb']:.0f} MB "
            "unstripped), started alternately with it. The port is polled every 0.2 ms with a new connection."
        )
        out.append(f"Load average at the start / end of this benchmark: {m['load'][0]} / {m['load'][1]}.")
        out.append(f"Container start → answer (ms): {m['after_start_ms']}")
        out.append(f"Host binary spawn → answer (ms): {m['host_ms']}")
    if "config" in res:
        r = res["config"]
        extra = r["config_median_ms"] - r["plain_median_ms"]
        out.append("")
        out.append(f"### 4. Configuration sources, median of {r['runs']} (load {r['load'][0]} / {r['load'][1]})")
        out.append("")
        out.append("| | value | target | met? |")
        out.append("|---|---:|---:|:---:|")
        out.append(f"| RunTask → RUNNING, one container, plain | {r['plain_median_ms']:.0f} ms | | |")
        out.append(f"| same with 10 env files (S3) + 10 secrets (5 Secrets Manager JSON keys, 5 SSM SecureStrings) | {r['config_median_ms']:.0f} ms | | |")
        out.append(f"| extra time | {extra:+.0f} ms | < 50 ms | {yes(extra < 50)} |")
        out.append(f"| embedded S3 GetObject, 1 MiB, one connection | {r['get_mib_s']:.0f} MiB/s ({r['get_ms']:.1f} ms each, {r['get_count']} in {r['get_secs']:.1f} s) | | |")
        out.append("")
        out.append("")
    if "firelens-task" in res:
        f = res["firelens-task"]
        out.append(
            f"### 6. FireLens from a container: {f['lines']} lines through the stand-in router, against the "
            f"awslogs driver, median of {f['runs']} runs each (load {f['load'][0]} / {f['load'][1]})"
        )
        out.append("")
        out.append("| | FireLens (fluentd driver → stand-in → cloudwatch_logs) | awslogs | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| sustained lines/s, none lost | {f['firelens_lines_s']:.0f} | {f['awslogs_lines_s']:.0f} "
            f"| {f['firelens_lines_s'] / f['awslogs_lines_s']:.2f}x | ≥ 20,000 | {yes(f['firelens_lines_s'] >= 20000)} |"
        )
        out.append(
            f"| write → GetLogEvents p50 | {f['firelens_p50_ms']:.0f} ms | {f['awslogs_p50_ms']:.0f} ms "
            f"| {f['firelens_p50_ms'] / f['awslogs_p50_ms']:.2f}x | | |"
        )
        out.append(
            f"| write → GetLogEvents p99 | {f['firelens_p99_ms']:.0f} ms | {f['awslogs_p99_ms']:.0f} ms "
            f"| {f['firelens_p99_ms'] / f['awslogs_p99_ms']:.2f}x | | |"
        )
        out.append(f"| router peak RSS (VmHWM) | {f['router_rss_kib'] / 1024:.1f} MiB | | | | |")
        out.append("")
        out.append(
            "The app container writes the lines with `seq | sed` as fast as it can. Write time is the event's "
            "timestamp (Docker's receive time for both drivers); visible time is when a GetLogEvents poll "
            "(every 50 ms) first returned the event, so latencies carry up to 50 ms of polling."
        )
        out.append("")
    if "exec" in res:
        x = res["exec"]
        out.append(f"### 5. ECS Exec against `docker exec`, median of {x['runs']} runs each")
        out.append("")
        out.append("| | `fargate-local exec` | `docker exec` | ratio |")
        out.append("|---|---:|---:|---:|")
        out.append(
            f"| spawn → first byte of `echo first` | {x['first_emulator_median_ms']:.0f} ms "
            f"| {x['first_docker_median_ms']:.0f} ms | {x['first_emulator_median_ms'] / x['first_docker_median_ms']:.2f}x |"
        )
        out.append(
            f"| `cat` of a {x['mib']} MiB random file | {x['cat_emulator_mib_s']:.1f} MiB/s "
            f"| {x['cat_docker_mib_s']:.1f} MiB/s | {x['cat_emulator_mib_s'] / x['cat_docker_mib_s']:.2f}x |"
        )
        if "cat_docker_tty_mib_s" in x:
            out.append(
                f"| the same `cat`, baseline `docker exec -t` (a TTY, as ECS Exec has) | {x['cat_emulator_mib_s']:.1f} MiB/s "
                f"| {x['cat_docker_tty_mib_s']:.1f} MiB/s | {x['cat_emulator_mib_s'] / x['cat_docker_tty_mib_s']:.2f}x |"
            )
        out.append("")
        out.append(
            "`fargate-local exec` calls ExecuteCommand, opens the websocket, does the handshake and the emulator "
            "starts a `docker exec` with a TTY; output that is ready at once goes in frames of up to 32 KiB, each "
            "with a SHA-256 digest, acked by the client. Both sides include spawning their CLI. The cat through "
            "the emulator and through `docker exec -t` is checked to be the file's size."
        )
        out.append(f"Load average at the start / end of this benchmark: {x['load'][0]} / {x['load'][1]}.")
        out.append(f"First byte, emulator (ms): {x['first_emulator_ms']}")
        out.append(f"First byte, docker exec (ms): {x['first_docker_ms']}")
        out.append(f"cat, emulator (s): {x['cat_emulator_s']}")
        out.append(f"cat, docker exec (s): {x['cat_docker_s']}")
        if "cat_docker_tty_s" in x:
            out.append(f"cat, docker exec -t (s): {x['cat_docker_tty_s']}")
    if "firelens-engine" in res:
        f = res["firelens-engine"]
        ratio = f["router_lps"] / f["baseline_lps"]
        out.append("")
        out.append(f"### 7. FireLens router engine: {f['lines']:,} lines over the Forward protocol into CloudWatch Logs")
        out.append("")
        out.append("| | `fargate-local firelens` | baseline: the same messages straight to PutLogEvents | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| sustained lines/s, send → visible in GetLogEvents | {f['router_lps']:,.0f} | {f['baseline_lps']:,.0f} "
            f"| {ratio:.2f}x | ≥ 20,000 lines/s | {yes(f['router_lps'] >= 20000)} |"
        )
        out.append(
            f"| events in the store after SIGTERM (zero loss) | {f['stored']:,} of {f['lines'] + f['rate'] * f['secs']:,} | | "
            f"| all | {yes(f['stored'] == f['lines'] + f['rate'] * f['secs'])} |"
        )
        out.append(
            f"| delay send → visible at {f['rate']} lines/s for {f['secs']} s, p50 / p99 | {f['lat_p50_ms']:.0f} / {f['lat_p99_ms']:.0f} ms "
            f"| {f['base_lat_p50_ms']:.1f} / {f['base_lat_p99_ms']:.1f} ms (one PutLogEvents per line) | | | |"
        )
        out.append(f"| router RSS, max under load / at the end | {f['router_rss_max_mib']:.1f} / {f['router_rss_end_mib']:.1f} MiB | | | | |")
        out.append("")
        out.append(
            "The router runs the config the ECS agent generates for one `awsfirelens` container (forward input with "
            "Mem_Buf_Limit 25MB, the record_modifier adding the three ECS keys, no [SERVICE] so Flush is 1 s) with a "
            "cloudwatch_logs output; each line is a Docker-shaped record (container_id, container_name, source, log). "
            "The delay is dominated by the 1 s flush interval, as with Fluent Bit. "
            f"Router exit status after SIGTERM: {f['router_exit']}."
        )
        out.append(f"Load average at the start / end of this benchmark: {f['load'][0]} / {f['load'][1]}.")
    if "services" in res:
        v = res["services"]
        ratio = v["deploy_median_s"] / v["seq_median_s"]
        out.append("")
        out.append(f"### 8. Services, median of {v['runs']} runs each (load {v['load'][0]} / {v['load'][1]})")
        out.append("")
        out.append("| | emulator | baseline | ratio |")
        out.append("|---|---:|---:|---:|")
        out.append(
            f"| UpdateService → rolling deployment of 3 tasks COMPLETED (services-stable) | {v['deploy_median_s']:.2f} s "
            f"| 3x (RunTask → RUNNING, StopTask → STOPPED) one by one: {v['seq_median_s']:.2f} s | {ratio:.2f}x |"
        )
        per = v["cpu_s"] / v["window_s"]
        idle = v["idle_cpu_s"] / v["window_s"]
        rel = f"{v['cpu_s'] / v['idle_cpu_s']:.1f}x" if v["idle_cpu_s"] > 0 else "– (idle used no CPU)"
        out.append(
            f"| emulator CPU, {v['services']} services of 3 tasks ({v['tasks']} tasks RUNNING) at steady state, "
            f"{v['window_s']:.0f} s window | {v['cpu_s']:.2f} CPU s ({per * 100:.2f}% of a core; "
            f"{v['cpu_s'] / v['services'] / v['window_s'] * 1000:.2f} ms per service per second) "
            f"| idle emulator, no service, same window: {v['idle_cpu_s']:.2f} CPU s ({idle * 100:.2f}% of a core) | {rel} |"
        )
        out.append("")
        out.append(
            "The deployment is maximumPercent 200 / minimumHealthyPercent 100: the 3 new tasks start together, count "
            "as healthy 2 s after RUNNING (no health check; AWS waits 40 s), then the 3 old ones stop. Both sides run "
            "the same one-container busybox task that exits at once on SIGTERM. DescribeServices / DescribeTasks are "
            "polled every 50 ms. CPU is user + system time from /proc/<pid>/stat of each emulator process over the same "
            "window (the containers' own CPU is not counted): the scheduler's rounds (one a second, plus one per task "
            "change) and whatever else the emulator does for the running tasks; the idle emulator's figure is the "
            "floor of a process that serves nothing."
        )
        out.append(
            f"The {v['services']} services reached steady state {v['steady_after_s']:.0f} s after the first CreateService; "
            f"containers of that emulator left after it stopped: {v['left_behind']}."
        )
        out.append(f"Deployments (s): {v['deploy_s']}")
        out.append(f"One by one (s): {v['seq_s']}")
    if "iam" in res:
        r = res["iam"]
        e, o = r["api"]["enforce"], r["api"]["off"]
        cpu = e["cpu_us_per_req"] / o["cpu_us_per_req"]
        p50 = e["p50_us"] / o["p50_us"]
        rt = r["runtask_enforce_median_ms"] / r["runtask_off_median_ms"]
        out.append("### 13. IAM: `serve --iam enforce` against `off`")
        out.append("")
        out.append("| | enforce | off | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(f"| DescribeClusters with task credentials, CPU/request | {e['cpu_us_per_req']:.0f} µs "
                   f"| {o['cpu_us_per_req']:.0f} µs | {cpu:.2f}x | ≤ 1.1x | {yes(cpu <= 1.1)} |")
        if "instructions" in r:
            ie, io_ = r["instructions"]["enforce"], r["instructions"]["off"]
            out.append(f"| same, instructions per request (callgrind, 2000 on one connection) | {ie:,} | {io_:,} "
                       f"| {ie / io_:.2f}x | ≤ 1.1x | {yes(ie / io_ <= 1.1)} |")
        out.append(f"| same, p50 latency (wrk, 16 connections) | {e['p50_us']:.0f} µs | {o['p50_us']:.0f} µs "
                   f"| {p50:.2f}x | ≤ 1.1x | {yes(p50 <= 1.1)} |")
        out.append(f"| same, requests/s | {e['rps']:.0f} | {o['rps']:.0f} | {o['rps'] / e['rps']:.2f}x | | |")
        out.append(f"| RunTask → RUNNING, task and execution role checked, median of {r['runs']} "
                   f"| {r['runtask_enforce_median_ms']:.0f} ms | {r['runtask_off_median_ms']:.0f} ms | {rt:.2f}x | | |")
        out.append("")
        out.append(f"Load average at the start / end of this benchmark: {r['load'][0]} / {r['load'][1]}.")
        out.append(f"RunTask runs (ms): enforce {r['runtask_enforce_ms']}, off {r['runtask_off_ms']}")
        out.append("")
    if "forward" in res:
        f = res["forward"]
        added = f["through_p50_ms"] - f["direct_p50_ms"]
        out.append("")
        out.append(
            f"### 9. `serve --forward`: DynamoDB GetItem, {f['calls']} calls each on one keep-alive connection, "
            f"alternated (load {f['load'][0]} / {f['load'][1]})"
        )
        out.append("")
        out.append("| | through the emulator | baseline: moto directly | added | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| p50 | {f['through_p50_ms']:.2f} ms | {f['direct_p50_ms']:.2f} ms | {added:.2f} ms | ≤ 1 ms "
            f"| {yes(added <= 1.0)} |"
        )
        out.append(
            f"| p99 | {f['through_p99_ms']:.2f} ms | {f['direct_p99_ms']:.2f} ms "
            f"| {f['through_p99_ms'] - f['direct_p99_ms']:.2f} ms | | |"
        )
    if "sc" in res:
        c = res["sc"]
        p50 = c["through_p50_ms"] / c["direct_p50_ms"]
        p99 = c["through_p99_ms"] / c["direct_p99_ms"]
        out.append("")
        out.append(
            f"### 12. Service Connect: HTTP GET from a client task, a new connection each, {c['requests']} "
            f"each way, alternated (load {c['load'][0]} / {c['load'][1]})"
        )
        out.append("")
        out.append("| | through `api:80` (the task's proxy) | baseline: the server task's address | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| p50 | {c['through_p50_ms']:.3f} ms | {c['direct_p50_ms']:.3f} ms | {p50:.2f}x | ≤ 1.2x | {yes(p50 <= 1.2)} |"
        )
        out.append(
            f"| p99 | {c['through_p99_ms']:.3f} ms | {c['direct_p99_ms']:.3f} ms | {p99:.2f}x | ≤ 1.2x | {yes(p99 <= 1.2)} |"
        )
        out.append("")
        ready = sorted(c["ready_ms"])
        out.append(
            f"A new server task's startedAt (RUNNING) to its first answer through the alias, scaling 1 → 2: "
            f"median {ready[len(ready) // 2]:.0f} ms; runs (ms): {c['ready_ms']}."
        )
    if "sqs" in res:
        q = res["sqs"]
        out.append("")
        out.append(
            f"### 10. SQS: messages per second, wrk -d{q['secs']}s per row, durable emulator against moto's server "
            f"(load {q['load'][0]} / {q['load'][1]})"
        )
        out.append("")
        out.append("| | connections | emulator | baseline: moto | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|---:|:---:|")
        names = {"send": "SendMessage", "receive": "ReceiveMessage (10) + DeleteMessage"}
        for r in q["rows"]:
            e, m = r["emulator"], r["moto"]
            # moto may complete no delete at all within a run.
            ratio = e["msgs_per_s"] / m["msgs_per_s"] if m["msgs"] else float("inf")
            shown = f"{ratio:.0f}x" if m["msgs"] else "∞ (moto: none)"
            target = "≥ 50x"
            ok = ratio >= 50
            if r["mode"] == "send" and r["conns"] == 16:
                target = "≥ 50x, ≥ 10,000/s"
                ok = ok and e["msgs_per_s"] >= 10000
            out.append(
                f"| {names[r['mode']]} | {r['conns']} | {e['msgs_per_s']:,.0f}/s (p50 {e['p50_us']:.0f} µs, "
                f"{e['cpu_us_per_msg']:.0f} µs CPU/msg) | {m['msgs_per_s']:,.0f}/s (p50 {m['p50_us']:.0f} µs, "
                f"{m['cpu_us_per_msg']:.0f} µs CPU/msg) | {shown} | {target} | {yes(ok)} |"
            )
        out.append("")
        drained = [
            f"{k} {r['conns']}" for r in q["rows"] if r["mode"] == "receive" for k in ("emulator", "moto") if not r[k]["left"]
        ]
        out.append(
            "Messages ready in the queue after each receive run (emulator / moto): "
            + ", ".join(
                f"{r['emulator']['left']:,} / {r['moto']['left']:,} ({r['conns']} conn)" for r in q["rows"] if r["mode"] == "receive"
            )
            + (f"; **emptied during the run** ({', '.join(drained)}): that rate is a floor" if drained else "; none emptied")
            + ". wrk and the server share the 2 cores; p50 is per request (a receive answers up to 10 messages); "
            "moto's server closes the connection after every answer, so its clients reconnect for each request."
        )
    if "console" in res:
        c = res["console"]
        out.append(
            f"### 11. Console pages: server time with {c['services']} services and {c['tasks']} tasks "
            f"(median and worst of {c['runs']} runs)"
        )
        out.append("")
        out.append("| page | server p50 | server worst | at the client p50 | under 50 ms? |")
        out.append("|---|---:|---:|---:|:---:|")
        for r in c["rows"]:
            out.append(
                f"| {r['page']} | {r['server_p50_ms']:.2f} ms | {r['server_max_ms']:.2f} ms "
                f"| {r['client_p50_ms']:.2f} ms | {yes(r['server_max_ms'] < 50)} |"
            )
        cluster = next(r for r in c["rows"] if r["page"] == "cluster")
        out.append("")
        out.append(
            f"Baseline: the API calls that read the same cluster (ListServices, DescribeServices, ListTasks, "
            f"DescribeTasks) take {c['api_p50_ms']:.2f} ms at the client (p50); the cluster page, drawn from the "
            f"same operations, {cluster['client_p50_ms']:.2f} ms: "
            f"{cluster['client_p50_ms'] / c['api_p50_ms']:.2f}x."
        )
        out.append(f"Load average at the start / end of this benchmark: {c['load'][0]} / {c['load'][1]}.")
        out.append("")
    if "churn" in res:
        c = res["churn"]
        ratio = c["emu_rate"] / c["base_rate"] if c["base_rate"] else float("inf")
        grown_mib = (c["rss1_kib"] - c["rss0_kib"]) / 1024
        per_started = grown_mib / c["started"] * 1000 if c["started"] else float("nan")
        per_kept = grown_mib / c["retained"] * 1000 if c["retained"] else float("nan")
        down = c["shutdown_s"]
        out.append("")
        out.append(
            f"### 16. Churn: {c['clients']} clients running short tasks (two containers, one exiting after 1 s), "
            f"{c['rounds']} x {c['secs']} s each way, alternated (load {c['load'][0]} / {c['load'][1]})"
        )
        out.append("")
        out.append("| | emulator | baseline | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| tasks run to their end per second | {c['emu_rate']:.2f} ({c['emu_tasks']} tasks) "
            f"| bare `docker run`/`wait`/`rm` of the same containers: {c['base_rate']:.2f} ({c['base_tasks']}) "
            f"| {ratio:.2f}x | ≥ 0.8x | {yes(ratio >= 0.8)} |"
        )
        out.append(
            f"| memory grown per thousand stopped tasks retained | {per_kept:.2f} MiB "
            f"({grown_mib:+.1f} MiB for {c['retained']} retained; {per_started:.2f} MiB per thousand of the "
            f"{c['started']} started) | | | ≤ 5 MiB | {yes(per_kept <= 5)} |"
        )
        out.append(
            f"| Ctrl-C (SIGINT) to exit, {c['clients']} tasks in flight | "
            + (f"{down:.2f} s" if down is not None else "more than 120 s")
            + f" | | | ≤ 10 s | {yes(down is not None and down <= 10)} |"
        )
        out.append("")
        out.append(
            "Each client runs one task to its end (RunTask, retried on ThrottlingException as SDKs do, then "
            "DescribeTasks every "
            f"{c['poll_ms']:.0f} ms until STOPPED with EssentialContainerExited), then the next; a task counts if it "
            "ended before its segment did. The baseline client does the same with the Docker CLI (`docker run -d` of "
            "both containers, the job in the side's namespace, `docker wait` of the job, `docker rm -f`). The emulator runs "
            "`--in-memory` and also makes each task's infrastructure container. RSS (VmRSS) is taken after a warm-up "
            "task and again at the end of the last emulator segment, before Ctrl-C; the emulator's containers left "
            f"after it exited: {c['left_behind']}. Tasks that failed (not counted): emulator {c['emu_failed']}, "
            f"baseline {c['base_failed']}."
        )
    if "egress" in res:
        e = res["egress"]
        ratio = e["on_mbps"] / e["off_mbps"]
        out.append("")
        out.append(
            f"### 14. Egress counters: a task downloading {e['rounds']} x {e['mib']} MiB from outside its VPC, "
            f"median of {e['runs']} runs each, interleaved (load {e['load'][0]} / {e['load'][1]})"
        )
        out.append("")
        out.append("| | `--egress on` | baseline: `--egress off` | ratio | target | met? |")
        out.append("|---|---:|---:|---:|---:|:---:|")
        out.append(
            f"| download throughput | {e['on_mbps']:,.0f} MB/s | {e['off_mbps']:,.0f} MB/s | {ratio:.2f}x | ≥ 0.98x | {yes(ratio >= 0.98)} |"
        )
        out.append("")
        out.append(f"Runs (MB/s), on: {e['on_runs']}; off: {e['off_runs']}. Time is the download container's run, from Docker's StartedAt to FinishedAt.")
    return "\n".join(out) + "\n"


def machine(args):
    def sh(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": mem_kib / 1024 / 1024,
        "kernel": "Linux " + os.uname().release,
        "docker": sh("docker", "version", "--format", "{{.Server.Version}}"),
        "load_before": " ".join(open("/proc/loadavg").read().split()[:3]),
        "other_containers": len(sh("docker", "ps", "-q").split()),
        "bin": os.path.relpath(args.bin),
        "build": "debug" if "/debug/" in args.bin else "release",
        "moto": sh(args.python, "-c", "import moto; print(moto.__version__)"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the release emulator binary")
    ap.add_argument("--image", default=EMULATOR_IMAGE, help="the emulator's image for the image section (make image tags it fargate-local:dev)")
    ap.add_argument("--moto", required=True, help="the moto_server executable")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--lua", required=True, help="scripts/bench/awsjson.lua")
    ap.add_argument("--tmp", required=True, help="scratch directory (removed by bench.sh)")
    ap.add_argument("--run", required=True, help="run id: label value of the baseline containers")
    ap.add_argument("--out", required=True, help="where the report and raw JSON go")
    ap.add_argument("--only", default="runtask,api,start,image,config,exec,firelens-task,firelens-engine,services,forward,sqs,console,sc,iam,egress,churn")
    ap.add_argument("--churn-clients", type=int, default=8)
    ap.add_argument("--churn-secs", type=float, default=60.0)
    ap.add_argument("--churn-rounds", type=int, default=2)
    ap.add_argument("--churn-poll-ms", type=float, default=100.0)
    ap.add_argument("--egress-mib", type=int, default=256)
    ap.add_argument("--egress-rounds", type=int, default=4)
    ap.add_argument("--egress-runs", type=int, default=7)
    ap.add_argument("--iam-runs", type=int, default=7)
    ap.add_argument("--sc-requests", type=int, default=2000)
    ap.add_argument("--sc-runs", type=int, default=5)
    ap.add_argument("--sqs-lua", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "sqs.lua"))
    ap.add_argument("--sqs-secs", type=int, default=10)
    ap.add_argument("--forward-calls", type=int, default=2000)
    ap.add_argument("--firelens-lines", type=int, default=100000)
    ap.add_argument("--firelens-runs", type=int, default=3)
    ap.add_argument("--svc-runs", type=int, default=5)
    ap.add_argument("--console-services", type=int, default=20)
    ap.add_argument("--console-tasks", type=int, default=200)
    ap.add_argument("--console-runs", type=int, default=30)
    ap.add_argument("--svc-count", type=int, default=20)
    ap.add_argument("--svc-window", type=float, default=60.0)
    ap.add_argument("--exec-runs", type=int, default=7)
    ap.add_argument("--exec-mib", type=int, default=32)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--poll-ms", type=float, default=5.0)
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--settle-s", type=float, default=0.5)
    ap.add_argument("--wrk-secs", type=int, default=10)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--wrk-conns", type=int, default=16)
    ap.add_argument("--engine-lines", type=int, default=200000)
    ap.add_argument("--engine-rate", type=int, default=1000)
    ap.add_argument("--engine-secs", type=int, default=5)
    args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so every `finally` below stops its servers.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    only = set(args.only.split(","))
    res = {"machine": machine(args)}
    servers = []
    try:
        if only & {"runtask", "api", "config", "exec", "firelens-task"}:
            emu, emu_port = start_emulator(args, "emulator", ["--data-dir", os.path.join(args.tmp, "data")])
            servers.append(emu)
            ecs = Ecs(emu_port)
            ecs.call("CreateCluster", {"clusterName": CLUSTER})
            if "runtask" in only:
                res["runtask"] = bench_runtask(args, ecs)
            if "config" in only:
                res["config"] = bench_config(args, ecs, emu_port)
            if "exec" in only:
                res["exec"] = bench_exec(args, ecs, emu_port)
            if "firelens-task" in only:
                res["firelens-task"] = bench_firelens_task(args, ecs, emu_port)
            ecs.close()
            if "api" in only:
                mem, mem_port = start_emulator(args, "emulator-mem", ["--in-memory"])
                servers.append(mem)
                moto, moto_port = start_moto(args, "moto")
                servers.append(moto)
                rows = bench_api(args, (emu, emu_port), (mem, mem_port), (moto, moto_port))
                res["api"] = {
                    "threads": args.wrk_threads,
                    "conns": args.wrk_conns,
                    "secs": args.wrk_secs,
                    "rows": rows,
                    "load": args.api_load,
                }
            for s in servers:
                s.stop()
            servers.clear()
        if "start" in only:
            res["start"] = bench_start(args)
        if "image" in only:
            res["image"] = bench_image(args)
        if "firelens-engine" in only:
            res["firelens-engine"] = bench_firelens(args)
        if "services" in only:
            res["services"] = bench_services(args)
        if "forward" in only:
            res["forward"] = bench_forward(args)
        if "sqs" in only:
            res["sqs"] = bench_sqs(args)
        if "console" in only:
            res["console"] = bench_console(args)
        if "sc" in only:
            res["sc"] = bench_sc(args)
        if "iam" in only:
            res["iam"] = bench_iam(args)
        if "egress" in only:
            res["egress"] = bench_egress(args)
        if "churn" in only:
            res["churn"] = bench_churn(args)
    finally:
        for s in servers:
            s.stop()
        # Whatever an emulator that gave up on its shutdown left behind
        # (bench.sh's trap does the same when it runs this script).
        docker_cleanup(args)
    res["machine"]["load_after"] = " ".join(open("/proc/loadavg").read().split()[:3])
    text = report(res)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(res, f, indent=2)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        log(f"failed: {e}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
