"""The toolkit's TLS certificates, checked on the controller: the names a host's certificate must
carry (subjectAltName entries), and, for certificates the operator brings, whether a certificate
is fit to be deployed (signed by the CA, in its validity window, for its key, with the names
clients verify) before any host changes.

Controller-only code (it needs the cryptography package, which ansible-core depends on).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
except ImportError as exc:  # ansible-core brings it; the names filters work without it
    CRYPTOGRAPHY_ERROR: ImportError | None = exc
else:
    CRYPTOGRAPHY_ERROR = None

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def san_entry(name: object, where: str) -> str:
    """``DNS:<name>`` or ``IP:<address>`` for one name a client may connect to; refuses anything
    else (wildcards, zone ids, URLs, text with spaces or control characters)."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: {name!r} must be a host name or an IP address")
    if re.search(r"[\s\x00-\x1f\x7f]", name):
        raise ConfigError(
            f"{where}: {name!r} must be a host name or an IP address, without whitespace or control characters"
        )
    if ":" in name or re.fullmatch(r"[0-9.]+", name):
        try:
            return f"IP:{parse_address(name)}"
        except AddressError as exc:
            raise ConfigError(f"{where}: {name!r} is not an IP address ({exc})") from None
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ConfigError(
            f"{where}: {name!r} must be a host name (letters, digits, '-', dot-separated; no wildcard) "
            "or an IP address"
        )
    return f"DNS:{name.rstrip('.').lower()}"


def subject_alt_names(sources: Mapping[str, Iterable[object]]) -> list[str]:
    """The subjectAltName entries for the names of several sources ({where: names}): each
    checked, duplicates dropped, DNS names first, in a stable order."""
    entries: set[str] = set()
    for where, names in sources.items():
        for index, name in enumerate(names or ()):
            entries.add(san_entry(name, f"{where}[{index}]"))
    return sorted(entries, key=lambda entry: (not entry.startswith("DNS:"), entry))


LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def host_names(inventory_hostname: str, facts: Mapping[str, Any]) -> list[str]:
    """The names a host answers to by itself: its inventory name, host name and FQDN where they
    are DNS names, its default IPv4 and IPv6 addresses (not a link-local one) and loopback. Not
    every address it holds: a virtual IP comes and goes, and the names must not change with it."""
    names = [inventory_hostname, facts.get("fqdn"), facts.get("hostname")]
    addresses = [(facts.get(key) or {}).get("address") for key in ("default_ipv4", "default_ipv6")]
    addresses = [address for address in addresses if address and not str(address).lower().startswith("fe80:")]
    found = []
    for name in [*names, *addresses, *LOOPBACK_NAMES]:
        try:
            san_entry(name, "host")
        except ConfigError:
            continue
        found.append(str(name))
    return list(dict.fromkeys(found))


def _covers(certificate: x509.Certificate, entry: str) -> bool:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    kind, _colon, value = entry.partition(":")
    if kind == "IP":
        return parse_address(value) in names.get_values_for_type(x509.IPAddress)
    return value in [name.lower().rstrip(".") for name in names.get_values_for_type(x509.DNSName)]


def _signed_by(certificate: x509.Certificate, ca: x509.Certificate) -> bool:
    key = ca.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                padding.PKCS1v15(),
                certificate.signature_hash_algorithm,
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(
                certificate.signature,
                certificate.tbs_certificate_bytes,
                ec.ECDSA(certificate.signature_hash_algorithm),
            )
        elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
            key.verify(certificate.signature, certificate.tbs_certificate_bytes)
        else:
            return False
    except InvalidSignature:
        return False
    return certificate.issuer == ca.subject


def _public_bytes(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def certificate_errors(
    certificate_pem: str,
    key_pem: str,
    ca_pem: str,
    required: Iterable[str],
    where: str,
    now: datetime.datetime | None = None,
) -> list[str]:
    """Why the operator's certificate ``where`` cannot be deployed, or []: it must parse, be signed
    by the CA, be valid now, belong to its key and carry every ``required`` subjectAltName entry."""
    if CRYPTOGRAPHY_ERROR is not None:
        return [
            f"{where}: checking a certificate needs the Python package cryptography ({CRYPTOGRAPHY_ERROR})"
        ]
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as exc:
        return [f"{where}: not a PEM certificate ({exc})"]
    try:
        ca = x509.load_pem_x509_certificate(ca_pem.encode())
    except ValueError as exc:
        return [f"pgbouncer_tls_ca_cert_file: not a PEM certificate ({exc})"]
    errors = []
    if not _signed_by(certificate, ca):
        errors.append(
            f"{where}: not signed by the CA of pgbouncer_tls_ca_cert_file ({ca.subject.rfc4514_string()})"
        )
    if now < certificate.not_valid_before_utc:
        errors.append(f"{where}: not valid before {certificate.not_valid_before_utc.isoformat()}")
    if now >= certificate.not_valid_after_utc:
        errors.append(f"{where}: expired on {certificate.not_valid_after_utc.isoformat()}")
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        errors.append(f"{where}: its key file is not an unencrypted PEM private key ({exc})")
    else:
        if _public_bytes(key.public_key()) != _public_bytes(certificate.public_key()):
            errors.append(f"{where}: the key file does not belong to this certificate")
    missing = [entry for entry in required if not _covers(certificate, entry)]
    if missing:
        errors.append(
            f"{where}: its subjectAltName lacks {', '.join(missing)}, which clients verify (verify-full)"
        )
    return errors
