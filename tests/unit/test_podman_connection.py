"""The test bed's connection keeps a container's PID only while that PID is still the container's:
a container made again under the same name (molecule destroys and creates them) has another ID,
and a stale PID must never be entered."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[1] / "lab/connection_plugins/podman_pipelined.py"


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("podman_pipelined", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "CACHE_DIR", tmp_path)
    return module


def own_cgroup_line() -> str:
    """The last line of this process's cgroup file, standing in for a container's ID in it."""
    return Path("/proc/self/cgroup").read_text().splitlines()[-1]


@pytest.mark.parametrize(
    ("entry", "kept"),
    [
        ("matching", True),
        ("other ID", False),
        ("no ID", False),
        ("dead PID", False),
        ("not JSON", False),
        ("missing", False),
    ],
)
def test_a_cached_pid_is_used_only_while_its_cgroup_names_the_container(plugin, tmp_path, entry, kept):
    cache = tmp_path / "pgbt-test-db.json"
    target = {"pid": os.getpid(), "id": own_cgroup_line(), "env": ["PATH=/usr/bin"]}
    if entry == "other ID":
        target["id"] = "f" * 64
    elif entry == "no ID":
        target["id"] = ""
    elif entry == "dead PID":
        target["pid"] = 2**22 + 1
    if entry == "not JSON":
        cache.write_text("{")
    elif entry != "missing":
        cache.write_text(json.dumps(target))
    assert (plugin._cached_target("pgbt-test-db") == target) is kept
