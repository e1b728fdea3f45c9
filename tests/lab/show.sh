#!/usr/bin/env bash
# Shows how to reach the lab's PgBouncer and a short proof that it pools: 30 concurrent clients
# through PgBouncer, and the server connections PostgreSQL saw for them; then what the monitoring
# host sees: its scrape targets, the firing alerts and each pool's waiting clients.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/env.sh
source "$here/../env.sh"
app_password="$(sed -n 's/^lab_app_password: //p' tests/lab/inventory/group_vars/all/secrets.yml)"

echo "== proof: pgbench -S -M prepared, 50 clients x 200 transactions through PgBouncer on pgbt-lab-app1"
echo "   (2 PgBouncer processes on port 6432, pool_size 20 each: at most 40 server connections)"
podman exec pgbt-lab-db runuser -u postgres -- sh -c \
  "pgbench -i -s 1 -q app >/dev/null 2>&1 && psql -XAtq -d app -c 'GRANT ALL ON ALL TABLES IN SCHEMA public TO app'"
podman exec -e PGPASSWORD="$app_password" pgbt-lab-app1 \
  pgbench -h 127.0.0.1 -p 6432 -U app -S -M prepared -c 50 -j 10 -t 200 -n app 2>/dev/null \
  | grep -E 'clients|processed|failed|tps'
echo "server connections PostgreSQL has for database app, by client address:"
podman exec pgbt-lab-db runuser -u postgres -- psql -XA -F ' ' -d postgres -c \
  "SELECT client_addr, count(*) AS server_connections FROM pg_stat_activity WHERE datname = 'app' GROUP BY 1"
for socket in /var/run/postgresql /run/pgbouncer-2; do
  echo "SHOW POOLS of the process on $socket, pgbt-lab-app1 (console over its unix socket, as postgres):"
  podman exec pgbt-lab-app1 runuser -u postgres -- \
    psql -XA -F '|' -h "$socket" -p 6432 -U pgbouncer -d pgbouncer -c "SHOW POOLS" \
    | awk -F'|' 'NF > 15 { printf "%-16s %-16s %-10s %-10s %-8s %-8s %s\n", $1, $2, $3, $4, $7, $10, $16 }'
done

echo
echo "== monitoring: Prometheus and Alertmanager on pgbt-lab-app1 (127.0.0.1:9090 and :9093 in the container)"
podman exec -i pgbt-lab-app1 python3 - <<'PY'
import json
import urllib.parse
import urllib.request


def get(path):
    with urllib.request.urlopen("http://127.0.0.1:9090" + path, timeout=10) as response:
        return json.load(response)["data"]


targets = get("/api/v1/targets?state=active")["activeTargets"]
print("targets:", ", ".join(
    f"{t['labels']['job']}/{t['labels'].get('host')}/{t['labels'].get('process', '-')}={t['health']}" for t in targets))
alerts = [a for a in get("/api/v1/alerts")["alerts"] if a["state"] == "firing"]
print("firing alerts:", ", ".join(
    f"{a['labels']['alertname']}({a['labels'].get('host')}/{a['labels'].get('process', '-')})" for a in alerts) or "none")
print("pools (host process database/user: clients waiting, server connections in use):")
rows = {}
for column, expr in (("waiting", "pgbouncer_pools_client_waiting_connections"),
                     ("in_use", "pgbouncer:pool_server_connections_in_use")):
    for series in get("/api/v1/query?query=" + urllib.parse.quote(expr))["result"]:
        labels = series["metric"]
        key = (labels.get("host"), labels.get("process"), labels.get("database"), labels.get("user"))
        rows.setdefault(key, {})[column] = series["value"][1]
for (host, process, database, user), values in sorted(rows.items()):
    print(f"  {host} {process} {database}/{user}: {values.get('waiting', '?')}, {values.get('in_use', '?')}")
PY

cat <<HELP

== the lab is up
  podman exec -it pgbt-lab-app1 bash                     # an application host
  PGPASSWORD='<lab_app_password>' psql -h 127.0.0.1 -p 6432 -U app app          # through PgBouncer (TCP)
  PGPASSWORD='<lab_app_password>' psql -h /var/run/postgresql -p 6432 -U app app  # (unix socket)
  PGPASSWORD='<lab_admin_password>' psql -h 127.0.0.1 -p 6432 -U pgbouncer_admin pgbouncer  # admin console (any process)
  runuser -u postgres -- psql -h /run/pgbouncer-2 -p 6432 -U pgbouncer pgbouncer   # process 2's console
  Passwords: tests/lab/inventory/group_vars/all/secrets.yml (lab only).
  Re-deploy: make lab-deploy      Tear down: make lab-down
  Rolling restart: source tests/env.sh && ansible-playbook -i tests/lab/inventory playbooks/rolling_restart.yml
  Prometheus's API (Debian's package has no web UI), from this machine:
    podman exec pgbt-lab-app1 python3 -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:9090/api/v1/alerts').read().decode())"
  Alertmanager's: the same with port 9093 and /api/v2/alerts. Notifications: pgbt-lab-app1:/var/lib/webhook-sink/alerts.jsonl
HELP
