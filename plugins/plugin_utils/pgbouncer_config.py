"""PgBouncer's configuration as this toolkit models it.

- The versioned settings table (``pgbouncer_settings.yml`` beside this file): every key of
  ``[pgbouncer]``, ``[databases]``, ``[users]`` and ``[peers]``, its type, bounds, whether RELOAD
  applies it, and the versions that have it.
- Value checks that follow PgBouncer's own parsers (libusual's ini parser, PgBouncer's
  connection-string parser, ``strtol`` into a C int, ``atoi`` in connection strings), so a value
  PgBouncer would misread, truncate, wrap or split is refused by name before any host changes.
- A renderer that cannot emit a line the inventory did not declare: every value is checked to be
  one line and rendered in the only form PgBouncer reads back byte for byte.

Every error names the inventory variable it comes from (``pgbouncer_databases[2].settings.x``).
"""

from __future__ import annotations

import functools
import math
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import (
    CONTROL_CHARACTERS,
    name_problem,
    role_name_problem,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.tls_files import TLS_FILES

TABLE_FILE = Path(__file__).with_name("pgbouncer_settings.yml")
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


T = TypeVar("T")

C_INT_MAX = 2**31 - 1
C_INT_MIN = -(2**31)
PASSWORD_MAX_BYTES = 1024

# The characters libusual's ini parser takes in an unquoted key (ASCII isalnum and "_.-*"; a bare
# "*" is the fallback database, so it is left out). Quoted keys ('...') came with 1.25.0.
_UNQUOTED_KEY = re.compile(r"[A-Za-z0-9_.-]+")
QUOTED_KEYS_SINCE = "1.25.0"
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# A last label getaddrinfo (inet_aton) reads as part of an IPv4 address in another notation:
# "127.1", "010.0.0.1", "0x7f000001" are addresses to libpq and PgBouncer, not names.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
_PARAMETER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_DECIMAL = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?")
_OCTAL_MODE = re.compile(r"0?[0-7]{1,3}")


class ConfigError(ValueError):
    """A value that cannot go into the configuration; the message names where it came from."""


# --------------------------------------------------------------------------------------------
# The settings table


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


# --------------------------------------------------------------------------------------------
# Text checks shared by every value that reaches a file


def check_text(value: object, where: str, *, allow_empty: bool = False) -> str:
    """A plain one-line ``str``: no control characters, no leading or trailing whitespace.

    PgBouncer's ini parser ends a value at a line break and strips whitespace around it, so
    anything else would be read back differently, or add a line.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where}: must be text, got {type(value).__name__}")
    text = str(value)
    if not text and not allow_empty:
        raise ConfigError(f"{where}: must not be empty")
    if CONTROL_CHARACTERS.search(text):
        raise ConfigError(f"{where}: {text!r} holds a line break or another control character")
    if text != text.strip():
        raise ConfigError(f"{where}: {text!r} has leading or trailing whitespace")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{where}: {text!r} is not valid Unicode text") from None
    return text


def check_name(value: object, where: str, *, kind: str = "name") -> str:
    """A PostgreSQL name (a role when ``kind`` is "role") that every file and statement can carry;
    the rules are names.py's, shared with the modules."""
    problem = role_name_problem(value) if kind == "role" else name_problem(value)
    if problem is not None:
        raise ConfigError(f"{where}: {problem}")
    return str(value)


def check_section_name(value: object, where: str, *, kind: str, version: str) -> str:
    """A name that becomes an ini key (a [databases] or [users] entry).

    Up to 1.24 PgBouncer reads only ASCII letters, digits, '_', '.' and '-' there; from 1.25 a
    key may be single-quoted, so anything but a single quote.
    """
    text = check_name(value, where, kind=kind)
    if _UNQUOTED_KEY.fullmatch(text):
        return text
    if version_key(version) < version_key(QUOTED_KEYS_SINCE):
        raise ConfigError(
            f"{where}: {text!r} cannot be an entry name for PgBouncer {version}, which reads only ASCII "
            f"letters, digits, '_', '.' and '-' there (quoted names need {QUOTED_KEYS_SINCE})"
            + (": name the entry so and set its dbname to the PostgreSQL name" if kind == "database" else "")
        )
    if "'" in text:
        raise ConfigError(
            f"{where}: {text!r} contains a single quote, which PgBouncer cannot read in an entry name"
        )
    return text


# sun_path holds 108 bytes with its NUL: the directory plus "/.s.PGSQL.<port>" must fit in 107,
# or PgBouncer binds a truncated path outside the directory.
SUN_PATH_MAX = 107


# Directories every local user can write (sticky or not), and their aliases through the usual
# symlinks: whoever creates the socket's name there first gets the connections.
WORLD_WRITABLE_DIRS = (
    "/tmp",
    "/var/tmp",
    "/dev/shm",
    "/run/shm",
    "/run/lock",
    "/var/lock",
    "/var/run/lock",
    "/var/crash",
)
DEFAULT_SOCKET_DIR = "/var/run/postgresql"


def check_socket_dir(value: object, where: str, port: object = 65535) -> str:
    """A unix socket directory PgBouncer reads as one directory: an absolute path without a comma
    (a comma makes a host value a list), short enough for its socket file, and not in a directory
    any local user can write; the normalised path."""
    text = check_path(value, where)
    if "," in text:
        raise ConfigError(f"{where}: {text!r} contains a comma, which PgBouncer reads as a list of hosts")
    shared = next((d for d in WORLD_WRITABLE_DIRS if text == d or text.startswith(d + "/")), None)
    if shared is not None:
        raise ConfigError(
            f"{where}: {value!r} is in a directory every local user can write ({shared}), where any of "
            f"them could create the socket first; use a directory only the service user can write, "
            f"such as {DEFAULT_SOCKET_DIR} (the default)"
        )
    socket = f"{text.rstrip('/')}/.s.PGSQL.{port}"
    if len(socket.encode()) > SUN_PATH_MAX:
        raise ConfigError(
            f"{where}: {text!r} is too long for a unix socket ({socket!r} is "
            f"{len(socket.encode())} bytes, at most {SUN_PATH_MAX})"
        )
    return text


def check_host(value: object, where: str) -> str:
    """What a PgBouncer ``host`` can be: host names and IP addresses, comma-separated, or one
    absolute unix socket directory; rendered canonical (addresses by the parser, paths
    normalised)."""
    text = check_text(value, where)
    if text.startswith("/"):
        return check_socket_dir(text, where)
    parts = []
    for part in text.split(","):
        canonical = canonical_host(part)
        if canonical is None:
            raise ConfigError(
                f"{where}: {part!r} is not a host name or an IP address "
                "(allowed: names, addresses without a zone id, a comma-separated list of those, or a "
                "socket directory)"
            )
        parts.append(canonical)
    return ",".join(parts)


def canonical_host(text: object) -> str | None:
    """``text`` as it is rendered: an IP address in its canonical form (addresses.py: no zone id),
    a DNS name (RFC 1123 labels, letters, digits and '-', at most one trailing dot, not ending in a
    label inet_aton reads as a number) as given; None for anything else."""
    try:
        return str(parse_address(text))
    except AddressError:
        pass
    if not isinstance(text, str) or not 0 < len(text) <= 253:
        return None
    labels = (text[:-1] if text.endswith(".") else text).split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels) or _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    return str(text)


