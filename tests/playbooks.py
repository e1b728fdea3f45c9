"""Run a playbook the way an inventory drives the collection: values from a host_vars file (so
Ansible hands them to the code as it would in production), the repository's ansible.cfg (so the
collection resolves by its fully qualified names), against localhost."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# The bound on one command a controller-only test runs (ansible-playbook, ansible-galaxy, the test
# bed's repository build). make test runs these tests on the CPU time the molecule scenarios leave
# (tests/run.sh), so a run that takes 10 s alone may wait minutes while a scenario keeps both cores
# busy; the bound only stops a run that hangs.
CONTROLLER_RUN_TIMEOUT = 1200


# The controller's facts, gathered once per test process and kept for its later runs: every run
# plays its hosts on this machine, so the facts are the same each time, and gathering them is a
# sixth of a first-play run. One directory per process (pytest-xdist workers never share a file).
FACT_CACHE = Path(tempfile.gettempdir()) / f"pgbouncer-toolkit-facts-{os.getpid()}"
atexit.register(shutil.rmtree, FACT_CACHE, ignore_errors=True)


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment for ansible-* commands run by the tests."""
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_GATHERING": "smart",
        "ANSIBLE_CACHE_PLUGIN": "ansible.builtin.jsonfile",
        "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(FACT_CACHE),
        "ANSIBLE_CACHE_PLUGIN_TIMEOUT": "3600",
        **extra,
    }


def run_playbook(
    tmp_path: Path, host_vars: Mapping[str, Any], playbook: str, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """Write an inventory of localhost with ``host_vars`` and run ``playbook`` (YAML text) on it."""
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, **host_vars}
    (inventory / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(variables, allow_unicode=True))
    (tmp_path / "playbook.yml").write_text(playbook)
    return subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(tmp_path / "playbook.yml"), *args],
        cwd=ROOT,
        env=ansible_env(**env),
        capture_output=True,
        text=True,
        timeout=CONTROLLER_RUN_TIMEOUT,
        check=False,
    )


# The PgBouncer package the controller stands in for: the release the lab and the scenarios run,
# as if the distribution offered it (extra vars win over what tasks/version.yml reads from apt, so
# the controller's own apt and the network play no part).
PINNED_PACKAGE = {"__pgbouncer_package_version": "1.26.1-1", "__pgbouncer_install_source": "distro"}


# Lowest precedence (the inventory's `all` vars): an example's own host variables win.
CONTROLLER_PLAYS_EVERY_HOST = {
    "all": {
        "vars": {
            "ansible_connection": "local",
            # The stand-ins have the controller's facts: name the interface the VIP would go on.
            "pgbouncer_lb_interface": "eth0",
        }
    }
}


def run_site_on_example(
    tmp_path: Path, example: str, hosts: Mapping[str, Any] | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    """site.yml in check mode on a copy of inventory.example/<example> (its hosts.yml replaced by
    ``hosts`` when given), every host played by the controller, pinned to the lab's PgBouncer (PINNED_PACKAGE)."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory.example" / example, inventory)
    if hosts is not None:
        (inventory / "hosts.yml").write_text(yaml.safe_dump(dict(hosts)))
    (inventory / "zz_controller.yml").write_text(yaml.safe_dump(CONTROLLER_PLAYS_EVERY_HOST))
    return subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(inventory),
            "site.yml",
            "--check",
            "-e",
            json.dumps(PINNED_PACKAGE),
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            *args,
        ],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=CONTROLLER_RUN_TIMEOUT,
        check=False,
    )
