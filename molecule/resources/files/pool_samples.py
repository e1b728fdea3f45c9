#!/usr/bin/env python3
"""SHOW POOLS on each of this host's PgBouncer processes (process 1 on /var/run/postgresql,
process n on /run/pgbouncer-n) every 0.2 s for WINDOW seconds (once at least), for the pools of one
database (of one user, if given). Prints JSON:
- clients, servers: the highest sums over the processes of cl_active + cl_waiting and of
  sv_active + sv_idle + sv_used;
- mean_waiting, waiting_share, most_waiting: clients waiting (summed over the processes) on
  average, the share of samples with one waiting, the most at once;
- most_servers: the most server connections one process held (every sv_ state);
- samples.

Usage: pool_samples.py PROCESSES DATABASE WINDOW [USER]   (the admin password comes from PGPASSWORD)
"""

import csv
import io
import json
import subprocess
import sys
import time

processes, database, window = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
user = sys.argv[4] if len(sys.argv) > 4 else None
SERVER_STATES = ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login")


def sample() -> dict[str, int]:
    counts = {"clients": 0, "servers": 0, "waiting": 0, "most_servers": 0}
    for number in range(1, processes + 1):
        directory = "/var/run/postgresql" if number == 1 else f"/run/pgbouncer-{number}"
        output = subprocess.run(
            [
                "lab-psql",
                "--csv",
                "-h",
                directory,
                "-p",
                "6432",
                "-U",
                "pgbouncer_admin",
                "-d",
                "pgbouncer",
                "-c",
                "SHOW POOLS",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
        held = 0
        for row in csv.DictReader(io.StringIO(output)):
            if row["database"] != database or (user is not None and row["user"] != user):
                continue
            counts["clients"] += int(row["cl_active"]) + int(row["cl_waiting"])
            counts["servers"] += int(row["sv_active"]) + int(row["sv_idle"]) + int(row["sv_used"])
            counts["waiting"] += int(row["cl_waiting"])
            held += sum(int(row[state]) for state in SERVER_STATES)
        counts["most_servers"] = max(counts["most_servers"], held)
    return counts


results = []
deadline = time.monotonic() + window
while True:
    results.append(sample())
    if time.monotonic() >= deadline:
        break
    time.sleep(0.2)
print(
    json.dumps(
        {
            "samples": len(results),
            "clients": max(r["clients"] for r in results),
            "servers": max(r["servers"] for r in results),
            "mean_waiting": round(sum(r["waiting"] for r in results) / len(results), 3),
            "waiting_share": round(sum(1 for r in results if r["waiting"]) / len(results), 3),
            "most_waiting": max(r["waiting"] for r in results),
            "most_servers": max(r["most_servers"] for r in results),
        }
    )
)