def is_host_or_address(text: object) -> bool:
    """A DNS name or a plain IPv4 or IPv6 address (see canonical_host)."""
    return canonical_host(text) is not None


def check_path(value: object, where: str) -> str:
    """An absolute path, one line, without a '..' component and not a device or kernel file
    (PgBouncer reads such files whole); the normalised path (repeated slashes and '.' removed).

    '..' is refused rather than resolved: resolving it without the file system is wrong behind a
    symlink (/var/run/../dev is /dev, since /var/run is /run), and no configuration needs it.
    """
    text = check_text(value, where)
    if not text.startswith("/"):
        raise ConfigError(f"{where}: {text!r} must be an absolute path")
    if ".." in text.split("/"):
        raise ConfigError(
            f"{where}: {text!r} has a '..' component, which a symlinked directory before it would "
            "lead elsewhere; write the path without it"
        )
    # normpath keeps a leading "//" (POSIX leaves its meaning to the system): collapse it too.
    path = "/" + posixpath.normpath(text).lstrip("/")
    if re.match(r"/(dev|proc|sys)(/|$)", path):
        raise ConfigError(f"{where}: {text!r} points into /dev, /proc or /sys ({path})")
    return path


# --------------------------------------------------------------------------------------------
# Values by type


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where}: must be an integer, got a boolean")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    raise ConfigError(f"{where}: must be an integer, got {value!r}")


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
        number = _integer(value, where)
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


