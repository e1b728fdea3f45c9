#!/usr/bin/env bash
# Shows how to reach the central lab through its virtual IP and a short proof: 60 clients through
# the VIP land on both PgBouncers (SHOW POOLS of every process of each), and the server connections
# PostgreSQL sees per pooler.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/env.sh
source "$here/../env.sh"
secrets=tests/lab/inventory/group_vars/all/secrets.yml
app_password="$(sed -n 's/^lab_app_password: //p' "$secrets")"
vip="$(podman exec pgbt-labc-pool1 sh -c "ip -4 -o addr show eth0 | awk '{print \$4}' | head -1 | sed 's|[.][0-9]*/.*|.100|'")"
holder=""
for host in pgbt-labc-pool1 pgbt-labc-pool2; do
  if podman exec "$host" ip -4 -o addr show | grep -q " $vip/"; then holder="$host"; fi
done

echo "== the VIP $vip is on $holder"
echo "== proof: pgbench -S, 60 clients for 20 s through the VIP (pool_size 20 per PgBouncer process:"
echo "   pool1 runs 2 processes, pool2 one: at most 60 server connections for the pair)"
podman exec pgbt-labc-db runuser -u postgres -- sh -c \
  "pgbench -i -s 1 -q app >/dev/null 2>&1 && psql -XAtq -d app -c 'GRANT ALL ON ALL TABLES IN SCHEMA public TO app'"
podman exec -d -e PGPASSWORD="$app_password" pgbt-labc-app \
  sh -c "pgbench -h $vip -p 6432 -U app -S -c 60 -j 6 -T 20 -n app >/tmp/lab-show.out 2>&1"
sleep 4
for host in pgbt-labc-pool1 pgbt-labc-pool2; do
  for socket in /var/run/postgresql /run/pgbouncer-2; do
    podman exec "$host" test -S "$socket/.s.PGSQL.6432" || continue
    echo "SHOW POOLS of the process on $socket, $host (cl_active, cl_waiting, sv_active, sv_idle):"
    podman exec "$host" runuser -u postgres -- \
      psql -XAt -F ' ' -h "$socket" -p 6432 -U pgbouncer -d pgbouncer -c "SHOW POOLS" \
      | awk '$1 == "app" { printf "  %-6s %-6s clients %s + %s waiting, servers %s active + %s idle\n", $1, $2, $3, $4, $7, $10 }'
  done
done
echo "server connections PostgreSQL has for database app, by pooler address:"
podman exec pgbt-labc-db runuser -u postgres -- psql -XA -F ' ' -d postgres -c \
  "SELECT client_addr AS pooler, count(*) AS server_connections FROM pg_stat_activity WHERE datname = 'app' GROUP BY 1"
for _ in $(seq 1 30); do
  podman exec pgbt-labc-app grep -q '^tps' /tmp/lab-show.out && break
  sleep 1
done
podman exec pgbt-labc-app grep -E 'processed|failed|tps' /tmp/lab-show.out

cat <<HELP

== the central lab is up
  podman exec -it pgbt-labc-app bash                                          # the application host
  PGPASSWORD='<lab_app_password>' psql -h $vip -p 6432 -U app app         # through the VIP
  cat /etc/pgbouncer-app/database.env                                         # its DATABASE_URL: the VIP
  podman exec -it pgbt-labc-pool1 bash                                        # PgBouncer + HAProxy + keepalived
  Passwords: $secrets (lab only).
  Failover by hand: podman exec $holder systemctl stop haproxy   (the VIP moves; start it again after)
  Re-deploy: make lab-deploy TOPOLOGY=central      Tear down: make lab-down TOPOLOGY=central
  Rolling restart: source tests/env.sh && ansible-playbook -i tests/lab/central/inventory playbooks/rolling_restart.yml
HELP
