#!/usr/bin/env bash
# make bench: installs what it needs, then python -m tests.bench (arguments passed on).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/../bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/../env.sh"
bash tests/lab/build-image.sh
exec python -m tests.bench "$@"
