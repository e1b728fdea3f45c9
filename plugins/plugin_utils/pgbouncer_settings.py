"""PgBouncer's settings as the toolkit knows them: the versioned settings table
(``pgbouncer_settings.yml`` beside this file), with every key of ``[pgbouncer]``, ``[databases]``,
``[users]`` and ``[peers]``, its type, bounds, whether RELOAD applies it and the releases that have
it; and the one normaliser of a value into the text PgBouncer reads back (its own parsers:
``strtol`` into a C int, whole microseconds, octal modes, comma lists).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    canonical_host,
    check_name,
    check_path,
    check_text,
    integer,
)

TABLE_FILE = Path(__file__).with_name("pgbouncer_settings.yml")
C_INT_MAX = 2**31 - 1
C_INT_MIN = -(2**31)
_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_OCTAL_MODE = re.compile(r"0?[0-7]{1,3}")


@dataclass(frozen=True)
class Setting:
    """One key of one section, as the settings table describes it."""

    section: str
    key: str
    type: str
    since: str
    description: str = ""
    reload: bool = True
    until: str | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: Any = ()
    element: str = "string"
    integer_only: bool = False
    alias_of: str | None = None

    def exists_in(self, version: str) -> bool:
        """Whether PgBouncer ``version`` has this key."""
        if version_key(version) < version_key(self.since):
            return False
        return self.until is None or version_key(version) < version_key(self.until)

    def default_in(self, version: str) -> Any:
        """The compiled default of ``version`` (the table gives a mapping where it changed)."""
        return _as_of(self.default, version)

    def choices_in(self, version: str) -> tuple[str, ...]:
        """The enum names ``version`` accepts (the table gives a mapping where the set changed)."""
        return tuple(str(choice) for choice in _as_of(self.choices, version) or ())


def _as_of(value: Any, version: str) -> Any:
    """``value``, or where it is a {first version: value} mapping, the entry ``version`` gets."""
    if not isinstance(value, Mapping):
        return value
    applicable = [v for v in value if version_key(v) <= version_key(version)]
    return value[max(applicable, key=version_key)] if applicable else None


@dataclass(frozen=True)
class SettingsTable:
    """The whole table: the versions it covers and every key of every section."""

    versions: tuple[str, ...]
    sections: Mapping[str, Mapping[str, Setting]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> Setting | None:
        return self.sections.get(section, {}).get(key)

    @property
    def newest(self) -> str:
        return max(self.versions, key=version_key)

    @property
    def oldest(self) -> str:
        return min(self.versions, key=version_key)


def version_key(version: str) -> tuple[int, ...]:
    """'1.24.1' -> (1, 24, 1); '1.4' -> (1, 4, 0), so short and long forms compare."""
    parts = [int(part) for part in re.findall(r"[0-9]+", str(version))[:3]]
    return tuple(parts + [0] * (3 - len(parts)))


@functools.cache
def load_table(path: str = str(TABLE_FILE)) -> SettingsTable:
    """Read the settings table (once per process)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    sections: dict[str, dict[str, Setting]] = {}
    for section, keys in data["sections"].items():
        sections[section] = {}
        for key, spec in keys.items():
            spec = dict(spec)
            sections[section][key] = Setting(
                section=section,
                key=key,
                type=spec.pop("type"),
                since=str(spec.pop("since")),
                description=str(spec.pop("description", "")),
                reload=bool(spec.pop("reload", True)),
                until=None if spec.get("until") is None else str(spec.pop("until")),
                default=spec.pop("default", None),
                min=spec.pop("min", None),
                max=spec.pop("max", None),
                choices=spec.pop("choices", ()),
                element=spec.pop("element", "string"),
                integer_only=bool(spec.pop("integer_only", False)),
                alias_of=spec.pop("alias_of", None),
            )
    return SettingsTable(versions=tuple(str(v) for v in data["versions"]), sections=sections)


