#!/usr/bin/env bash
# Test bed only, from the controller: make HOST a streaming standby of PRIMARY (a fresh base
# backup over TLS as the replication role, whose password is in REPLICATION_PASSWORD), and start it.
# Usage: REPLICATION_PASSWORD=... standby.sh HOST PRIMARY
set -euo pipefail
host=$1 primary=$2
podman exec -e PGPASSWORD="$REPLICATION_PASSWORD" -e PRIMARY="$primary" "$host" bash -c '
  set -euo pipefail
  systemctl stop postgresql@17-main
  rm -rf /var/lib/postgresql/17/main
  runuser -u postgres -- env PGPASSWORD="$PGPASSWORD" PGSSLMODE=require \
    pg_basebackup -h "$PRIMARY" -U replicator -D /var/lib/postgresql/17/main -R -X stream -c fast
  systemctl start postgresql@17-main
  runuser -u postgres -- psql -XAtc "SELECT pg_is_in_recovery()"'
