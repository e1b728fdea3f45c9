#!/usr/bin/env bash
# Brings up the lab (PostgreSQL 17 on pgbt-lab-db, two application hosts), deploys PgBouncer per
# app host with `ansible-playbook site.yml`, and shows that pooling works. The lab stays up:
# `make lab-down` removes it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/../env.sh"

bash tests/lab/build-image.sh
echo "== lab: creating the containers and installing PostgreSQL 17 (molecule create -s lab)"
molecule create -s lab >/tmp/pgbouncer-lab-create.log 2>&1 || { tail -n 40 /tmp/pgbouncer-lab-create.log; exit 1; }
echo "== lab: ansible-playbook -i tests/lab/inventory site.yml"
ansible-playbook -i tests/lab/inventory site.yml
bash tests/lab/show.sh