def _number_text(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(float(number))


def _bounded(number: float, setting: Setting, where: str) -> None:
    low = setting.min if setting.min is not None else (C_INT_MIN if setting.type != "time" else 0)
    high = setting.max if setting.max is not None else C_INT_MAX
    if not low <= number <= high:
        raise ConfigError(
            f"{where}: {_number_text(number)} is out of range ({_number_text(low)} to {_number_text(high)})"
        )


def _element(text: str, kind: str, where: str) -> str:
    if not text or re.search(r"[\s,]", text):
        raise ConfigError(
            f"{where}: list item {text!r} is empty or holds whitespace or a comma, which PgBouncer "
            "reads as a separator"
        )
    if kind == "role":
        check_name(text, where, kind="role")
    elif kind == "parameter" and not _PARAMETER.fullmatch(text):
        raise ConfigError(f"{where}: {text!r} is not a parameter name")
    elif kind == "address" and text != "*":
        canonical = canonical_host(text)
        if canonical is None:
            raise ConfigError(
                f"{where}: {text!r} is not an address, a host name or * (addresses without a zone id)"
            )
        return canonical
    return text


def normalize(setting: Setting, value: object, where: str, version: str) -> str:
    """The text PgBouncer ``version`` must read for ``value``, or ConfigError naming ``where``."""
    kind = setting.type
    if kind == "boolean":
        if isinstance(value, bool):
            return "1" if value else "0"
        if isinstance(value, int) and value in (0, 1):
            return str(int(value))
        if isinstance(value, str) and value in ("0", "1"):
            return value
        raise ConfigError(f"{where}: must be a boolean (true/false), got {value!r}")
    if kind in ("integer", "size"):
        number = integer(value, where)
        _bounded(number, setting, where)
        return str(number)
    if kind == "time":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{where}: must be a number of seconds, got {value!r}")
        if isinstance(value, str) and not _NUMBER.fullmatch(value):
            raise ConfigError(f"{where}: must be a number of seconds, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ConfigError(f"{where}: must be a finite number of seconds, got {value!r}")
        if setting.integer_only and not number.is_integer():
            raise ConfigError(f"{where}: must be a whole number of seconds here, got {value!r}")
        # PgBouncer keeps whole microseconds, truncated: 1e-7 would become 0 (off), 1.0000001 be 1.
        usec = number * 1_000_000
        if abs(usec - round(usec)) > 1e-6 * max(1.0, usec) or math.trunc(usec) != round(usec):
            raise ConfigError(
                f"{where}: {value!r} is not a whole number of microseconds (PgBouncer would round it "
                "down, a value below 1 microsecond to 0, which turns the timeout off)"
            )
        _bounded(number, setting, where)
        return _number_text(number)
    if kind == "enum":
        text = check_text(value, where).lower()
        choices = setting.choices_in(version)
        if text not in choices:
            raise ConfigError(f"{where}: must be one of {', '.join(choices)}, got {value!r}")
        return text
    if kind == "mode":
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 0o777:
            return f"0{int(value):o}"
        if isinstance(value, str) and _OCTAL_MODE.fullmatch(value):
            return f"0{int(value, 8):o}"
        raise ConfigError(f"{where}: must be a file mode such as '0770', got {value!r}")
    if kind == "path":
        return check_path(value, where)
    if kind == "list":
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, Iterable) or isinstance(items, Mapping):
            raise ConfigError(f"{where}: must be a list, got {type(value).__name__}")
        return ",".join(_element(check_text(item, where), setting.element, where) for item in items)
    return check_text(value, where, allow_empty=setting.section == "pgbouncer")


def section_label(section: str) -> str:
    """How messages name a section: "[pgbouncer]", "[databases] entry", ..."""
    return "[pgbouncer]" if section == "pgbouncer" else f"[{section}] entry"


def check_setting(
    table: SettingsTable, section: str, key: object, value: object, version: str, where: str
) -> tuple[Setting, str]:
    """Look ``key`` up for ``version`` and normalise ``value``; ConfigError names ``where``."""
    if not isinstance(key, str):
        raise ConfigError(f"{where}: setting names are text, got {type(key).__name__}")
    setting = table.get(section, key)
    if setting is None:
        newer = version_key(version) > version_key(table.newest)
        raise ConfigError(
            f"{where}: {key!r} is not a PgBouncer {section_label(section)} setting"
            + (f" (the settings table knows releases up to {table.newest})" if newer else "")
        )
    if not setting.exists_in(version):
        when = (
            f"was added in {setting.since}"
            if version_key(version) < version_key(setting.since)
            else (f"was removed in {setting.until}")
        )
        raise ConfigError(f"{where}: {key} {when}; the PgBouncer on this host is {version}")
    return setting, normalize(setting, value, where, version)


def reloadable_settings(version: str) -> dict[str, bool]:
    """{[pgbouncer] key: whether RELOAD applies it} for every key PgBouncer ``version`` has."""
    table = load_table()
    return {
        key: setting.reload
        for key, setting in table.sections["pgbouncer"].items()
        if setting.exists_in(version)
    }
