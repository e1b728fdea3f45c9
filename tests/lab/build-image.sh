#!/usr/bin/env bash
# Builds the Debian 13 systemd base image used by the lab and by molecule, without a registry:
# debootstrap a minimal rootfs, import it, then add systemd on top. Reuses the image when present.
set -euo pipefail

image="${PGBT_IMAGE:-localhost/pgbouncer-toolkit-trixie:latest}"
suite="${PGBT_SUITE:-trixie}"
mirror="${PGBT_MIRROR:-http://deb.debian.org/debian}"
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"

if podman image exists "$image"; then
  echo "image $image present, reused"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "debootstrap $suite into $work/rootfs"
debootstrap --variant=minbase --include=python3,iproute2,procps "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -n 30 "$work/debootstrap.log"; exit 1; }
tar -C "$work/rootfs" -c . | podman import - "${image%:*}-rootfs:latest" >/dev/null

cat >"$work/Containerfile" <<CONTAINERFILE
FROM ${image%:*}-rootfs:latest
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      systemd systemd-sysv python3-apt sudo ca-certificates \
 && apt-get clean \
 && systemctl mask systemd-logind.service getty.target console-getty.service systemd-firstboot.service
# The apt lists stay: an image with no lists but a fresh update stamp would fool cache_valid_time.
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
CONTAINERFILE
podman build --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=8192:8192 \
  -t "$image" -f "$work/Containerfile" "$work" >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log"; exit 1; }
podman rmi "${image%:*}-rootfs:latest" >/dev/null 2>&1 || true
echo "built $image"
