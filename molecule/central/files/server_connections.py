#!/usr/bin/env python3
"""Samples PostgreSQL's client backends of one database and role per client address (each a
PgBouncer host) every 0.5 s, N times, and prints JSON: the highest total, the highest count per
address, and the addresses over their bound.

Usage: server_connections.py DATABASE ROLE SAMPLES POOL_SIZE ADDRESS=PROCESSES...   (run as postgres)
"""

import json
import subprocess
import sys
import time

database, role, samples, pool_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bounds = {item.split("=")[0]: pool_size * int(item.split("=")[1]) for item in sys.argv[5:]}
query = (
    "SELECT host(client_addr), count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
    f"AND datname = '{database}' AND usename = '{role}' GROUP BY 1"
)
highest_total, highest = 0, {}
for _ in range(samples):
    output = subprocess.run(
        ["psql", "--no-psqlrc", "-X", "-At", "-F", " ", "-c", query],
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
