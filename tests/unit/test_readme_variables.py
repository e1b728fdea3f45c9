"""The README's variable tables are the argument specs, rendered: they cannot drift apart."""

from pathlib import Path

from tests.argspec_table import readme_with_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_variable_tables_match_argument_specs():
    text = README.read_text()
    assert readme_with_tables(text) == text, "run: python tests/argspec_table.py --write"


def test_every_default_in_defaults_main_is_in_the_argument_specs():
    import yaml

    root = README.parent
    for role in ("pgbouncer", "pgbouncer_postgresql"):
        defaults = yaml.safe_load((root / "roles" / role / "defaults" / "main.yml").read_text())
        spec = yaml.safe_load((root / "roles" / role / "meta" / "argument_specs.yml").read_text())
        options = spec["argument_specs"]["main"]["options"]
        assert set(defaults) <= set(options), set(defaults) - set(options)
        for name, value in defaults.items():
            assert options[name].get("default") == value, f"{role}: {name} default differs from the spec"
