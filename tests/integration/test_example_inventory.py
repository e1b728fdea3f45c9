"""The example inventory is one a newcomer can start from: its group_vars pass every check of
site.yml's first play (argument specs, the settings table, names, references, pg_hba addresses)
for the release the lab runs. The example's hosts are stand-ins, so the controller plays them, as
both groups, and only the first play runs (its tasks are tagged `always`; a tag nothing has keeps
the other plays out)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
EXAMPLES = sorted(path.name for path in (ROOT / "inventory.example").iterdir() if path.is_dir())
CONTROLLER_AS_EVERY_HOST = """\
all:
  children:
    pgbouncer_postgresql:
      hosts:
        localhost:
    pgbouncer_app_hosts:
      hosts:
        localhost:
  vars:
    ansible_connection: local
    # The example's database host is a name to be resolved on the real hosts; here any address
    # stands in for the pg_hba rules the first play checks.
    pgbouncer_address: 10.0.0.10
"""


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_inventory_passes_the_first_play(tmp_path: Path, example: str) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory.example" / example / "group_vars", inventory / "group_vars")
    (inventory / "hosts.yml").write_text(CONTROLLER_AS_EVERY_HOST)
    result = subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(inventory),
            "site.yml",
            "--check",
            "--tags",
            "first-play-only",
            "-e",
            "__pgbouncer_version=1.24.1",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
        ],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The checks ran (not skipped by the tag): the settings table and the PostgreSQL side's checker.
    assert "Check every value against the settings table of PgBouncer 1.24.1" in output
    assert "Check every name, password, reference and address the PostgreSQL side will use" in output
    assert "failed=0" in output
