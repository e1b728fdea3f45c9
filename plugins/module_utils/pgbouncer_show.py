"""What PgBouncer's admin console shows in ``SHOW CONFIG`` for a value written in pgbouncer.ini.

``SHOW CONFIG`` does not echo the file. When PgBouncer loads the file, libusual's ini parser hands
each ``[pgbouncer]`` value to the setter of its C type, and ``SHOW CONFIG`` prints the variable
back through the matching getter (``config_for_each`` in PgBouncer's src/main.c, the ``cf_set_*``
and ``cf_get_*`` functions in libusual's usual/cfparser.c). So a running PgBouncer and a rendered
file compare equal only after the rendered text went through the same conversion:
:func:`show_config_value` does that conversion for every type of the settings table.

Measured on PgBouncer 1.24.1 (Debian 13), every rule below, by
tests/integration/test_pgbouncer_readback.py:

========  =================================================  =====================================
type      what PgBouncer stores and prints                   file text -> SHOW CONFIG
========  =================================================  =====================================
integer   C ``int`` from ``strtol(text, base 0)`` (decimal,  ``25`` -> ``25``, ``010`` -> ``8``,
boolean   ``0x`` hex, leading-``0`` octal), wrapped to 32    ``0x1F`` -> ``31``, ``2147483648`` ->
mode      bits, printed with ``%d``                          ``-2147483648``; mode ``0750`` ->
                                                             ``488``; boolean ``1`` -> ``1``
size      the same; ``max_packet_size`` is an ``unsigned``   ``8192`` -> ``8192``
          int, the others ``int``: they agree on 0..2^31-1
time      seconds read by ``strtod``, stored as whole        ``3600`` -> ``3600``, ``0.25`` ->
          microseconds (``(uint64)(1e6 * seconds)``,         ``0.25``, ``1234567`` ->
          truncated), printed as seconds with ``%g`` (six    ``1.23457e+06``, ``1.000001`` -> ``1``,
          significant digits)                                ``1e-07`` -> ``0``
enum      matched case-insensitively (ASCII), printed as     ``Transaction`` -> ``transaction``
          PgBouncer's lookup table spells it (lower case)
string    the text itself (``CF_STR`` keeps a copy; no       ``it's "q" #1`` -> ``it's "q" #1``
path      unquoting, no tilde expansion, lists are not       ``a, b ,c`` -> ``a, b ,c``
list      re-joined)
========  =================================================  =====================================

Around every value the ini parser drops the blanks after ``=`` and the whitespace at the end of
the line, and a value ends at the line break; both are applied here too.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Iterable

# The types of pgbouncer_settings.yml, grouped by the C setter/getter pair PgBouncer uses for them.
INT_TYPES = frozenset({"integer", "boolean", "mode"})
TEXT_TYPES = frozenset({"string", "path", "list"})
SHOW_CONFIG_TYPES = INT_TYPES | TEXT_TYPES | {"size", "time", "enum"}

USEC = 1_000_000
_C_INT_BITS = 32
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_USEC_LIMIT = 2**64  # usec_t is a uint64: converting a larger double is undefined in C
# C's isspace() in the C locale, which libusual's ini parser and strtol/strtod use.
_C_SPACE = " \t\n\v\f\r"
# What strtol(text, &end, 0) consumes whole: sign, then 0x hex, leading-0 octal or decimal.
_STRTOL = re.compile(r"([+-]?)(?:0[xX]([0-9a-fA-F]+)|(0[0-7]*)|([1-9][0-9]*))")
# What strtod consumes whole, apart from inf/nan (handled below): decimal or hexadecimal floats.
_STRTOD_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_STRTOD_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?[0-9]+)?")
_STRTOD_SPECIAL = re.compile(r"[+-]?(?:inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)


def show_config_value(setting_type: str, rendered_text: str, *, choices: Iterable[str] | None = None) -> str:
    """The ``value`` column ``SHOW CONFIG`` prints for a ``[pgbouncer]`` key of ``setting_type``
    (a type of pgbouncer_settings.yml) whose line in pgbouncer.ini reads ``key = rendered_text``.

    ``choices`` (enums only): the names the key accepts (``Setting.choices_in(version)``); without
    them an enum value is not checked, only spelled as PgBouncer prints it.

    Raises ValueError for a type the table does not have, for text PgBouncer refuses to load
    (it would not start, or RELOAD would fail), and for text whose stored value C leaves
    undefined (a time of ``inf``, ``nan`` or beyond 2^64 microseconds) or that depends on the
    key (a size outside 0..2^31-1).
    """
    if setting_type not in SHOW_CONFIG_TYPES:
        raise ValueError(f"unknown setting type {setting_type!r}")
    text = _ini_value(rendered_text)
    if setting_type in TEXT_TYPES:
        return text
    if setting_type in INT_TYPES:
        return str(_wrap_c_int(_strtol(text)))
    if setting_type == "size":
        number = _strtol(text)
        if not 0 <= number < 2 ** (_C_INT_BITS - 1):
            raise ValueError(
                f"size {text!r} is outside 0..2147483647: max_packet_size (unsigned int) and "
                "pkt_buf/tcp_socket_buffer (int) would show it differently"
            )
        return str(number)
    if setting_type == "time":
        return _show_time(text)
    return _show_enum(text, choices)


def _ini_value(rendered_text: str) -> str:
    """The text libusual's ini parser passes to the setter for ``key = rendered_text``."""
    if "\n" in rendered_text or "\0" in rendered_text:
        raise ValueError(f"{rendered_text!r} does not fit on one ini line")
    return rendered_text.lstrip(" \t").rstrip(_C_SPACE)


