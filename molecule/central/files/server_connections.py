#!/usr/bin/env python3
"""Samples PostgreSQL's client backends of one database, role and application_name per client
address (each a PgBouncer host) every 0.5 s, N times, and prints JSON: the highest total, the highest
count per address, and the addresses over their bound.

The load sets its own application_name, which PgBouncer sets on each server connection it links to
one of its clients: idle server connections of other pools on the same database and role (the
session-mode entry an earlier check used) are not counted against this pool.

Usage: server_connections.py DATABASE ROLE APPLICATION SAMPLES POOL_SIZE ADDRESS=PROCESSES...
(run as postgres)
"""

import json
import subprocess
import sys
import time

database, role, application = sys.argv[1], sys.argv[2], sys.argv[3]
samples, pool_size = int(sys.argv[4]), int(sys.argv[5])
bounds = {item.split("=")[0]: pool_size * int(item.split("=")[1]) for item in sys.argv[6:]}


def literal(text):
    return "'" + text.replace("'", "''") + "'"


query = (
    "SELECT host(client_addr), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    f"AND datname = {literal(database)} AND usename = {literal(role)} "
    f"AND application_name = {literal(application)} GROUP BY 1"
)
highest_total, highest = 0, {}
for _ in range(samples):
    output = subprocess.run(
        ["lab-psql", "-At", "-F", " ", "-c", query],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout
    counts = {line.split(" ")[0]: int(line.split(" ")[1]) for line in output.splitlines() if line.strip()}
    highest_total = max(highest_total, sum(counts.values()))
    for address, count in counts.items():
        highest[address] = max(highest.get(address, 0), count)
    time.sleep(0.5)
print(
    json.dumps(
        {
            "highest_total": highest_total,
            "bound": sum(bounds.values()),
            "highest_per_pooler": highest,
            "over_own_pools": sorted(a for a, n in highest.items() if n > bounds.get(a, 0)),
        }
    )
)
