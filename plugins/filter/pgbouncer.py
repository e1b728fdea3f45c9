"""Filters over the toolkit's model of PgBouncer's configuration (module_utils/pgbouncer_config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import pgbouncer_config as model


def config_errors(
    inputs: Mapping[str, Any], version: str, instance: Mapping[str, Any] | None = None
) -> list[str]:
    """Every problem with the pooler-side inputs for PgBouncer ``version``, each naming its variable."""
    return model.pooler_config(inputs, str(version), instance)[0]


def ini(
    inputs: Mapping[str, Any], version: str, instance: Mapping[str, Any] | None = None, header: str = ""
) -> str:
    """pgbouncer.ini for ``inputs`` (refuses to render anything config_errors would report)."""
    errors, sections = model.pooler_config(inputs, str(version), instance)
    if errors:
        raise AnsibleFilterError("; ".join(errors))
    return model.render_ini(sections, header)


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


def restart_keys(old_text: str | None, new_text: str, version: str) -> list[str]:
    """[pgbouncer] keys that differ between two files and that RELOAD does not apply."""
    return model.restart_keys(old_text, new_text, str(version))


class FilterModule:
    """PgBouncer configuration filters."""

    def filters(self) -> dict[str, object]:
        return {
            "config_errors": config_errors,
            "deb822_field": deb822_field,
            "ini": ini,
            "password_errors": model.password_errors,
            "quote_ident": model.quote_ident,
            "reloadable_settings": lambda version: model.reloadable_settings(str(version)),
            "restart_keys": restart_keys,
            "target_version": model.target_version,
            "url_errors": model.url_errors,
            "userlist": userlist,
        }
