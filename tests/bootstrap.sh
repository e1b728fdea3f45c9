#!/usr/bin/env bash
# Installs what the lab and the tests need on a fresh Debian 12 machine (run as root): podman with
# runc, debootstrap, a PostgreSQL server for the filter tests, and the Python environment in .venv.
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs make postgresql)
missing=()
for package in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})) || [ ! -d /var/lib/apt/lists ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null)" ]; then
  echo "== apt: installing ${missing[*]:-nothing (refreshing lists)}"
  # The filter tests start their own throwaway server; no cluster is wanted on the host.
  mkdir -p /etc/postgresql-common/createcluster.d
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/50-no-main-cluster.conf
  apt-get update -qq
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -e "$stamp" ]; then
  echo "== python: creating .venv from pyproject.toml"
  python3 -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# promtool checks and unit-tests the alert rules. It is taken out of Debian's prometheus package
# without installing the package (which would start a Prometheus server on this machine).
if [ ! -x .venv/bin/promtool ]; then
  echo "== promtool: from Debian's prometheus package"
  work="$(mktemp -d)" && chmod 0755 "$work"  # apt downloads as its own user
  (cd "$work" && apt-get download -qq prometheus >/dev/null && dpkg-deb -x prometheus_*.deb root)
  install -m 0755 "$work/root/usr/bin/promtool" .venv/bin/promtool
  rm -rf "$work"
fi