def target_version(apt_policy: str, install_source: str) -> str:
    """The release to check settings against, from ``apt-cache policy pgbouncer``: the installed
    one, else the candidate (distro packages) or the newest the table knows (PGDG, not added yet);
    '0' when there is none."""

    def field(name: str) -> str | None:
        match = re.search(rf"^\s*{name}:\s*(?:[0-9]+:)?([0-9]+\.[0-9]+(?:\.[0-9]+)?)", apt_policy, re.M)
        return match.group(1) if match else None

    installed, candidate = field("Installed"), field("Candidate")
    if installed:
        return installed
    if install_source == "pgdg":
        return load_table().newest
    return candidate or "0"


def section_label(section: str) -> str:
    return "[pgbouncer]" if section == "pgbouncer" else f"[{section}] entry"


# --------------------------------------------------------------------------------------------
# Rendering


def ini_key(name: str) -> str:
    """An entry name as an ini key: bare when PgBouncer reads it bare, else single-quoted (the
    name has passed check_section_name for the target version)."""
    return name if _UNQUOTED_KEY.fullmatch(name) else f"'{name}'"


def connstr(pairs: Iterable[tuple[str, str, bool]]) -> str:
    """``key=value`` pairs for a [databases]/[users]/[peers] entry; (key, text, is_number).

    PgBouncer splits on spaces and reads ``'...'`` with ``''`` for a quote: every text value is
    quoted, so nothing in it can start another pair.
    """
    rendered = []
    for key, text, is_number in pairs:
        rendered.append(f"{key}={text}" if is_number else "{}='{}'".format(key, text.replace("'", "''")))
    return " ".join(rendered)


def one_line_each(sections: Mapping[str, Mapping[str, str]]) -> Mapping[str, Mapping[str, str]]:
    """``sections`` unchanged when every key and value is one line: the invariant every check
    above exists for (a rendered entry is one ``key = value`` line, nothing more)."""
    for entries in sections.values():
        for key, value in entries.items():
            if len(f"{key} = {value}".splitlines()) != 1 or CONTROL_CHARACTERS.search(f"{key}{value}"):
                raise ConfigError("internal error: a rendered value spans more than one line")
    return sections


def render_ini(sections: Mapping[str, Mapping[str, str]], header: str = "") -> str:
    """The file: ``header`` (comment lines), then each section with its already-checked lines.
    The role's pgbouncer.ini.j2 writes the same text from the same sections."""
    lines = [line for line in header.splitlines() if line.startswith((";", "#")) or not line]
    for section, entries in one_line_each(sections).items():
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {value}" for key, value in entries.items())
    return "\n".join(lines) + "\n"


def userlist(user: str, password: str) -> str:
    """userlist.txt with one entry: ``"user" "password"``, quotes doubled (PgBouncer's format)."""
    check_name(user, "pgbouncer_auth_user", kind="role")
    check_password(password, "pgbouncer_auth_password")
    return '"{}" "{}"\n'.format(user.replace('"', '""'), password.replace('"', '""'))


def check_password(value: object, where: str) -> str:
    """A password PgBouncer and libpq can carry: one line, no NUL, at most 1024 bytes."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: must be a non-empty string (keep it in ansible-vault)")
    if CONTROL_CHARACTERS.search(value):
        raise ConfigError(f"{where}: must not contain line breaks, NUL or other control characters")
    if len(value.encode("utf-8", "surrogatepass")) > PASSWORD_MAX_BYTES:
        raise ConfigError(
            f"{where}: longer than {PASSWORD_MAX_BYTES} bytes (PgBouncer and libpq cannot use longer passwords)"
        )
    return value


def password_errors(value: object, where: str) -> list[str]:
    """[] or the reason ``value`` cannot be a password (the message never holds the value)."""
    try:
        check_password(value, where)
    except ConfigError as exc:
        return [str(exc)]
    return []


def url_errors(value: object, where: str) -> list[str]:
    """[] or the reason ``value`` is not a plain http(s) URL that can go into an apt source."""
    try:
        text = check_text(value, where)
    except ConfigError as exc:
        return [str(exc)]
    plain = f"{where}: {text!r} must be an http:// or https:// URL with a host name or address"
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port  # raises on a port that is not one
    except ValueError:
        return [plain + " (and a port from 1 to 65535)"]
    if parts.scheme not in ("http", "https") or not is_host_or_address(parts.hostname) or port == 0:
        return [plain]
    # A bracketed host is an IPv6 address (urllib takes "[v1.x]", IPvFuture, for a name).
    if "[" in parts.netloc and ":" not in str(parts.hostname):
        return [plain]
    if re.search(r"\s", text) or parts.username or parts.password:
        return [f"{where}: {text!r} must not contain whitespace or credentials"]
    return []


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always double-quoted (the name has been checked already)."""
    return '"{}"'.format(name.replace('"', '""'))


