"""Filters over the toolkit's model of PgBouncer's configuration (plugin_utils/pgbouncer_config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_show import (
    show_config_value,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_config as model


def config_errors(inputs: Mapping[str, Any], version: str, process: int = 1) -> list[str]:
    """Every problem with the pooler-side inputs for PgBouncer ``version``, each naming its variable."""
    return model.pooler_config(inputs, str(version), int(process))[0]


def ini_sections(inputs: Mapping[str, Any], version: str, process: int = 1) -> dict[str, dict[str, str]]:
    """pgbouncer-<process>.ini's sections for ``inputs``, each entry one checked ``key = value``
    line (refuses anything config_errors would report)."""
    errors, sections = model.pooler_config(inputs, str(version), int(process))
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    try:
        model.one_line_each(sections)
    except model.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None
    return sections


def userlist(user: str, password: str) -> str:
    """userlist.txt holding the auth user's entry only."""
    try:
        return model.userlist(str(user), str(password))
    except model.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def deb822_field(value: object) -> str:
    """A deb822 field value: one line, no surrounding whitespace (a line break would add a field)."""
    try:
        return model.check_text(value, "apt source field")
    except model.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def process_settings(process: int, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What sets process ``process`` apart (unix_socket_dir, pidfile, peer_id, so_reuseport, peers)."""
    try:
        return model.process_settings_of(inputs, int(process))
    except model.ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def show_config_expected(inputs: Mapping[str, Any], version: str, process: int = 1) -> dict[str, str]:
    """The [pgbouncer] keys of pgbouncer-<process>.ini as SHOW CONFIG displays them when loaded."""
    errors, sections = model.pooler_config(inputs, str(version), int(process))
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    table = model.load_table()
    return {
        key: show_config_value(table.get("pgbouncer", key).type, text)
        for key, text in sections["pgbouncer"].items()
    }


def pid_changes(applied: Mapping[str, Any]) -> list[str]:
    """``process: pid before -> pid after`` for each process a pgbouncer_process loop started,
    reloaded or restarted (the registered result of apply.yml), with the listeners a restart took
    out of service first."""
    return [
        f"{result.get('__pgbouncer_process', result.get('item'))}: {result.get('pid_before')} -> {result.get('pid_after')}"
        + (
            f" ({result['listeners_closed']} listener(s) closed first)"
            if result.get("listeners_closed", 0) > 0
            else ""
        )
        for result in (applied or {}).get("results", [])
        if isinstance(result, Mapping) and "pid_after" in result
    ]


class FilterModule:
    """PgBouncer configuration filters."""

    def filters(self) -> dict[str, object]:
        return {
            "config_errors": config_errors,
            "deb822_field": deb822_field,
            "ini_sections": ini_sections,
            "password_errors": model.password_errors,
            "quote_ident": model.quote_ident,
            "reloadable_settings": lambda version: model.reloadable_settings(str(version)),
            "pid_changes": pid_changes,
            "process_settings": process_settings,
            "show_config_expected": show_config_expected,
            "target_version": model.target_version,
            "url_errors": model.url_errors,
            "userlist": userlist,
        }
