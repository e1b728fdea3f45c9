#!/usr/bin/env bash
# ansible-test sanity on what the collection ships: the built tarball, unpacked under a throwaway
# ansible_collections/ tree, with tests/sanity/ignore-2.19.txt (each ignore says why).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tests/env.sh
source "$here/env.sh"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
ansible-galaxy collection build --force --output-path "$work" >/dev/null
collection="$work/ansible_collections/pgbouncer_toolkit/pgbouncer"
mkdir -p "$collection/tests/sanity"
tar -xzf "$work"/pgbouncer_toolkit-pgbouncer-*.tar.gz -C "$collection"
cp tests/sanity/ignore-2.19.txt "$collection/tests/sanity/"
# ansible-test makes a virtual environment per test and bootstraps pip in it with a script from
# its own download host (ansible-core 2.19: pip 24.2); seed its cache with a stand-in.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
[ -e "$cache/get_pip_24_2.py" ] || cp tests/sanity/get_pip.py "$cache/get_pip_24_2.py"
python_version="$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
cd "$collection"
git init -q . && git add -A
ansible-test sanity --local --python "$python_version"
