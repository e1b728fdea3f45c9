#!/usr/bin/env bash
# The whole test suite (make test): the linters (tests/lint.sh), unit and integration tests (pytest),
# then the molecule scenarios on real systemd containers. Installs what it needs first (tests/bootstrap.sh).
#
# A molecule scenario alone leaves about 40 % of the CPU idle (it waits on services, alerts and
# timed loads), so the work that needs no container, server or clock runs beside the scenarios on
# that idle time: the linters and the tests that run playbooks on the controller (first-play
# refusals, rendering). It runs in a CPU cgroup of its own marked idle (cpu.idle), so the scenarios
# keep the CPU first. nice alone would not do that: with the kernel's autogroup scheduling, nice
# ranks a process only within its session, and every Ansible worker starts its own (docs/tests.md).
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

# The background's CPU cgroup: a new child of this shell's CPU cgroup, marked idle (Linux 5.15+),
# on cgroup v1 (cpu controller) or v2 (from the root cgroup, where a child may take the cpu
# controller while its parent has processes). Prints nothing where neither applies.
make_idle_cgroup() {
  local parent v1_path
  v1_path="$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' /proc/self/cgroup)"
  if [[ -n $v1_path ]]; then
    parent="/sys/fs/cgroup/cpu${v1_path%/}"
  elif [[ "$(awk -F: '$1 == 0 {print $3}' /proc/self/cgroup)" == / ]] \
    && grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
    parent=/sys/fs/cgroup
  else
    return 0
  fi
  local cgroup="$parent/pgbouncer-toolkit-tests-$$"
  { mkdir "$cgroup" && echo 1 >"$cgroup/cpu.idle"; } 2>/dev/null || { rmdir "$cgroup" 2>/dev/null; return 0; }
  echo "$cgroup"
}
# Empty once its processes have exited; a killed process group may take a moment.
remove_idle_cgroup() {
  [[ -n $background_cgroup ]] || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    rmdir "$background_cgroup" 2>/dev/null && return 0
    sleep 1
  done
  echo "could not remove $background_cgroup (processes left in it)" >&2
}

background_log="$(mktemp)"
background_temp="$(mktemp -d)"
background_cgroup="$(make_idle_cgroup)"
step "in the background: the linters, then the controller-only tests (log shown at the end)"
if [[ -n $background_cgroup ]]; then
  echo "on the CPU time the foreground leaves: idle CPU cgroup $background_cgroup"
else
  echo "no CPU cgroup could be made here: the background shares the CPU with the foreground (nice only)"
fi
setsid nice -n 19 ionice -c 3 bash -c '
  set -euo pipefail
  if [[ -n $1 ]]; then echo "$$" >"$1/cgroup.procs"; fi
  bash tests/lint.sh
  printf "\n== pytest, controller-only tests (%s)\n" "$(date +%T)"
  python -m pytest -n 2 --durations=10 -p no:cacheprovider --basetemp "$2" "${@:3}"
' background "$background_cgroup" "$background_temp" "${controller_only[@]}" >"$background_log" 2>&1 &
background=$!
remove_background_files() { rm -rf "$background_log" "$background_temp"; remove_idle_cgroup; }
# A failure in the foreground ends the run: the background work goes with it, its log so far shown.
stop_background() {
  kill -- "-$background" 2>/dev/null || true
  printf '\n== the background work, stopped (its log so far)\n'
  cat "$background_log"
  remove_background_files
}
trap stop_background EXIT

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
