"""The text_files module, run as Ansible runs it (its file and its arguments, a real AnsibleModule)
on files in a temporary directory: what it writes, what it reports, check mode, and that a
replaced file never holds its new content under the old file's looser mode."""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MODULE = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "text_files.py"
USER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(
    tmp_path: Path, files: list[dict[str, Any]], check: bool = False, diff: bool = False
) -> dict[str, Any]:
    """The module's JSON answer for ``files`` (owner and group default to this test's own)."""
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "files": [{"owner": USER, "group": GROUP, **spec} for spec in files],
            "_ansible_check_mode": check,
            "_ansible_diff": diff,
        }
    }
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps(args))
    done = subprocess.run(
        [sys.executable, str(MODULE), str(arguments)], capture_output=True, text=True, check=False, timeout=60
    )
    return json.loads(done.stdout)


def mode(path: Path) -> str:
    return f"{stat.S_IMODE(path.stat().st_mode):04o}"


def existing(path: Path, text: str, file_mode: int) -> Path:
    """``path``, written with ``text`` and given ``file_mode``."""
    path.write_text(text)
    path.chmod(file_mode)
    return path


@pytest.mark.parametrize(
    ("before", "before_mode", "content", "wanted_mode", "changed"),
    [
        (None, None, "a\n", "0640", True),  # a new file
        ("a\n", "0640", "a\n", "0640", False),  # nothing to do
        ("a\n", "0640", "b\n", "0640", True),  # new content
        ("a\n", "0644", "a\n", "0600", True),  # only the mode
        ("a", "0644", "a\n", "0644", True),  # one byte more counts
        ("", "0644", "", "0644", False),  # an empty file stays one
    ],
)
def test_each_file_ends_with_its_content_and_mode(
    tmp_path: Path, before: str | None, before_mode: str | None, content: str, wanted_mode: str, changed: bool
) -> None:
    path = tmp_path / "file"
    if before is not None:
        existing(path, before, int(str(before_mode), 8))
    result = run(tmp_path, [{"path": str(path), "content": content, "mode": wanted_mode}])
    assert result.get("failed") is not True, result
    assert result["changed"] is changed
    assert result["changed_paths"] == ([str(path)] if changed else [])
    assert path.read_text() == content and mode(path) == wanted_mode


def test_several_files_in_one_run_report_only_those_that_changed(tmp_path: Path) -> None:
    same, other = existing(tmp_path / "same", "x", 0o644), existing(tmp_path / "other", "old", 0o644)
    new = tmp_path / "new"
    result = run(
        tmp_path,
        [
            {"path": str(same), "content": "x", "mode": "0644"},
            {"path": str(other), "content": "new", "mode": "0644"},
            {"path": str(new), "content": "n", "mode": "0600"},
        ],
    )
    assert result["changed_paths"] == [str(other), str(new)]
    assert (same.read_text(), other.read_text(), new.read_text()) == ("x", "new", "n")
    assert [entry.name for entry in tmp_path.iterdir() if entry.name.startswith(".")] == []


def test_check_mode_reports_and_writes_nothing(tmp_path: Path) -> None:
    old, missing_dir = existing(tmp_path / "old", "old", 0o644), tmp_path / "no-such-dir" / "file"
    result = run(
        tmp_path,
        [
            {"path": str(old), "content": "new", "mode": "0600"},
            {"path": str(missing_dir), "content": "x", "mode": "0644"},
        ],
        check=True,
        diff=True,
    )
    assert result["changed_paths"] == [str(old), str(missing_dir)]
    assert old.read_text() == "old" and mode(old) == "0644"
    assert not missing_dir.parent.exists()
    assert [(d["before"], d["after"]) for d in result["diff"]] == [("old", "new"), ("", "x")]


def test_a_replaced_file_gets_its_mode_before_its_content_is_visible(tmp_path: Path) -> None:
    """The new content arrives in a new file (a new inode) that already has the wanted mode: a
    reader holding the old file never sees the secret, and nobody sees it under 0644."""
    path = existing(tmp_path / "secret", "public", 0o644)
    inode = path.stat().st_ino
    result = run(tmp_path, [{"path": str(path), "content": "secret", "mode": "0600"}])
    assert result["changed"] is True
    assert path.stat().st_ino != inode and mode(path) == "0600" and path.read_text() == "secret"


def test_a_missing_directory_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "file"
    result = run(tmp_path, [{"path": str(path), "content": "x", "mode": "0644"}])
    assert result["failed"] is True
    assert result["msg"] == f"could not write {path}: No such file or directory"


def test_a_path_that_is_a_directory_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "a-directory"
    path.mkdir()
    result = run(tmp_path, [{"path": str(path), "content": "x", "mode": "0644"}])
    assert result["failed"] is True
    assert result["msg"] == f"could not write {path}: Is a directory"


def test_a_relative_path_is_refused(tmp_path: Path) -> None:
    result = run(tmp_path, [{"path": "relative/file", "content": "x", "mode": "0644"}])
    assert result["failed"] is True and "is not an absolute path" in result["msg"]
