#!/usr/bin/env python3
"""SHOW POOLS on each of this host's PgBouncer processes (process 1 on /var/run/postgresql,
process n on /run/pgbouncer-n), summed for one database, every 0.5 s for WINDOW seconds: prints
JSON {clients, servers}, the highest sums seen.

Usage: pool_counts.py PROCESSES DATABASE WINDOW   (the admin password comes from PGPASSWORD)
"""

import csv
import io
import json
import subprocess
import sys
import time

processes, database, window = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])


def sample() -> tuple[int, int]:
    clients = servers = 0
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
        for row in csv.DictReader(io.StringIO(output)):
            if row["database"] == database:
                clients += int(row["cl_active"]) + int(row["cl_waiting"])
                servers += int(row["sv_active"]) + int(row["sv_idle"]) + int(row["sv_used"])
    return clients, servers


highest_clients = highest_servers = 0
deadline = time.monotonic() + window
while True:
    clients, servers = sample()
    highest_clients, highest_servers = max(highest_clients, clients), max(highest_servers, servers)
    if time.monotonic() >= deadline:
        break
    time.sleep(0.5)
print(json.dumps({"clients": highest_clients, "servers": highest_servers}))
