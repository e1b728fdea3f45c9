#!/usr/bin/env bash
# Test bed only: what a provider's failover does, from the controller. The standby is promoted
# (pg_ctl waits until it accepts writes) and the writer name points at it in the pooler's
# /etc/hosts, which PgBouncer's resolver (c-ares) reads before DNS; /etc/hosts is a bind mount in
# the container, rewritten in place. The old primary keeps running (the harder case: a pooler that
# kept its server connections would go on sending transactions to it); the caller stops it.
# Usage: failover.sh OLD_PRIMARY STANDBY POOLER WRITER_NAME
set -euo pipefail
standby=$2 pooler=$3 name=$4
podman exec "$standby" runuser -u postgres -- pg_ctlcluster 17 main promote
address=$(podman exec "$pooler" getent ahostsv4 "$standby" | awk 'NR == 1 { print $1 }')
podman exec -e ADDRESS="$address" -e NAME="$name" "$pooler" sh -c \
  'grep -v " $NAME\$" /etc/hosts > /tmp/hosts.new && echo "$ADDRESS $NAME" >> /tmp/hosts.new && cat /tmp/hosts.new > /etc/hosts'
echo "$name -> $standby ($address)"
