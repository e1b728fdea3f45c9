#!/usr/bin/env python3
"""Start N psql sessions running pg_sleep through host:port, wait until PostgreSQL runs every one
of them, cancel them all the way psql does (a
SIGINT makes psql send a CancelRequest on a new connection, which the kernel may hand to any
PgBouncer process on the port), and print as JSON how long each took to return after its cancel
and whether PostgreSQL reported the cancel. Bounded: sessions still running after --bound
seconds are killed.

Usage: cancel_through_port.py HOST PORT USER DATABASE [--sessions N] [--sleep S] [--bound S] [--spacing S]
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
# Seconds between two cancels: 0 sends them in one burst.
parser.add_argument("--spacing", type=float, default=0.0)
args = parser.parse_args()

command = [
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
    "-c",
    f"SELECT pg_sleep({args.sleep})",
]
sessions = [
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for _ in range(args.sessions)
]
# Cancel only once every query runs on the server (a cancel that comes first finds an idle client
# and cancels nothing): the role sees its own sessions in pg_stat_activity.
count_running = [
    *command[:-2],
    "-c",
    f"SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query = 'SELECT pg_sleep({args.sleep})'",
]
ready_by = time.monotonic() + 10.0
while time.monotonic() < ready_by:
    counted = subprocess.run(count_running, capture_output=True, text=True, timeout=10)
    if counted.returncode == 0 and counted.stdout.strip() == str(args.sessions):
        break
    time.sleep(0.2)
cancelled_at: list = [None] * len(sessions)
ended_at: list = [None] * len(sessions)
first_cancel = time.monotonic()
deadline = first_cancel + args.spacing * len(sessions) + args.bound
while None in ended_at and time.monotonic() < deadline:
    now = time.monotonic()
    for index, session in enumerate(sessions):
        if cancelled_at[index] is None and now >= first_cancel + index * args.spacing:
            session.send_signal(signal.SIGINT)
            cancelled_at[index] = time.monotonic()
        if cancelled_at[index] is not None and ended_at[index] is None and session.poll() is not None:
            ended_at[index] = time.monotonic()
    time.sleep(0.005)
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
            "error": "" if "canceling statement due to user request" in stderr else stderr.strip()[-160:],
        }
    )
print(json.dumps(results))
