#!/usr/bin/env python3
"""Start N psql sessions running pg_sleep through host:port, cancel them all the way psql does (a
SIGINT makes psql send a CancelRequest on a new connection, which the kernel may hand to any
PgBouncer process on the port), and print as JSON how long each took to return after its cancel
and whether PostgreSQL reported the cancel. Bounded: sessions still running after --bound
seconds are killed.

Usage: cancel_through_port.py HOST PORT USER DATABASE [--sessions N] [--sleep S] [--bound S]
(the password comes from PGPASSWORD)
"""

import argparse
import json
import signal
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("host")
parser.add_argument("port")
parser.add_argument("user")
parser.add_argument("database")
parser.add_argument("--sessions", type=int, default=20)
parser.add_argument("--sleep", type=float, default=20.0)
parser.add_argument("--bound", type=float, default=30.0)
args = parser.parse_args()

command = [
    "psql",
    "--no-psqlrc",
    "-X",
    "-At",
    "-h",
    args.host,
    "-p",
    args.port,
    "-U",
    args.user,
    "-d",
    args.database,
    "-c",
    f"SELECT pg_sleep({args.sleep})",
]
sessions = [
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(args.sessions)
]
time.sleep(2.0)  # every query is running on the server by now
cancelled_at = []
for session in sessions:
    session.send_signal(signal.SIGINT)
    cancelled_at.append(time.monotonic())
ended_at: list = [None] * len(sessions)
deadline = time.monotonic() + args.bound
while None in ended_at and time.monotonic() < deadline:
    for index, session in enumerate(sessions):
        if ended_at[index] is None and session.poll() is not None:
            ended_at[index] = time.monotonic()
    time.sleep(0.02)
results = []
for index, session in enumerate(sessions):
    if session.poll() is None:
        session.kill()
    stderr = session.communicate()[1]
    results.append(
        {
            "seconds": None if ended_at[index] is None else round(ended_at[index] - cancelled_at[index], 3),
            "cancelled": "canceling statement due to user request" in stderr,
            "returncode": session.returncode,
        }
    )
print(json.dumps(results))
