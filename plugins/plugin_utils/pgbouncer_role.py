"""What the controller reads from the pgbouncer role's own files: its defaults (the one home of a
value the inputs may leave out) and its argument spec (the role variables that set a
``[pgbouncer]`` key, and the keys ``pgbouncer_settings`` may therefore not set).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import load_table
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

# The pgbouncer role's defaults: the one home of a value the inputs may leave out (the role always
# passes them; direct callers and tests may not).
ROLE_DEFAULTS_FILE = Path(__file__).resolve().parents[2] / "roles" / "pgbouncer" / "defaults" / "main.yml"


@functools.cache
def _role_defaults() -> dict[str, Any]:
    return dict(yaml.safe_load(ROLE_DEFAULTS_FILE.read_text(encoding="utf-8")))


def role_default(variable: str) -> Any:
    """The pgbouncer role's default for ``variable`` (a plain value, not a template)."""
    value = _role_defaults()[variable]
    if isinstance(value, str) and "{{" in value:
        raise ConfigError(f"internal error: {variable}'s default is a template, not a value")
    return value


# The pgbouncer role's argument spec: its options named pgbouncer_<key> set that [pgbouncer] key.
ROLE_SPEC_FILE = ROLE_DEFAULTS_FILE.parents[1] / "meta" / "argument_specs.yml"
# [pgbouncer] keys the toolkit sets itself (or must never be set), with what to use instead; the
# role variables' keys are added by managed_keys().
_ROLE_SET_KEYS = {
    "auth_user": "set it with pgbouncer_auth_user",
    "auth_dbname": "set it with pgbouncer_auth_database",
    "auth_query": "it is derived from pgbouncer_auth_schema and pgbouncer_auth_function",
    "auth_file": "the role writes userlist.txt and points auth_file at it",
    "pidfile": "the role manages it per process",
    "peer_id": "the role derives it per process and host",
    "so_reuseport": "the role sets it from the number of processes",
    "user": "PgBouncer runs as the service user under systemd and must not switch users",
    "conffile": "the role manages the configuration file",
    "server_tls_ca_file": "the role points it at the CA of the pgbouncer_tls role",
    "client_tls_cert_file": "the role points it at the host's certificate from the pgbouncer_tls role",
    "client_tls_key_file": "the role points it at the host's key from the pgbouncer_tls role",
}


@functools.cache
def role_variables() -> dict[str, str]:
    """Role variables that set a [pgbouncer] key, and the key: each option of the pgbouncer role's
    argument spec named ``pgbouncer_<key>`` after a [pgbouncer] key of the settings table. Adding
    such a variable to the spec (and its default to defaults/main.yml) is all it takes."""
    options = yaml.safe_load(ROLE_SPEC_FILE.read_text(encoding="utf-8"))["argument_specs"]["main"]["options"]
    keys = load_table().sections["pgbouncer"]
    return {
        name: name.removeprefix("pgbouncer_")
        for name in options
        if name.startswith("pgbouncer_") and name.removeprefix("pgbouncer_") in keys
    }


@functools.cache
def managed_keys() -> dict[str, str]:
    """[pgbouncer] keys pgbouncer_settings may not set, with what to use instead."""
    return {
        **{key: f"set it with {variable}" for variable, key in role_variables().items()},
        **_ROLE_SET_KEYS,
    }


def _spec_options(role_dir: Path) -> dict[str, Any]:
    spec = yaml.safe_load((role_dir / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    return dict(spec["argument_specs"]["main"]["options"])


def role_argument_spec(role_path: str, required: Sequence[str] = ()) -> dict[str, Any]:
    """The options a role's inputs are checked against: its own argument spec's and those of the
    collection's roles it depends on (meta/main.yml), with the options in ``required`` marked
    required (a shared secret only some readers need)."""
    role_dir = Path(role_path)
    meta_file = role_dir / "meta" / "main.yml"
    meta = (yaml.safe_load(meta_file.read_text(encoding="utf-8")) or {}) if meta_file.exists() else {}
    options: dict[str, Any] = {}
    for dependency in meta.get("dependencies") or []:
        name = dependency["role"] if isinstance(dependency, dict) else dependency
        options.update(_spec_options(role_dir.parent / str(name).rsplit(".", 1)[-1]))
    options.update(_spec_options(role_dir))
    for name in required:
        if name not in options:
            raise ConfigError(f"internal error: {name} is not an option of {role_dir.name}'s argument spec")
        options[name] = {**options[name], "required": True}
    return options
