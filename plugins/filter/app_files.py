"""Filters for the application-side files (plugin_utils/app_files)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import app_files
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError


def python_literal(value: object) -> str:
    """A Python literal that evaluates to exactly ``value``."""
    try:
        return app_files.python_literal(value)
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def database_url(
    user: str, host: str, port: object, database: str, sslmode: str = "", sslrootcert: str = ""
) -> str:
    """A libpq URL with every part from the inventory percent-encoded, the host checked, and the
    TLS parameters when ``sslmode`` is set."""
    try:
        return app_files.database_url(
            str(user), str(host), port, str(database), str(sslmode), str(sslrootcert)
        )
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def env_variable(alias: object, prefix: str) -> str:
    """``prefix`` for the default alias, ``prefix_<ALIAS>`` for another (``alias`` checked)."""
    try:
        return app_files.env_variable(str(prefix), str(alias))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def shell_value(value: object, variable: str) -> str:
    """``value`` single-quoted for a file a POSIX shell sources (fails naming ``variable`` on a
    control character)."""
    try:
        return app_files.shell_value(value, str(variable))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def endpoint_errors(host: object, port: object) -> list[str]:
    """[] or why the files cannot point at ``host``:``port``."""
    try:
        app_files.check_endpoint(host, port, "pgbouncer_app_files")
    except ConfigError as exc:
        return [str(exc)]
    return []


class FilterModule:
    """Application-side file filters."""

    def filters(self) -> dict[str, object]:
        return {
            "app_database_errors": app_files.app_database_errors,
            "app_logins": app_files.app_logins,
            "previous_logins": app_files.previous_logins,
            "database_url": database_url,
            "endpoint_errors": endpoint_errors,
            "env_variable": env_variable,
            "python_literal": python_literal,
            "shell_value": shell_value,
        }
