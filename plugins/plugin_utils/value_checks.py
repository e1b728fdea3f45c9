"""The checks every inventory value passes on the controller before it reaches a file.

One error type, :class:`ConfigError`, whose message names the variable the value comes from
(``pgbouncer_databases[2].settings.x``); :func:`collect` gathers them so one run reports every bad
value. One integer parser, :func:`integer`, for every count, port and bound of every role. The
text checks follow PgBouncer's and libpq's parsers: a value they would misread, truncate or split
is refused by name.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import (
    CONTROL_CHARACTERS,
    name_problem,
    role_name_problem,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
)

T = TypeVar("T")

PASSWORD_MAX_BYTES = 1024
# ASCII digits only: str.isdigit() and int() also take "²", "٣" and "1_000", " 5", "+5".
_DIGITS = re.compile(r"[0-9]+")
_SIGNED_DIGITS = re.compile(r"-?[0-9]+")
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
# A last label getaddrinfo (inet_aton) reads as part of an IPv4 address in another notation:
# "127.1", "010.0.0.1", "0x7f000001" are addresses to libpq and PgBouncer, not names.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")
LOOPBACK_NAMES = frozenset({"localhost"})

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


class ConfigError(ValueError):
    """A value that cannot go into the configuration; the message names where it came from."""


def collect(errors: list[str], function: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Call ``function``; on ConfigError add its message to ``errors`` and return None, so one
    run reports every bad value, not only the first."""
    try:
        return function(*args, **kwargs)
    except ConfigError as exc:
        errors.append(str(exc))
        return None


# --------------------------------------------------------------------------------------------
# Numbers


def integer(value: object, where: str, low: int | None = None, high: int | None = None) -> int:
    """An ``int`` (not a bool) or a string of ASCII digits, with a leading '-' only where ``low``
    allows negatives (templated inventory values arrive as either), within ``low``..``high``."""
    decimal = _DIGITS if low is not None and low >= 0 else _SIGNED_DIGITS
    if isinstance(value, bool):
        raise ConfigError(f"{where}: must be an integer, got a boolean")
    if isinstance(value, int):
        number = int(value)  # a plain int, not Ansible's tagged one
    elif isinstance(value, str) and decimal.fullmatch(value):
        try:
            number = int(value)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            raise ConfigError(f"{where}: must be an integer, got {len(value)} digits") from None
    else:
        raise ConfigError(f"{where}: must be an integer, got {value!r}")
    if low is not None and high is not None and not low <= number <= high:
        raise ConfigError(f"{where}: {number} is out of range ({low} to {high})")
    if low is not None and number < low:
        raise ConfigError(f"{where}: {number} must be {low} or more")
    if high is not None and number > high:
        raise ConfigError(f"{where}: {number} must be {high} or less")
    return number


def flag(value: object, where: str) -> bool:
    """A boolean as an inventory or ``-e`` delivers it, read as Ansible reads one (``-e name=false``
    arrives as the string "false", which is false)."""
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ConfigError(f"{where}: must be true or false, got {value!r}") from None


def integer_or_none(value: object, low: int | None = None, high: int | None = None) -> int | None:
    """:func:`integer`'s number, or None where it refuses ``value``: for checks that word their
    own message."""
    try:
        return integer(value, "", low, high)
    except ConfigError:
        return None


def tcp_port(value: object, where: str, minimum: int = 1) -> int:
    """A TCP port from ``minimum`` (1024: not a privileged one) to 65535."""
    number = integer(value, where)
    if not minimum <= number <= 65535:
        raise ConfigError(f"{where}: {number} is not a usable TCP port ({minimum}-65535)")
    return number


def as_list(value: object) -> list[Any]:
    """``value`` as a list: None is empty, a lone string or mapping one item."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        return [value]
    return list(value)


# --------------------------------------------------------------------------------------------
# Text, names and passwords


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


# --------------------------------------------------------------------------------------------
# Hosts, paths and URLs


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


def is_loopback(address: str) -> bool:
    """Whether ``address`` is "localhost" or a loopback address (addresses.py: no zone id)."""
    if address in LOOPBACK_NAMES:
        return True
    try:
        return parse_address(address).is_loopback
    except AddressError:
        return False


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