# --------------------------------------------------------------------------------------------
# The pooler's configuration from the inventory model

# The pgbouncer role's argument spec: its options named pgbouncer_<key> set that [pgbouncer] key.
ROLE_SPEC_FILE = ROLE_DEFAULTS_FILE.parents[1] / "meta" / "argument_specs.yml"
# Part of the auth contract (with the database, schema and function), set with the rest of it.
_CONTRACT_VARIABLES = frozenset({"pgbouncer_auth_user"})
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
        if name.startswith("pgbouncer_")
        and name.removeprefix("pgbouncer_") in keys
        and name not in _CONTRACT_VARIABLES
    }


@functools.cache
def managed_keys() -> dict[str, str]:
    """[pgbouncer] keys pgbouncer_settings may not set, with what to use instead."""
    return {
        **{key: f"set it with {variable}" for variable, key in role_variables().items()},
        **_ROLE_SET_KEYS,
    }


# sslmodes under which PgBouncer checks the server's certificate against server_tls_ca_file.
VERIFYING_SSLMODES = ("verify-ca", "verify-full")
# [databases] keys an entry's `settings` may not set, and why.
DATABASE_MANAGED_KEYS = {
    "dbname": "use the entry's dbname",
    "host": "use the entry's host",
    "port": "use the entry's port",
    "pool_size": "use the entry's pool_size",
    "pool_mode": "use the entry's pool_mode",
    "reserve_pool": "use reserve_pool_size",
    "user": "a forced user defeats auth_query and SCRAM pass-through",
    "password": "no secret goes into pgbouncer.ini",
    "auth_user": "the auth user is pgbouncer_auth_user for every entry",
    "auth_dbname": "the auth database is pgbouncer_auth_database for every entry",
    "auth_query": "the lookup is pgbouncer_auth_schema.pgbouncer_auth_function for every entry",
}
LOOPBACK_NAMES = frozenset({"localhost"})
AUTH_FILE = "/etc/pgbouncer/userlist.txt"
# The auth types under which PgBouncer verifies the client's SCRAM proof and reuses its keys.
AUTH_TYPES = ("scram-sha-256", "md5", "hba")


def is_loopback(address: str) -> bool:
    """Whether ``address`` is "localhost" or a loopback address (addresses.py: no zone id)."""
    if address in LOOPBACK_NAMES:
        return True
    try:
        return parse_address(address).is_loopback
    except AddressError:
        return False


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


