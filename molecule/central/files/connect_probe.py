#!/usr/bin/env python3
"""A new connection every --interval seconds to host:port for --duration seconds (each a psql
`SELECT 1`, bounded by --timeout), plus --steady sessions opened at the start that each report the
pooler they run on (PostgreSQL's inet_client_addr()) and then sleep --steady-sleep seconds in one
query. Prints JSON: the probes, the longest run of failed probes in seconds, and each steady
session's pooler and outcome. Bounded: every psql has a timeout; the probe stops by itself.

Usage: connect_probe.py HOST PORT USER DATABASE [--duration S] [--interval S] [--timeout S]
       [--steady N] [--steady-sleep S]     (the password comes from PGPASSWORD)
"""

import argparse
import json
import os
import subprocess
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port")
parser.add_argument("user")
parser.add_argument("database")
parser.add_argument("--duration", type=float, default=12.0)
parser.add_argument("--interval", type=float, default=0.1)
parser.add_argument("--timeout", type=float, default=3.0)
parser.add_argument("--steady", type=int, default=0)
parser.add_argument("--steady-sleep", type=float, default=8.0)
args = parser.parse_args()

environment = {**os.environ, "PGCONNECT_TIMEOUT": str(max(1, int(args.timeout)))}
base = [
    "lab-psql",
    "-At",
    "-h",
    args.host,
    "-p",
    args.port,
    "-U",
    args.user,
    "-d",
    args.database,
]
started = time.monotonic()


def run(command, timeout):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment)
        return done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired:
        return None, "", "timeout"


probes = []
lock = threading.Lock()


def probe(at):
    code, out, err = run([*base, "-c", "SELECT 1"], args.timeout)
    with lock:
        probes.append(
            {"at": round(at, 3), "ok": code == 0 and out.strip() == "1", "error": err.strip()[-200:]}
        )


steady = []


def steady_session(index):
    command = [*base, "-c", "SELECT host(inet_client_addr())", "-c", f"SELECT pg_sleep({args.steady_sleep})"]
    code, out, err = run(command, args.steady_sleep + 10)
    lines = out.split("\n")
    with lock:
        steady.append(
            {"pooler": lines[0].strip() if lines else "", "ok": code == 0, "error": err.strip()[-200:]}
        )


threads = [threading.Thread(target=steady_session, args=(i,)) for i in range(args.steady)]
for thread in threads:
    thread.start()
tick = 0
while True:
    at = tick * args.interval
    if at >= args.duration:
        break
    delay = started + at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    thread = threading.Thread(target=probe, args=(at,))
    thread.start()
    threads.append(thread)
    tick += 1
for thread in threads:
    thread.join()

probes.sort(key=lambda item: item["at"])
longest, run_start = 0.0, None
for item in probes:
    if not item["ok"] and run_start is None:
        run_start = item["at"]
    elif item["ok"] and run_start is not None:
        longest = max(longest, item["at"] - run_start)
        run_start = None
if run_start is not None:
    longest = max(longest, args.duration - run_start)
failed = [item for item in probes if not item["ok"]]
print(
    json.dumps(
        {
            "probes": len(probes),
            "failed": len(failed),
            "longest_gap": round(longest, 3),
            "first_failed_at": failed[0]["at"] if failed else None,
            "last_failed_at": failed[-1]["at"] if failed else None,
            "errors": sorted({item["error"] for item in failed})[:5],
            "steady": steady,
        }
    )
)
