#!/usr/bin/env bash
# Builds the test bed's local apt repository, shaped like the PostgreSQL project's (PGDG): suite
# <codename>-pgdg, component main, signed (InRelease and Release.gpg) with a key made here, the
# public key beside it as key.asc. It serves one package: Debian forky's PgBouncer (1.26.1 or
# newer, which fixes the CVEs Debian 13's 1.24.1 still has), built for Debian 13's libraries.
# The lab and the molecule scenarios serve it from their database container and install PgBouncer
# from it through the toolkit's own pgbouncer_install_source: pgdg path.
# Made in a throwaway container of the base image (its keyring trusts forky's archive key);
# reused when present. Prints the repository directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
image="${PGBT_IMAGE:-localhost/pgbouncer-toolkit-trixie:latest}"
repo="${PGBT_REPO_DIR:-/var/cache/pgbouncer-toolkit/apt-repo}"
suite="${PGBT_REPO_SUITE:-trixie-pgdg}"
minimum="1.26.1"

if [ -s "$repo/key.asc" ] && [ -s "$repo/dists/$suite/InRelease" ] && ls "$repo"/pool/pgbouncer_*.deb >/dev/null 2>&1; then
  echo "$repo"
  exit 0
fi
rm -rf "$repo"
mkdir -p "$repo"
podman run --rm --runtime runc --ulimit nofile=20000:20000 --ulimit nproc=8192:8192 \
  -v "$repo:/repo" -e SUITE="$suite" -e MINIMUM="$minimum" "$image" bash -euo pipefail -c '
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends apt-utils gnupg >/dev/null
    # forky from Debian'"'"'s archive through a throwaway apt configuration; its Release file may be
    # past Valid-Until on a mirror (testing), the signature is still checked.
    forky=/tmp/forky
    mkdir -p $forky/lists/partial $forky/cache/archives/partial
    echo "deb http://deb.debian.org/debian forky main" >$forky/sources.list
    opts=(-o Dir::Etc::SourceList=$forky/sources.list -o Dir::Etc::SourceParts=/dev/null
          -o Dir::State::Lists=$forky/lists -o Dir::Cache=$forky/cache -o Acquire::Check-Valid-Until=false)
    apt-get "${opts[@]}" update -qq
    version=$(apt-cache "${opts[@]}" policy pgbouncer | awk "/Candidate:/ {print \$2}")
    dpkg --compare-versions "$version" ge "$MINIMUM" \
      || { echo "forky offers pgbouncer $version, older than $MINIMUM" >&2; exit 1; }
    mkdir -p /repo/pool /repo/dists/$SUITE/main/binary-amd64
    cd /repo/pool
    apt-get "${opts[@]}" download "pgbouncer=$version"
    cd /repo
    apt-ftparchive packages pool >dists/$SUITE/main/binary-amd64/Packages
    gzip -9 -k dists/$SUITE/main/binary-amd64/Packages
    apt-ftparchive \
      -o APT::FTPArchive::Release::Origin=pgbouncer-toolkit-tests \
      -o APT::FTPArchive::Release::Label="pgbouncer-toolkit test repository" \
      -o APT::FTPArchive::Release::Suite=$SUITE -o APT::FTPArchive::Release::Codename=$SUITE \
      -o APT::FTPArchive::Release::Architectures=amd64 -o APT::FTPArchive::Release::Components=main \
      release dists/$SUITE >/tmp/Release
    mv /tmp/Release dists/$SUITE/Release
    export GNUPGHOME=$(mktemp -d)
    gpg --batch --quiet --passphrase "" --quick-gen-key "pgbouncer-toolkit test repository" ed25519 sign never
    gpg --batch --quiet --yes --clearsign -o dists/$SUITE/InRelease dists/$SUITE/Release
    gpg --batch --quiet --yes --armor --detach-sign -o dists/$SUITE/Release.gpg dists/$SUITE/Release
    gpg --batch --armor --export >key.asc
    chmod -R a+rX /repo
  ' >&2
echo "$repo"
