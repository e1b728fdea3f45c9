"""The generated documentation is its sources, rendered: every role's README (from its argument
specs) and the settings reference in docs/settings.md (from the settings table) cannot drift apart
from them. The only way to change a generated part is `python tests/docs_tables.py --write`."""

import re
from pathlib import Path

import pytest

from tests import docs_tables
from tests.docs_tables import WRITE_COMMAND, Block, blocks, replace_block

ROOT = Path(__file__).resolve().parents[2]
# A `|` that separates two cells (an escaped one, \|, is part of a cell).
CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
# How a Python list, dict or constant begins where YAML or JSON text should be.
PYTHON_VALUE = re.compile(r"`?[\[{]'|\[\"|`(True|False|None)`$")


def test_every_role_has_a_readme():
    missing = [role for role in docs_tables.roles() if not docs_tables.role_readme(role).exists()]
    assert missing == [], f"roles without a README: {missing} (run: {WRITE_COMMAND})"


@pytest.mark.parametrize("block", blocks(), ids=lambda block: f"{block.path.relative_to(ROOT)}:{block.name}")
def test_generated_part_matches_its_source(block: Block):
    assert block.path.exists(), f"{block.path.relative_to(ROOT)} is missing (run: {WRITE_COMMAND})"
    text = block.path.read_text()
    assert replace_block(text, block, block.render()) == text, (
        f"{block.path.relative_to(ROOT)}: {block.name} differs from its source (run: {WRITE_COMMAND})"
    )


@pytest.mark.parametrize("block", blocks(), ids=lambda block: f"{block.path.relative_to(ROOT)}:{block.name}")
def test_generated_tables_keep_each_row_on_one_line(block: Block):
    """Every row has its header's cells (no line break or unescaped `|` in a cell), and no cell
    shows a Python list or dict."""
    lines = block.render().splitlines()
    for number, line in enumerate(lines):
        if not line.startswith("| "):
            continue
        if number == 0 or not lines[number - 1].startswith("|"):
            width = len(CELL_SEPARATOR.findall(line))
        assert len(CELL_SEPARATOR.findall(line)) == width, line
        following = lines[number + 1] if number + 1 < len(lines) else ""
        assert following == "" or following.startswith("|"), f"a cell runs over a line break: {line}"
        for cell in CELL_SEPARATOR.split(line)[1:-1]:
            cell = cell.strip()
            assert not PYTHON_VALUE.match(cell), f"a Python value in a cell: {line}"


def _specs(role: str) -> dict:
    import yaml

    spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


SHARED_MODEL_READERS = ("pgbouncer", "pgbouncer_postgresql", "pgbouncer_app_files")


def test_the_shared_model_is_declared_once_by_the_role_its_readers_depend_on():
    """One home for the shared model: pgbouncer_common declares it (spec and default); no other
    role declares any of its variables, and every role that reads it depends on pgbouncer_common."""
    import yaml

    shared = set(_specs("pgbouncer_common"))
    assert {
        "pgbouncer_auth_user",
        "pgbouncer_auth_password",
        "pgbouncer_databases",
        "pgbouncer_roles",
    } <= shared
    for role in sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir()):
        if role == "pgbouncer_common":
            continue
        assert not shared & set(_specs(role)), f"{role} declares {sorted(shared & set(_specs(role)))}"
        defaults_file = ROOT / "roles" / role / "defaults" / "main.yml"
        defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
        assert not shared & set(defaults or {}), f"{role} has defaults for {sorted(shared & set(defaults))}"
    for role in SHARED_MODEL_READERS:
        meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text())
        assert {"role": "pgbouncer_toolkit.pgbouncer.pgbouncer_common"} in meta["dependencies"], role


def test_every_default_in_defaults_main_is_in_the_argument_specs():
    import yaml

    for role in (*SHARED_MODEL_READERS, "pgbouncer_common"):
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
        spec = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        options = spec["argument_specs"]["main"]["options"]
        assert set(defaults) <= set(options), set(defaults) - set(options)
        for name, value in defaults.items():
            assert options[name].get("default") == value, f"{role}: {name} default differs from the spec"


# role -> (does it check the shared model's options too, the options it marks required)
ROLE_ARGUMENT_SPECS = {
    "pgbouncer": (True, ["pgbouncer_auth_password"]),
    "pgbouncer_postgresql": (True, ["pgbouncer_auth_password"]),
    "pgbouncer_app_files": (True, []),
    "pgbouncer_lb": (False, []),
    "pgbouncer_monitoring": (False, []),
    "pgbouncer_tls": (False, []),
}


@pytest.mark.parametrize(("role", "shared", "required"), [(r, *v) for r, v in ROLE_ARGUMENT_SPECS.items()])
def test_a_role_checks_its_own_spec_and_the_shared_model_it_depends_on(role, shared, required):
    from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import (
        role_argument_spec,
    )

    spec = role_argument_spec(str(ROOT / "roles" / role), required)
    common = _specs("pgbouncer_common")
    expected = {**(common if shared else {}), **_specs(role)}
    assert set(spec) == set(expected)
    for name, option in spec.items():
        if name in required:
            assert option == {**expected[name], "required": True}
            assert not expected[name].get("required"), f"{name} is required in every role already"
        else:
            assert option == expected[name]


def test_every_role_validates_against_role_argument_spec():
    """One home for 'which options does this role check': every validate.yml calls the filter."""
    for role in ROLE_ARGUMENT_SPECS:
        text = (ROOT / "roles" / role / "tasks" / "validate.yml").read_text()
        assert "validate_argument_spec" in text, role
        assert "argument_specs.yml" not in text, role
    assert sorted(ROLE_ARGUMENT_SPECS) == sorted(
        path.name for path in (ROOT / "roles").iterdir() if path.is_dir() and path.name != "pgbouncer_common"
    )
