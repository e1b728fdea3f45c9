"""Render and compare pgbouncer.ini content, and check PgBouncer settings before they go live."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_SECTION = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_KEY_VALUE = re.compile(r"^\s*(?P<key>[^=\s;#][^=]*?)\s*=\s*(?P<value>.*?)\s*$")
# Quote a [databases] value when PgBouncer's connection-string parser would split it.
_NEEDS_QUOTES = re.compile(r"[\s=]")


def ini_value(value: object) -> str:
    """Render one [pgbouncer] value: booleans as 1/0, lists comma-joined, the rest as text."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(ini_value(item) for item in value)
    if value is None:
        return ""
    return str(value)


def db_connstr(entry: Mapping[str, object]) -> str:
    """Render a [databases] connection string (``key=value ...``) from a mapping, keys sorted."""
    parts = []
    for key in sorted(entry):
        text = ini_value(entry[key])
        if _NEEDS_QUOTES.search(text) or text == "":
            text = "'" + text + "'"
        parts.append(f"{key}={text}")
    return " ".join(parts)


def parse_ini(text: str | None) -> dict[str, dict[str, str]]:
    """Parse pgbouncer.ini text into {section: {key: value}} (last value wins, like PgBouncer)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in ";#":
            continue
        section = _SECTION.match(line)
        if section:
            current = sections.setdefault(section["name"].strip().lower(), {})
            continue
        pair = _KEY_VALUE.match(line)
        if pair and current is not None:
            current[pair["key"].lower()] = pair["value"]
    return sections


def ini_changed_keys(old_text: str | None, new_text: str | None, section: str = "pgbouncer") -> list[str]:
    """Keys of ``section`` whose value differs between two ini texts (added and removed included)."""
    old = parse_ini(old_text).get(section, {})
    new = parse_ini(new_text).get(section, {})
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _is_non_negative_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isdigit()


def _has_line_break(value: object) -> bool:
    return any(char in ini_value(value) for char in "\r\n\0")


def config_errors(
    settings: Mapping[str, object],
    databases: Iterable[Mapping[str, object]],
    known_settings: Iterable[str],
    managed_settings: Mapping[str, str],
    database_keys: Iterable[str],
) -> list[str]:
    """Every problem with the [pgbouncer] extras and [databases] entries, each naming its variable.

    ``managed_settings`` maps the keys that have a dedicated role variable to that variable.
    """
    errors: list[str] = []
    known = set(known_settings)
    allowed_db_keys = set(database_keys)
    for key, value in settings.items():
        if key in managed_settings:
            errors.append(
                f"pgbouncer_settings.{key}: set it with the variable {managed_settings[key]}, "
                "not in pgbouncer_settings"
            )
        elif key not in known:
            errors.append(
                f"pgbouncer_settings.{key}: unknown PgBouncer setting; allowed are the [pgbouncer] "
                "keys of PgBouncer's configuration reference (for example default_pool_size, "
                "query_wait_timeout, server_tls_sslmode)"
            )
        if _has_line_break(key) or _has_line_break(value):
            errors.append(f"pgbouncer_settings.{key}: keys and values must be single-line text")
    seen: set[str] = set()
    for index, entry in enumerate(databases):
        where = f"pgbouncer_databases[{index}]"
        name = str(entry.get("name", ""))
        if not name or _has_line_break(name) or re.search(r"[\s=\[\];#'\"]", name):
            errors.append(
                f"{where}.name: {name!r} is not a usable database name "
                "(one line, no spaces, '=', quotes, brackets, ';' or '#')"
            )
        if name == "pgbouncer":
            errors.append(f"{where}.name: 'pgbouncer' is reserved for PgBouncer's admin console")
        if name in seen:
            errors.append(f"{where}.name: {name!r} is declared twice")
        seen.add(name)
        for key in ("pool_size", "min_pool_size", "reserve_pool_size", "max_db_connections", "port"):
            value = entry.get(key)
            if value is not None and not _is_non_negative_int(value):
                errors.append(f"{where}.{key}: must be a non-negative integer, got {value!r}")
        for key, value in dict(entry.get("settings") or {}).items():
            if key not in allowed_db_keys:
                errors.append(
                    f"{where}.settings.{key}: not a [databases] parameter PgBouncer accepts "
                    f"(allowed: {', '.join(sorted(allowed_db_keys))})"
                )
            if "'" in ini_value(value) or "\\" in ini_value(value):
                errors.append(f"{where}.settings.{key}: values must not contain quotes or backslashes")
        for key in ("dbname", "host", "name", "pool_mode", "auth_dbname"):
            if _has_line_break(entry.get(key, "")):
                errors.append(f"{where}.{key}: must be single-line text")
        for key, value in dict(entry.get("settings") or {}).items():
            if _has_line_break(value):
                errors.append(f"{where}.settings.{key}: must be single-line text")
    return errors


class FilterModule:
    """pgbouncer.ini filters."""

    def filters(self) -> dict[str, object]:
        return {
            "pgbouncer_ini_value": ini_value,
            "pgbouncer_db_connstr": db_connstr,
            "pgbouncer_ini_changed_keys": ini_changed_keys,
            "pgbouncer_config_errors": config_errors,
        }
