"""The README's variable tables are the argument specs, rendered: they cannot drift apart."""

from pathlib import Path

from tests.argspec_table import readme_with_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_variable_tables_match_argument_specs():
    text = README.read_text()
    assert readme_with_tables(text) == text, "run: python tests/argspec_table.py --write"


def _specs(role: str) -> dict:
    import yaml

    spec = yaml.safe_load((README.parent / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def test_shared_variables_are_declared_alike_in_every_role():
    """The shared model is one model: same spec and same default wherever a role reads it."""
    import yaml

    roles = ("pgbouncer", "pgbouncer_postgresql", "pgbouncer_app_files")
    specs = {role: _specs(role) for role in roles}
    defaults = {
        role: yaml.safe_load((README.parent / "roles" / role / "defaults" / "main.yml").read_text())
        for role in roles
    }
    shared = [name for name in specs["pgbouncer"] if sum(name in specs[role] for role in roles) > 1]
    assert {"pgbouncer_auth_user", "pgbouncer_databases", "pgbouncer_roles"} <= set(shared)
    for name in shared:
        having = [role for role in roles if name in specs[role]]
        assert all(specs[role][name] == specs[having[0]][name] for role in having), name
        assert all(defaults[role].get(name) == defaults[having[0]].get(name) for role in having), name


def test_every_default_in_defaults_main_is_in_the_argument_specs():
    import yaml

    root = README.parent
    for role in ("pgbouncer", "pgbouncer_postgresql", "pgbouncer_app_files"):
        defaults = yaml.safe_load((root / "roles" / role / "defaults" / "main.yml").read_text())
        spec = yaml.safe_load((root / "roles" / role / "meta" / "argument_specs.yml").read_text())
        options = spec["argument_specs"]["main"]["options"]
        assert set(defaults) <= set(options), set(defaults) - set(options)
        for name, value in defaults.items():
            assert options[name].get("default") == value, f"{role}: {name} default differs from the spec"
