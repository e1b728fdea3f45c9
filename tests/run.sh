#!/usr/bin/env bash
# The whole test suite (make test): the linters (tests/lint.sh), unit and integration tests (pytest),
# then the molecule scenarios on real systemd containers. Installs what it needs first (tests/bootstrap.sh).
#
# A molecule scenario alone leaves about 40 % of the CPU idle (it waits on services, alerts and
# timed loads), so the work that needs no container, server or clock runs beside the scenarios,
# niced: the linters and the tests that run playbooks on the controller (first-play refusals,
# rendering). With the kernel's autogroup scheduling, nice ranks a process only within its session
# and every Ansible worker starts its own, so the two share the CPU (docs/tests.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/env.sh"

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }

# Tests that only run ansible-playbook or ansible-galaxy on the controller: no container, no
# PostgreSQL server, no time bound of their own but the command's.
controller_only=(
  tests/integration/test_app_files_rendering.py
  tests/integration/test_central_inputs.py
  tests/integration/test_collection_install.py
  tests/integration/test_example_inventory.py
  tests/integration/test_monitoring_role.py
  tests/integration/test_scram_through_ansible.py
  tests/integration/test_site_inputs.py
)

# The image and the repository first: the scenarios and the readback tests start containers made
# from them; the test bed's apt repository (PgBouncer 1.26.1 from Debian forky, shaped like PGDG)
# is what the scenarios install from.
step "base image";      bash tests/lab/build-image.sh
step "apt repository";  bash tests/lab/build-repo.sh

background_log="$(mktemp)"
background_temp="$(mktemp -d)"
step "in the background: the linters, then the controller-only tests (log shown at the end)"
setsid nice -n 19 ionice -c 3 bash -c '
  set -euo pipefail
  bash tests/lint.sh
  printf "\n== pytest, controller-only tests (%s)\n" "$(date +%T)"
  python -m pytest -n 2 --durations=10 -p no:cacheprovider --basetemp "$1" "${@:2}"
' background "$background_temp" "${controller_only[@]}" >"$background_log" 2>&1 &
background=$!
remove_background_files() { rm -rf "$background_log" "$background_temp"; }
# A failure in the foreground ends the run: the background work goes with it.
trap 'kill -- "-$background" 2>/dev/null || true; remove_background_files' EXIT

# The slowest tests are listed at the end: the first place to look when the suite grows.
step "pytest (unit, and the tests with containers or a server)"
python -m pytest -n 2 --durations=15 "${controller_only[@]/#/--ignore=}"
step "molecule test (per_host)"; molecule test
step "molecule test (central)";  molecule test -s central
step "molecule test (managed)";  molecule test -s managed
# Three scenarios, each run end to end above (set -e stops at the first failure).
echo "molecule: 3 passed, 0 failed ($(date +%T))"

step "waiting for the background work"
status=0
wait "$background" || status=$?
trap remove_background_files EXIT
cat "$background_log"
echo "background work: exit $status ($(date +%T))"
exit "$status"
