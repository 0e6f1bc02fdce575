#!/usr/bin/env python3
"""Compares two builds of the emulator side by side, interleaved, in one run:
how an optimisation was measured (see BENCHMARKS.md, "Optimisations").

  .venv/bin/python scripts/bench/compare.py OLD_BIN NEW_BIN [--runs 10] [--starts 20] [--wrk-secs 5]

Prints, for each build: RunTask until RUNNING (median, with `docker run -d`
of the same two containers beside it), wrk rates, p99 and server CPU time
per request for the three API calls, and the cold start (fresh data dir) with
the CPU time the process used in its first second. Everything it starts is
stopped and removed before it exits (containers carry the bench label, as in
bench.py). Needs wrk, Docker and the test image, like `make bench`.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--starts", type=int, default=20)
    ap.add_argument("--wrk-secs", type=int, default=5)
    ap.add_argument("--only", default="runtask,api,start")
    a = ap.parse_args()
    only = set(a.only.split(","))
    tmp = tempfile.mkdtemp(prefix="fargate-local-compare.")
    args = argparse.Namespace(
        tmp=tmp,
        run=f"compare-{os.getpid()}",
        lua=os.path.join(os.path.dirname(os.path.abspath(__file__)), "awsjson.lua"),
        wrk_threads=2,
        wrk_conns=16,
        wrk_secs=a.wrk_secs,
        poll_ms=5.0,
    )
    builds = [("old", os.path.abspath(a.old)), ("new", os.path.abspath(a.new))]
    procs = []
    try:
        servers = {}
        if only & {"runtask", "api"}:
            for name, path in builds:
                args.bin = path
                proc, port = bench.start_emulator(args, f"cmp-{name}", ["--data-dir", os.path.join(tmp, name)])
                procs.append(proc)
                ecs = bench.Ecs(port)
                ecs.call("CreateCluster", {"clusterName": bench.CLUSTER})
                ecs.call("RegisterTaskDefinition", bench.task_definition("bench-two"))
                servers[name] = (proc, port, ecs)
        print(f"load average {bench.loadavg()}")
        if "runtask" in only:
            times = {"old": [], "new": [], "docker": []}
            for name, (_, _, ecs) in servers.items():
                bench.run_emulator_task(ecs, 0.005)  # warm-up: the infrastructure image
            bench.run_docker_pair(args, "warm")
            for i in range(a.runs):
                order = ["old", "new", "docker"]
                order = order[i % 3 :] + order[: i % 3]
                for who in order:
                    if who == "docker":
                        times[who].append(bench.run_docker_pair(args, i))
                    else:
                        times[who].append(bench.run_emulator_task(servers[who][2], 0.005)[0])
            base = statistics.median(times["docker"])
            for who, ts in times.items():
                m = statistics.median(ts)
                print(f"RunTask {who:6} median {m * 1000:6.0f} ms  ({m / base:.2f}x docker run)")
        if "api" in only:
            bodies = {}
            for name, (_, _, ecs) in servers.items():
                arn = bench.running_task(ecs)
                bodies[name] = {
                    "DescribeClusters": {"clusters": [bench.CLUSTER]},
                    "DescribeTasks": {"cluster": bench.CLUSTER, "tasks": [arn]},
                    "RegisterTaskDefinition": bench.task_definition("bench-wrk"),
                }
            for op in ("DescribeClusters", "DescribeTasks", "RegisterTaskDefinition"):
                for rnd in range(2):
                    for name, (proc, port, _) in servers.items():
                        r = bench.wrk(args, port, op, bodies[name][op], proc.pid)
                        print(
                            f"{op:24} {name}  {r['rps']:7.0f} req/s  p99 {r['p99_us'] / 1000:7.2f} ms  "
                            f"{r['cpu_us_per_req']:6.1f} µs CPU/req"
                        )
        for name, (proc, _, ecs) in servers.items():
            ecs.close()
        for p in procs:
            p.stop()
        procs.clear()
        if "start" in only:
            res = {name: ([], []) for name, _ in builds}
            for i in range(a.starts):
                for name, path in builds if i % 2 == 0 else builds[::-1]:
                    port = bench.free_port()
                    data = os.path.join(tmp, f"cold-{name}-{i}")
                    argv = [path, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data]
                    proc = bench.Proc(argv, tmp, f"cold-{name}-{i}", dict(os.environ, NO_COLOR="1"), port, True)
                    procs.append(proc)
                    res[name][0].append(bench.first_answer(port, proc))
                    time.sleep(max(0.0, 1.0 - (time.perf_counter() - proc.t0)))
                    res[name][1].append(bench.cpu_seconds(proc.pid))
                    proc.stop()
                    procs.remove(proc)
            for name, (ts, cpu) in res.items():
                print(
                    f"cold start {name}: median {statistics.median(ts) * 1000:5.1f} ms to the first answer, "
                    f"{statistics.median(cpu) * 1000:5.0f} ms CPU in the first second"
                )
        print(f"load average {bench.loadavg()}")
    finally:
        for p in procs:
            p.stop()
        bench.docker_cleanup(args)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
