#!/usr/bin/env bash
# The linters (make lint; the first steps of make test): Python, YAML, Ansible, changelog fragments,
# the collection build and ansible-test sanity on the built collection.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/bootstrap.sh"
# shellcheck source=tests/env.sh
source "$here/env.sh"

step() { printf '\n== %s (%s)\n' "$*" "$(date +%T)"; }
step "ruff";                  ruff check . && ruff format --check .
step "yamllint";              yamllint --strict .
step "ansible-lint";          ansible-lint --offline --profile production
step "changelog fragments";   antsibull-changelog lint
step "collection build";      ansible-galaxy collection build --force --output-path "$(mktemp -d)" >/dev/null && echo "ok"
step "ansible-test sanity";   bash tests/sanity.sh
