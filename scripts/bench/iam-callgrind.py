#!/usr/bin/env python3
"""Instructions per request of an app's DescribeClusters signed with its
task credentials, under `serve --iam <mode>`, counted by valgrind's
callgrind in the emulator process (all threads): the request-path cost of
IAM enforcement without the noise of a shared machine. Meant for a debug
build (make bench's section 13 measures the release one in time).

    scripts/bench/iam-callgrind.py --bin target/debug/fargate-local --mode enforce -n 2000

Starts the emulator under callgrind, creates a role allowed to describe
clusters, runs a one-container task with it as its task role (real Docker,
the busybox test image), reads the task's access key from inside the task,
sends 50 warm-up calls, then dumps (which zeroes the counters), sends N
calls on one keep-alive connection and dumps again. Prints one line:
`IAM_CALLGRIND mode=<m> requests=<n> instructions=<total> per_request=<x>`.
"""

import argparse
import glob
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

TARGET = "AmazonEC2ContainerServiceV20141113."
IMAGE = "fargate-local-test/busybox:latest"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": ["ecs:DescribeClusters", "ecs:DescribeTasks"], "Resource": "*"}]})


def auth(key):
    return (f"AWS4-HMAC-SHA256 Credential={key}/20261208/us-east-1/ecs/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-target, Signature=00")


class Client:
    def __init__(self, port, key="test"):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        self.key = key

    def ecs(self, op, body):
        data = json.dumps(body).encode()
        self.conn.request("POST", "/", data, {
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET + op,
            "Authorization": auth(self.key)})
        r = self.conn.getresponse()
        raw = r.read()
        if r.status != 200:
            sys.exit(f"{op} answered {r.status}: {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def iam(self, action, params):
        body = urllib.parse.urlencode(dict(params, Action=action, Version="2010-05-08"))
        self.conn.request("POST", "/", body, {"Content-Type": "application/x-www-form-urlencoded"})
        r = self.conn.getresponse()
        raw = r.read()
        if r.status != 200:
            sys.exit(f"IAM {action} answered {r.status}: {raw[:300]!r}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port, proc, deadline_s=300):
    end = time.time() + deadline_s
    while time.time() < end:
        if proc.poll() is not None:
            sys.exit("the emulator exited")
        try:
            Client(port).ecs("ListClusters", {})
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.5)
    sys.exit("the emulator did not answer")


def task_key(task_arn):
    name = f"fargate-local-{task_arn.rsplit('/', 1)[1]}-web"
    for _ in range(240):
        r = subprocess.run(["docker", "exec", name, "sh", "-c",
                            "wget -q -O - http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return json.loads(r.stdout)["AccessKeyId"]
        time.sleep(0.5)
    sys.exit(f"no task credentials from {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/fargate-local")
    ap.add_argument("--mode", default="enforce", choices=["off", "warn", "enforce"])
    ap.add_argument("-n", type=int, default=2000)
    args = ap.parse_args()
    out_dir = tempfile.mkdtemp(prefix="iam-callgrind-")
    port = free_port()
    log = open(os.path.join(out_dir, "emulator.log"), "w")
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/cg.out",
         args.bin, "serve", "--in-memory", "--iam", args.mode, "--listen", f"127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, NO_COLOR="1", FARGATE_LOCAL_LOG="warn"))
    try:
        wait_up(port, proc)
        host = Client(port)
        host.iam("CreateRole", {"RoleName": "bench-app", "AssumeRolePolicyDocument": TRUST})
        host.iam("PutRolePolicy", {"RoleName": "bench-app", "PolicyName": "read", "PolicyDocument": ALLOW})
        host.ecs("CreateCluster", {"clusterName": "bench"})
        host.ecs("RegisterTaskDefinition", {
            "family": "bench-iam", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512", "taskRoleArn": "bench-app",
            "containerDefinitions": [{"name": "web", "image": IMAGE, "essential": True,
                                      "command": ["sleep", "3600"], "stopTimeout": 2}]})
        task = host.ecs("RunTask", {
            "cluster": "bench", "taskDefinition": "bench-iam", "launchType": "FARGATE",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}})
        arn = task["tasks"][0]["taskArn"]
        app = Client(port, task_key(arn))
        body = {"clusters": ["bench"]}
        for _ in range(50):
            app.ecs("DescribeClusters", body)
        # A dump zeroes the counters: the next one holds only the calls.
        subprocess.run(["callgrind_control", "-d", "before", str(proc.pid)], check=True, capture_output=True)
        for _ in range(args.n):
            app.ecs("DescribeClusters", body)
        subprocess.run(["callgrind_control", "-d", "measured", str(proc.pid)], check=True, capture_output=True)
        host.ecs("StopTask", {"cluster": "bench", "task": arn})
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    total = 0
    for f in glob.glob(f"{out_dir}/cg.out*"):
        text = open(f, errors="replace").read()
        if not re.search(r"^desc: Trigger: .*\bmeasured$", text[:2000], re.M):
            continue
        m = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        if m:
            total += int(m.group(1))
    if not total:
        sys.exit(f"no dump named 'measured' in {out_dir}")
    print(f"IAM_CALLGRIND mode={args.mode} requests={args.n} instructions={total} "
          f"per_request={total / args.n:.0f} dir={out_dir}")


if __name__ == "__main__":
    main()
