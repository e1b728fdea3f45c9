# Sourced by the lab and test scripts: the project's Python environment and podman settings.
# shellcheck shell=bash
project_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$project_root/.venv/bin:$PATH"
export CONTAINERS_CONF="$project_root/tests/lab/containers.conf"
export ANSIBLE_CONFIG="$project_root/ansible.cfg"
# The test bed's containers are reached with podman exec, pipelined (tests/lab/connection_plugins).
export ANSIBLE_CONNECTION_PLUGINS="$project_root/tests/lab/connection_plugins"
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 NO_COLOR=1 PY_COLORS=0
cd "$project_root"
