"""The one parser for every IP address the toolkit reads from an inventory or from facts.

Python's ``ipaddress`` keeps an IPv6 zone id (what follows ``%``) verbatim, spaces, quotes, ``#``,
``$()`` and line breaks included: ``ip_address("::%1 :: trust #")`` succeeds and its ``str()``
repeats the zone, so an address checked by ``ipaddress`` alone is not safe text. Nothing in this
toolkit takes a zone id (pg_hba.conf, PgBouncer's listen_addr and host, HAProxy, keepalived and the
libpq URLs all take plain addresses), so these functions refuse one, refuse anything but ``str``
(``ipaddress`` also takes integers and packed bytes), and return the parsed object: callers render
its canonical text (``str()``, ``with_prefixlen``), never the input.

Every module and filter goes through here instead of calling ``ipaddress`` itself. Errors are
:class:`AddressError`, holding the reason only; callers add the variable's name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TypeVar

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Interface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
T = TypeVar("T")

ZONE_ID_REFUSED = (
    "an IPv6 zone id ('%' and what follows) is not taken here: pg_hba.conf, PgBouncer, HAProxy, "
    "keepalived and libpq URLs all take the plain address"
)


class AddressError(ValueError):
    """Text that is not a plain IP address (or network); the message is the reason only."""


def _parsed(value: object, parser: Callable[[str], T]) -> T:
    """``parser`` applied to ``value`` as a plain ``str`` without a zone id, else AddressError."""
    if not isinstance(value, str):
        raise AddressError(f"must be text, got {type(value).__name__}")
    text = str(value)
    if "%" in text:
        raise AddressError(ZONE_ID_REFUSED)
    try:
        return parser(text)
    except ValueError as exc:
        raise AddressError(str(exc)) from None


def parse_address(value: object) -> Address:
    """One IPv4 or IPv6 address, no prefix, no zone id."""
    return _parsed(value, ipaddress.ip_address)


def parse_network(value: object) -> Network:
    """A network in CIDR form or a bare address (a host network); host bits are masked off."""
    return _parsed(value, lambda text: ipaddress.ip_network(text, strict=False))


def parse_interface(value: object) -> Interface:
    """An address with an optional prefix (``10.0.0.5/24``), host bits kept."""
    return _parsed(value, ipaddress.ip_interface)


def is_address(value: object) -> bool:
    """Whether ``value`` is one plain IPv4 or IPv6 address (see :func:`parse_address`)."""
    try:
        parse_address(value)
    except AddressError:
        return False
    return True


def resolved_addresses(getent_output: str) -> list[str]:
    """The addresses ``getent ahosts NAME`` printed (first column), each once, sorted."""
    return sorted({line.split()[0] for line in getent_output.splitlines() if line.split()})