def _strtol(text: str) -> int:
    """``strtol(text, &end, 0)`` where PgBouncer requires ``*end == 0``; out-of-range values
    saturate at LONG_MIN/LONG_MAX as strtol does (cf_set_int does not check ERANGE)."""
    match = _STRTOL.fullmatch(text.lstrip(_C_SPACE))
    if not match:
        raise ValueError(f"{text!r} is not an integer PgBouncer reads (strtol, base 0)")
    sign, hexadecimal, octal, decimal = match.groups()
    if hexadecimal is not None:
        number = int(hexadecimal, 16)
    elif octal is not None:
        number = int(octal, 8)
    else:
        number = int(decimal)
    number = -number if sign == "-" else number
    return max(_LONG_MIN, min(_LONG_MAX, number))


def _wrap_c_int(number: int) -> int:
    """A C ``long`` assigned to an ``int``: the low 32 bits, two's complement."""
    half = 2 ** (_C_INT_BITS - 1)
    return (number + half) % 2**_C_INT_BITS - half


def _strtod(text: str) -> float:
    """``strtod`` of the whole text in the C locale, refusing what libusual's parse_time refuses
    (ERANGE, junk, negative values)."""
    stripped = text.lstrip(_C_SPACE)
    unsigned = stripped.lstrip("+-")
    negative = stripped.startswith("-")
    if _STRTOD_SPECIAL.fullmatch(stripped):
        raise ValueError(f"time {text!r} is undefined once converted to microseconds")
    if _STRTOD_HEX.fullmatch(stripped):
        try:
            value = float.fromhex(unsigned)
        except OverflowError:
            raise ValueError(f"time {text!r} overflows a double (ERANGE)") from None
        mantissa = re.split(r"[pP]", unsigned[2:])[0]
    elif _STRTOD_DECIMAL.fullmatch(stripped):
        value = float(unsigned)
        mantissa = re.split(r"[eE]", unsigned)[0]
    else:
        raise ValueError(f"{text!r} is not a number of seconds PgBouncer reads (strtod)")
    if math.isinf(value):
        raise ValueError(f"time {text!r} overflows a double (ERANGE)")
    if (value == 0 and re.search(r"[1-9a-fA-F]", mantissa)) or 0 < value < sys.float_info.min:
        raise ValueError(f"time {text!r} underflows a double (ERANGE)")
    if negative and value != 0:
        raise ValueError(f"time {text!r} is negative")
    return value


def _show_time(text: str) -> str:
    """cf_set_time_usec then cf_get_time_usec: whole microseconds, printed as seconds with %g."""
    usec = math.trunc(float(USEC) * _strtod(text))
    if usec >= _USEC_LIMIT:
        raise ValueError(f"time {text!r} exceeds 2^64 microseconds (undefined in C)")
    return f"{float(usec) / USEC:g}"  # Python's "g" is printf's %g: six significant digits


def _show_enum(text: str, choices: Iterable[str] | None) -> str:
    """cf_set_lookup matches with strcasecmp (ASCII only); cf_get_lookup prints the table's
    spelling, which is lower case for every enum PgBouncer has."""
    if not text or not text.isascii():
        raise ValueError(f"{text!r} cannot match one of PgBouncer's (ASCII) enum names")
    if choices is not None and text.lower() not in {choice.lower() for choice in choices}:
        raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
    return text.lower()


def shows_default(value: str, default: str) -> bool:
    """Whether SHOW CONFIG's ``value`` is its ``default`` column, which PgBouncer prints as the
    raw default text (``0777`` beside ``511``, an empty default beside ``0``), not through the
    getter: equal as text, as a C integer or as a time."""
    if value == default:
        return True
    for display in (
        lambda text: str(_wrap_c_int(_strtol(text or "0"))),
        lambda text: _show_time(text or "0"),
    ):
        try:
            if display(value) == display(default):
                return True
        except ValueError:
            continue
    return False