def collect(errors: list[str], function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``function``; on ConfigError add its message to ``errors`` and return None, so one
    run reports every bad value, not only the first."""
    try:
        return function(*args, **kwargs)
    except ConfigError as exc:
        errors.append(str(exc))
        return None


def _port(value: object, where: str, minimum: int = 1) -> int:
    number = _integer(value, where)
    if not minimum <= number <= 65535:
        raise ConfigError(f"{where}: {number} is not a usable TCP port ({minimum}-65535)")
    return number


def dbname_of(entry: Mapping[str, Any]) -> Any:
    """The PostgreSQL database behind a pgbouncer_databases entry: its dbname, else its name."""
    return entry["dbname"] if entry.get("dbname") is not None else entry.get("name")


def auth_query(schema: str, function: str) -> str:
    """The auth_query calling the lookup function, its identifiers quoted."""
    return f"SELECT username, password FROM {quote_ident(schema)}.{quote_ident(function)}($1)"


MAX_PROCESSES = 16
# Processes after the first put their unix socket (and every process its pidfile) here; the
# systemd template unit creates it as RuntimeDirectory=pgbouncer-%i.
PROCESS_RUN_DIR = "/run/pgbouncer-{process}"


# PgBouncer's documented upper bound for peer_id (its parser takes up to 65535).
MAX_PEER_ID = 16383


def process_settings(
    processes: object,
    socket_dir: object,
    port: object,
    process: int,
    peer_id_base: object = 0,
    remote_peers: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The [pgbouncer] keys and [peers] that set process ``process`` of ``processes`` apart.

    Every process listens on the same port with so_reuseport; each has its own unix socket
    directory (the first keeps pgbouncer_unix_socket_dir, so clients of the socket find it where
    they always did), pidfile and peer_id (``peer_id_base`` + its number), and all share one
    [peers] list, so a cancel request the kernel hands to another process is forwarded to the
    one that holds the query.

    ``remote_peers`` are the other hosts of a peered group ({"host", "port", "peer_id_base",
    "processes"}): their processes are reached at the host's address, where so_reuseport may hand
    the cancel to another of its processes, which forwards it once more over its unix socket
    (PgBouncer's cancel key allows three forwards).
    """
    count = _integer(processes, "pgbouncer_processes")
    if not 1 <= count <= MAX_PROCESSES:
        raise ConfigError(f"pgbouncer_processes: {count} is not between 1 and {MAX_PROCESSES}")
    if not 1 <= process <= count:
        raise ConfigError(f"process {process} is not one of the {count} processes")
    base = _integer(peer_id_base, "pgbouncer_peer_id_base")

    def socket_of(number: int) -> object:
        return socket_dir if number == 1 else PROCESS_RUN_DIR.format(process=number)

    owners: dict[int, str] = {}
    peers: dict[int, dict[str, object]] = {}

    def add_peers(
        first: int, how_many: int, owner: str, endpoint: Callable[[int], dict[str, object]]
    ) -> None:
        for number in range(1, how_many + 1):
            peer_id = first + number
            if not 1 <= peer_id <= MAX_PEER_ID:
                raise ConfigError(f"{owner}: peer_id {peer_id} is not between 1 and {MAX_PEER_ID}")
            if peer_id in owners:
                raise ConfigError(f"{owner}: peer_id {peer_id} is also {owners[peer_id]}'s")
            owners[peer_id] = owner
            peers[peer_id] = endpoint(number)

    add_peers(base, count, "pgbouncer_peer_id_base", lambda number: {"host": socket_of(number), "port": port})
    for index, remote in enumerate(remote_peers):
        where = f"pgbouncer_remote_peers[{index}]"
        if not isinstance(remote, Mapping):
            raise ConfigError(f"{where}: must be a mapping with host, port, peer_id_base and processes")
        add_peers(
            _integer(remote.get("peer_id_base", 0), f"{where}.peer_id_base"),
            _integer(remote.get("processes", 1), f"{where}.processes"),
            f"{where} ({remote.get('host')})",
            lambda _number, remote=remote: {"host": remote.get("host"), "port": remote.get("port", port)},
        )
    return {
        "unix_socket_dir": socket_of(process),
        "pidfile": PROCESS_RUN_DIR.format(process=process) + "/pgbouncer.pid",
        "so_reuseport": "1",
        "peer_id": str(base + process),
        "peers": dict(sorted(peers.items())),
    }


def process_settings_of(inputs: Mapping[str, Any], process: int) -> dict[str, Any]:
    """process_settings for process ``process`` of the role variables ``inputs``."""
    return process_settings(
        inputs.get("pgbouncer_processes", role_default("pgbouncer_processes")),
        inputs.get("pgbouncer_unix_socket_dir", role_default("pgbouncer_unix_socket_dir")),
        inputs.get("pgbouncer_listen_port", role_default("pgbouncer_listen_port")),
        process,
        inputs.get("pgbouncer_peer_id_base", 0),
        _as_list(inputs.get("pgbouncer_remote_peers")),
    )


def pooler_config(
    inputs: Mapping[str, Any], version: str, process: int = 1
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Check the inventory model and build pgbouncer.ini's sections for process ``process``
    (1 to pgbouncer_processes): (errors, sections). ``inputs`` holds the role variables by name.
    """
    table = load_table()
    errors, shared = _shared_sections(table, inputs, version)
    return errors, _process_sections(table, shared, inputs, version, process, errors)


def pooler_model(
    inputs: Mapping[str, Any], version: str
) -> tuple[list[str], list[dict[str, dict[str, str]]]]:
    """Check the inventory model once and build every process's pgbouncer.ini sections:
    (errors, [sections of process 1, process 2, ...]). The entries, roles and settings are
    checked once; only what sets a process apart (process_settings) is worked out per process."""
    table = load_table()
    errors, shared = _shared_sections(table, inputs, version)
    count = collect(
        errors,
        _integer,
        inputs.get("pgbouncer_processes", role_default("pgbouncer_processes")),
        "pgbouncer_processes",
    )
    numbers = range(1, count + 1) if count is not None and 1 <= count <= MAX_PROCESSES else range(1, 2)
    processes = [_process_sections(table, shared, inputs, version, number, errors) for number in numbers]
    # A problem every process shares (a peer_id clash, say) is reported once.
    return list(dict.fromkeys(errors)), processes


def _process_sections(
    table: SettingsTable,
    shared: Mapping[str, Mapping[str, str]],
    inputs: Mapping[str, Any],
    version: str,
    process: int,
    errors: list[str],
) -> dict[str, dict[str, str]]:
    """``shared`` completed with what sets process ``process`` apart: its [pgbouncer] keys and
    the [peers] every process holds."""
    instance = collect(errors, process_settings_of, inputs, process)
    pgbouncer = dict(shared["pgbouncer"])
    for key, value in dict(instance or {}).items():
        if key == "peers":
            continue
        result = collect(
            errors, check_setting, table, "pgbouncer", key, value, version, f"process {process}'s {key}"
        )
        if result is not None:
            pgbouncer[key] = result[1]
    sections: dict[str, dict[str, str]] = {"databases": dict(shared["databases"])}
    if shared.get("users"):
        sections["users"] = dict(shared["users"])
    peers = dict((instance or {}).get("peers") or {})
    if peers:
        sections["peers"] = {
            str(peer_id): collect(errors, _peer_entry, table, version, peer, f"[peers] {peer_id}") or ""
            for peer_id, peer in sorted(peers.items())
        }
    sections["pgbouncer"] = dict(sorted(pgbouncer.items()))
    return sections


def _shared_sections(
    table: SettingsTable, inputs: Mapping[str, Any], version: str
) -> tuple[list[str], dict[str, dict[str, str]]]:
    """(errors, the sections every process shares): everything but process_settings."""
    errors: list[str] = []
    pgbouncer: dict[str, str] = {}

    def setting(section: str, key: str, value: object, where: str) -> str | None:
        result = collect(errors, check_setting, table, section, key, value, version, where)
        return None if result is None else result[1]

    for variable, key in role_variables().items():
        if variable in inputs and inputs[variable] is not None:
            text = setting("pgbouncer", key, inputs[variable], variable)
            if text is not None:
                pgbouncer[key] = text

    listen_port = collect(
        errors,
        _port,
        inputs.get("pgbouncer_listen_port", role_default("pgbouncer_listen_port")),
        "pgbouncer_listen_port",
        1024,
    )
    if inputs.get("pgbouncer_unix_socket_dir") is not None:
        collect(
            errors,
            check_socket_dir,
            inputs["pgbouncer_unix_socket_dir"],
            "pgbouncer_unix_socket_dir",
            listen_port or 65535,
        )
    if inputs.get("pgbouncer_topology", "per_host") == "per_host":
        outside = [a for a in _as_list(inputs.get("pgbouncer_listen_addr")) if not is_loopback(str(a))]
        if outside:
            errors.append(
                f"pgbouncer_listen_addr: the per_host topology listens on loopback only, got {outside}"
            )
    if pgbouncer.get("auth_type") not in (None, *AUTH_TYPES):
        errors.append(
            f"pgbouncer_auth_type: must be one of {', '.join(AUTH_TYPES)} (the types that verify the "
            f"client's password and pass its SCRAM keys on), got {pgbouncer['auth_type']!r}"
        )

    # The auth contract: the user PgBouncer runs auth_query as, where, and the function it calls.
    auth_user = collect(
        errors, check_name, inputs.get("pgbouncer_auth_user"), "pgbouncer_auth_user", kind="role"
    )
    auth_db = collect(
        errors,
        check_section_name,
        inputs.get("pgbouncer_auth_database"),
        "pgbouncer_auth_database",
        kind="database",
        version=version,
    )
    schema = collect(errors, check_name, inputs.get("pgbouncer_auth_schema"), "pgbouncer_auth_schema")
    function = collect(errors, check_name, inputs.get("pgbouncer_auth_function"), "pgbouncer_auth_function")
    server_host = collect(errors, check_host, inputs.get("pgbouncer_server_host"), "pgbouncer_server_host")
    server_port = collect(
        errors,
        _port,
        inputs.get("pgbouncer_server_port", role_default("pgbouncer_server_port")),
        "pgbouncer_server_port",
    )
    if auth_db is not None and auth_db.lower() == "pgbouncer":
        errors.append("pgbouncer_auth_database: 'pgbouncer' is PgBouncer's admin console")

    roles = _as_list(inputs.get("pgbouncer_roles"))
    role_names = [role.get("name") for role in roles if isinstance(role, Mapping)]
    databases_section: dict[str, str] = {}
    auth_pool = collect(
        errors,
        _integer,
        inputs.get("pgbouncer_auth_pool_size", role_default("pgbouncer_auth_pool_size")),
        "pgbouncer_auth_pool_size",
    )
    if auth_pool is not None and not 1 <= auth_pool <= 100:
        errors.append(f"pgbouncer_auth_pool_size: {auth_pool} is not between 1 and 100")
    if auth_db is not None and server_host is not None and server_port is not None and auth_pool is not None:
        # Only auth_query's lookups use this entry: a small pool, counted in the budget.
        databases_section[ini_key(auth_db)] = connstr(
            [
                ("dbname", auth_db, False),
                ("host", server_host, False),
                ("port", str(server_port), True),
                ("pool_size", str(auth_pool), True),
            ]
        )
    entry_names: set[str] = set()
    for index, entry in enumerate(_as_list(inputs.get("pgbouncer_databases"))):
        where = f"pgbouncer_databases[{index}]"
        rendered = collect(
            errors,
            _database_entry,
            table,
            version,
            entry,
            where,
            server_host,
            server_port,
            auth_db,
            entry_names,
        )
        if rendered is not None and rendered[1]:
            databases_section[ini_key(rendered[0])] = rendered[1]

    users_section: dict[str, str] = {}
    seen_roles: set[str] = set()
    for index, role in enumerate(roles):
        where = f"pgbouncer_roles[{index}]"
        rendered = collect(
            errors, _user_entry, table, version, role, where, auth_user, entry_names, seen_roles
        )
        if rendered is not None and rendered[1]:
            users_section[ini_key(rendered[0])] = rendered[1]

    for variable in ("pgbouncer_admin_users", "pgbouncer_stats_users"):
        for name in _as_list(inputs.get(variable)):
            if name not in role_names:
                errors.append(
                    f"{variable}: {name!r} is not declared in pgbouncer_roles (console users are "
                    "PostgreSQL roles looked up through auth_query)"
                )

    for key, value in dict(inputs.get("pgbouncer_settings") or {}).items():
        where = f"pgbouncer_settings.{key}"
        if key in managed_keys():
            errors.append(f"{where}: not settable in pgbouncer_settings: {managed_keys()[key]}")
            continue
        text = setting("pgbouncer", key, value, where)
        if text is not None:
            pgbouncer[key] = text

    if auth_user is not None:
        pgbouncer["auth_user"] = auth_user
    if auth_db is not None:
        pgbouncer["auth_dbname"] = auth_db
    if schema is not None and function is not None:
        pgbouncer["auth_query"] = collect(
            errors, check_text, auth_query(schema, function), "pgbouncer_auth_query"
        )
    auth_file = setting("pgbouncer", "auth_file", inputs.get("auth_file", AUTH_FILE), "auth_file")
    if auth_file is not None:
        pgbouncer["auth_file"] = auth_file
    # TLS: the files the pgbouncer_tls role places (tls_files.py), where the modes need them.
    if pgbouncer.get("server_tls_sslmode") in VERIFYING_SSLMODES:
        pgbouncer["server_tls_ca_file"] = TLS_FILES["ca"]
    if pgbouncer.get("client_tls_sslmode", "disable") != "disable":
        pgbouncer["client_tls_cert_file"] = TLS_FILES["cert"]
        pgbouncer["client_tls_key_file"] = TLS_FILES["key"]
    _check_limits(inputs, errors)
    return errors, {"databases": databases_section, "users": users_section, "pgbouncer": pgbouncer}


def _database_entry(
    table: SettingsTable,
    version: str,
    entry: object,
    where: str,
    server_host: str | None,
    server_port: int | None,
    auth_db: str | None,
    seen: set[str],
) -> tuple[str, str]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where}: must be a mapping with at least a name")
    if entry.get("name") == "*":
        raise ConfigError(
            f"{where}.name: '*' would make a catch-all entry that routes any database name a client "
            "asks for; declare each database instead"
        )
    name = check_section_name(entry.get("name"), f"{where}.name", kind="database", version=version)
    if name.lower() == "pgbouncer":
        raise ConfigError(f"{where}.name: 'pgbouncer' is reserved for PgBouncer's admin console")
    if auth_db is not None and name == auth_db:
        raise ConfigError(
            f"{where}.name: {name!r} is reserved for the auth database (pgbouncer_auth_database)"
        )
    if name in seen:
        raise ConfigError(f"{where}.name: {name!r} is declared twice")
    seen.add(name)
    dbname = check_name(dbname_of(entry), f"{where}.dbname", kind="database")
    host = check_host(entry["host"], f"{where}.host") if entry.get("host") is not None else server_host
    port = _port(entry["port"], f"{where}.port") if entry.get("port") is not None else server_port
    if host is None or port is None:
        return name, ""  # pgbouncer_server_host (or _port) is invalid: reported once, there
    pairs = [("dbname", dbname, False), ("host", host, False), ("port", str(port), True)]
    for key in ("pool_size", "pool_mode"):
        if entry.get(key) is not None:
            setting, text = check_setting(table, "databases", key, entry[key], version, f"{where}.{key}")
            pairs.append((key, text, setting.type != "enum"))
    settings = entry.get("settings") or {}
    if not isinstance(settings, Mapping):
        raise ConfigError(f"{where}.settings: must be a mapping of [databases] parameters")
    for key, value in settings.items():
        if key in DATABASE_MANAGED_KEYS:
            raise ConfigError(f"{where}.settings.{key}: {DATABASE_MANAGED_KEYS[key]}")
        setting, text = check_setting(table, "databases", key, value, version, f"{where}.settings.{key}")
        pairs.append((key, text, setting.type in ("integer", "size", "time")))
    return name, connstr(pairs)


def _user_entry(
    table: SettingsTable,
    version: str,
    role: object,
    where: str,
    auth_user: str | None,
    entry_names: set[str],
    seen: set[str],
) -> tuple[str, str]:
    if not isinstance(role, Mapping):
        raise ConfigError(f"{where}: must be a mapping with at least a name")
    name = check_name(role.get("name"), f"{where}.name", kind="role")
    if name in seen:
        raise ConfigError(f"{where}.name: {name!r} is declared twice")
    seen.add(name)
    if auth_user is not None and name == auth_user:
        raise ConfigError(f"{where}.name: {name!r} is the auth user (pgbouncer_auth_user)")
    for index, database in enumerate(_as_list(role.get("databases"))):
        if database not in entry_names:
            raise ConfigError(
                f"{where}.databases[{index}]: {database!r} is not declared in pgbouncer_databases"
            )
    pool = role.get("pool") or {}
    if not isinstance(pool, Mapping):
        raise ConfigError(f"{where}.pool: must be a mapping of [users] settings")
    if pool:
        check_section_name(name, f"{where}.name", kind="role", version=version)
    pairs = []
    for key, value in pool.items():
        setting, text = check_setting(table, "users", key, value, version, f"{where}.pool.{key}")
        pairs.append((key, text, setting.type != "enum"))
    return name, connstr(pairs)


def _peer_entry(table: SettingsTable, version: str, peer: Mapping[str, Any], where: str) -> str:
    pairs = []
    for key, value in peer.items():
        if key == "host":
            text = check_host(value, f"{where}.host")
        else:
            text = check_setting(table, "peers", key, value, version, f"{where}.{key}")[1]
        pairs.append((key, text, key != "host"))
    return connstr(pairs)


# Role variables that are not PgBouncer settings, and their bounds.
SERVICE_VARIABLES = {
    "pgbouncer_stop_timeout": (1, 3600),
    "pgbouncer_login_timeout": (1, 600),
    "pgbouncer_restart_throttle": (1, 10000),
}


def _check_limits(inputs: Mapping[str, Any], errors: list[str]) -> None:
    """Values that pass their type but cannot work together, and the service's own variables."""
    for variable, (low, high) in SERVICE_VARIABLES.items():
        if variable in inputs:
            number = collect(errors, _integer, inputs[variable], variable)
            if number is not None and not low <= number <= high:
                errors.append(f"{variable}: {number} is not between {low} and {high}")
    try:
        nofile = _integer(
            inputs.get("pgbouncer_limit_nofile", role_default("pgbouncer_limit_nofile")),
            "pgbouncer_limit_nofile",
        )
        clients = _integer(
            inputs.get("pgbouncer_max_client_conn", role_default("pgbouncer_max_client_conn")),
            "pgbouncer_max_client_conn",
        )
        prepared = _integer(
            inputs.get(
                "pgbouncer_max_prepared_statements", role_default("pgbouncer_max_prepared_statements")
            ),
            "pgbouncer_max_prepared_statements",
        )
    except ConfigError as exc:
        errors.append(str(exc))
        return
    if nofile < clients + 100 or nofile > 1048576:
        errors.append(
            f"pgbouncer_limit_nofile: {nofile} must exceed pgbouncer_max_client_conn ({clients}) by at "
            "least 100, for the server connections, and be at most 1048576"
        )
    if prepared < 1 and inputs.get("pgbouncer_pool_mode") == "transaction":
        errors.append(
            "pgbouncer_max_prepared_statements: must be above 0 in transaction mode, or protocol-level "
            "prepared statements fail"
        )
