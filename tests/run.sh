#!/usr/bin/env bash
# The whole test suite (make test): the linters (tests/lint.sh), unit and integration tests (pytest),
# then the molecule scenarios on real systemd containers. Installs what it needs first (tests/bootstrap.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/env.sh"

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
bash "$here/lint.sh"
# The image and the repository first: the readback tests start the real PgBouncer in containers
# made from them.
step "base image";      bash tests/lab/build-image.sh
# The test bed's apt repository (PgBouncer 1.26.1 from Debian forky, shaped like PGDG): the
# scenarios install from it, the readback tests run its binary beside Debian 13's.
step "apt repository";  bash tests/lab/build-repo.sh
# The slowest tests are listed at the end: the first place to look when the suite grows.
step "pytest";          python -m pytest -n 2 --durations=15
step "molecule test (per_host)"; molecule test
step "molecule test (central)";  molecule test -s central
step "molecule test (managed)";  molecule test -s managed
# Three scenarios, each run end to end above (set -e stops at the first failure).
echo "molecule: 3 passed, 0 failed ($(date +%T))"
