"""Filters over the toolkit's model of PgBouncer's configuration (plugin_utils/pooler_model,
pgbouncer_settings, pgbouncer_files, value_checks, sql_text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_show import (
    show_config_value,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_files
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pooler_model as model
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import (
    role_argument_spec,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import (
    load_table,
    reloadable_settings,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.sql_text import quote_ident
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    check_text,
    password_errors,
    url_errors,
)


def pooler_model(inputs: Mapping[str, Any], version: str) -> dict[str, Any]:
    """The pooler's model, built once per host: ``errors`` (each naming its variable) and, per
    process 1..pgbouncer_processes, the ``sections`` of its pgbouncer-<n>.ini (each entry one
    checked ``key = value`` line) and ``show_config``, its [pgbouncer] keys as SHOW CONFIG displays
    them once loaded; the ``pools`` every process can have, each limit with the variable it comes
    from (pool_sizes.pools), the entries that point ``elsewhere`` (another server), and
    ``limit_nofile``, each process's LimitNOFILE, with the ``descriptors`` it is worked out from.
    With errors, nothing may be rendered from it."""
    errors, per_process, limits = model.pooler_model(inputs, str(version))
    if not errors:
        for sections in per_process:
            try:
                pgbouncer_files.one_line_each(sections)
            except ConfigError as exc:
                errors.append(str(exc))
    table = load_table()
    return {
        "errors": errors,
        "processes": [
            {
                "sections": sections,
                "show_config": {
                    key: show_config_value(table.get("pgbouncer", key).type, text)
                    for key, text in sections["pgbouncer"].items()
                },
            }
            for sections in per_process
        ],
        **limits,
    }


def userlist(user: str, password: str) -> str:
    """userlist.txt holding the auth user's entry only."""
    try:
        return pgbouncer_files.userlist(str(user), str(password))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def userlist_verifiers(verifiers: Mapping[str, object]) -> str:
    """userlist.txt holding each role's SCRAM verifier (a managed PostgreSQL)."""
    try:
        return pgbouncer_files.userlist_verifiers(verifiers)
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


def deb822_field(value: object) -> str:
    """A deb822 field value: one line, no surrounding whitespace (a line break would add a field)."""
    try:
        return check_text(value, "apt source field")
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


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
            "deb822_field": deb822_field,
            "password_errors": password_errors,
            "quote_ident": quote_ident,
            "reloadable_settings": lambda version: reloadable_settings(str(version)),
            "role_argument_spec": role_argument_spec,
            "pid_changes": pid_changes,
            "pooler_model": pooler_model,
            "url_errors": url_errors,
            "userlist": userlist,
            "userlist_verifiers": userlist_verifiers,
        }
