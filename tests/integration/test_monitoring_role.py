"""The pgbouncer_monitoring role through ansible-playbook, values from an inventory file: the rules
file it writes is the one promtool checks and tests (tests/unit/test_monitoring_rules.py), a
threshold that is not a number or a duration is refused by name before anything is written, and
a candidate promtool rejects never replaces the live file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.playbooks import run_playbook
from tests.unit.test_monitoring_rules import render_rules

PLAYBOOK = "- hosts: localhost\n  gather_facts: false\n  roles:\n    - pgbouncer_toolkit.pgbouncer.pgbouncer_monitoring\n"


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: tests/bootstrap.sh installs it into .venv/bin"
    return path


def test_the_role_writes_the_rules_promtool_checks(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "pgbouncer.rules.yml"
    result = run_playbook(
        tmp_path,
        {"pgbouncer_monitoring_rules_file": str(rules), "pgbouncer_monitoring_promtool": promtool()},
        PLAYBOOK,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = yaml.safe_load(rules.read_text())
    assert written == yaml.safe_load(render_rules())
    again = run_playbook(
        tmp_path,
        {"pgbouncer_monitoring_rules_file": str(rules), "pgbouncer_monitoring_promtool": promtool()},
        PLAYBOOK,
    )
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("pgbouncer_monitoring_clients_waiting", "5 or vector(1)"),
        ("pgbouncer_monitoring_pool_full_for", "1m\n        labels: {}"),
        ("pgbouncer_monitoring_client_connections_ratio", 80),
    ],
)
def test_a_bad_threshold_is_refused_by_name_before_anything_is_written(
    tmp_path: Path, variable: str, value: object
) -> None:
    rules = tmp_path / "rules" / "pgbouncer.rules.yml"
    result = run_playbook(
        tmp_path,
        {
            "pgbouncer_monitoring_rules_file": str(rules),
            "pgbouncer_monitoring_promtool": promtool(),
            variable: value,
        },
        PLAYBOOK,
    )
    assert result.returncode != 0
    assert variable in result.stdout
    assert not rules.parent.exists()


def test_a_candidate_promtool_rejects_leaves_the_live_file(tmp_path: Path) -> None:
    rules = tmp_path / "rules" / "pgbouncer.rules.yml"
    rules.parent.mkdir()
    rules.write_text("# the live file\n")
    # A promtool that rejects every file stands for a Prometheus that cannot load the candidate.
    rejecting = tmp_path / "promtool"
    rejecting.write_text("#!/bin/sh\necho 'FAILED: rejected' >&2\nexit 1\n")
    rejecting.chmod(0o755)
    result = run_playbook(
        tmp_path,
        {"pgbouncer_monitoring_rules_file": str(rules), "pgbouncer_monitoring_promtool": str(rejecting)},
        PLAYBOOK,
    )
    assert result.returncode != 0
    assert rules.read_text() == "# the live file\n"
