"""Each example inventory is one a newcomer can start from: its hosts and group_vars pass every
check of site.yml's first play (topology, argument specs, the settings table, names, references,
pg_hba addresses, HAProxy and keepalived) for the release the lab runs. The example's hosts are
stand-ins, so the controller plays every one of them (a local connection), and only the first play
runs (its tasks are tagged `always`; a tag nothing has keeps the other plays out)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.playbooks import ROOT, run_site_on_example

EXAMPLES = sorted(path.name for path in (ROOT / "inventory.example").iterdir() if path.is_dir())


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_inventory_passes_the_first_play(tmp_path: Path, example: str) -> None:
    result = run_site_on_example(tmp_path, example, None, "--tags", "first-play-only")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The checks ran (not skipped by the tag): the settings table and the PostgreSQL side's checker.
    assert "Check every value against the settings table of PgBouncer 1.26.1" in output
    assert "Check every name, password, reference and address the PostgreSQL side will use" in output
    assert "Check which host runs what" in output
    if example != "per_host":
        # The load balancers' checks ran on their hosts, and the central hosts were checked as poolers.
        assert "Report inputs HAProxy or keepalived cannot use" in output
        assert re.search(r"ok: \[(pgb|pool)1[.]example[.]internal\]", output), output
    assert "failed=0" in output
