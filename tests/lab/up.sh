#!/usr/bin/env bash
# Brings up the lab and deploys into it with `ansible-playbook site.yml`, then shows that pooling
# works. The lab stays up: `make lab-down` removes it.
#   bash tests/lab/up.sh            per_host: PostgreSQL 17 on pgbt-lab-db, PgBouncer on two app hosts
#   bash tests/lab/up.sh central    central: PostgreSQL 17, two hosts each running PgBouncer, HAProxy
#                                   and keepalived (the VIP), one app host pointed at the VIP
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
topology="${1:-per_host}"
case "$topology" in
  per_host) scenario=lab; inventory=tests/lab/inventory; show=tests/lab/show.sh ;;
  central) scenario=lab-central; inventory=tests/lab/central/inventory; show=tests/lab/show-central.sh ;;
  *) echo "TOPOLOGY must be per_host or central, got '$topology'" >&2; exit 2 ;;
esac
bash "$here/../bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/../env.sh"

bash tests/lab/build-image.sh
echo "== lab ($topology): creating the containers and installing PostgreSQL 17 (molecule create -s $scenario)"
molecule create -s "$scenario" >"/tmp/pgbouncer-$scenario-create.log" 2>&1 \
  || { tail -n 40 "/tmp/pgbouncer-$scenario-create.log"; exit 1; }
echo "== lab ($topology): ansible-playbook -i $inventory site.yml"
ansible-playbook -i "$inventory" site.yml
bash "$show"
