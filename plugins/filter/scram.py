"""SCRAM-SHA-256 verifiers in PostgreSQL's pg_authid format, computed on the controller.

A verifier (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) can be given to
``CREATE/ALTER ROLE ... PASSWORD`` as is, so the plaintext password never reaches a server.

The password goes through SASLprep exactly as PostgreSQL's ``pg_saslprep`` does it (server and
libpq alike): pure ASCII is used as is; otherwise non-ASCII spaces map to U+0020, "commonly
mapped to nothing" characters are dropped, the result is NFKC-normalised, and when the mapped
characters include a prohibited, unassigned (Unicode 3.2) or badly ordered bidirectional
character, PostgreSQL falls back to the raw UTF-8 bytes, and so does this filter. Only the
standard library is used: ``stringprep`` carries RFC 3454's tables.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import stringprep
import unicodedata

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import integer_or_none

DEFAULT_ITERATIONS = 4096
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 10_000_000
# PostgreSQL's SCRAM_DEFAULT_SALT_LEN; shorter salts are refused.
DEFAULT_SALT_BYTES = 16
MIN_SALT_BYTES = 12
KEY_BYTES = 32
# libpq's pg_saslprep gives up on longer passwords (MAX_PASSWORD_LENGTH): no client could log in.
MAX_PASSWORD_BYTES = 1024

_VERIFIER = re.compile(
    r"SCRAM-SHA-256\$(?P<iterations>[0-9]+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)"
)

# RFC 3454 tables SASLprep (RFC 4013) prohibits in its output: C.1.2 to C.9.
_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
)


def saslprep(password: str) -> str | None:
    """Return the SASLprep form PostgreSQL hashes, or None where PostgreSQL uses the raw bytes."""
    if password.isascii():
        return password
    mapped = [
        " " if stringprep.in_table_c12(char) else char
        for char in password
        if not stringprep.in_table_b1(char)
    ]
    if not mapped:
        return None
    # PostgreSQL checks the mapped characters, before normalisation (src/common/saslprep.c).
    if any(check(char) for char in mapped for check in _PROHIBITED):
        return None
    if any(stringprep.in_table_a1(char) for char in mapped):
        return None
    if any(stringprep.in_table_d1(char) for char in mapped) and (
        any(stringprep.in_table_d2(char) for char in mapped)
        or not stringprep.in_table_d1(mapped[0])
        or not stringprep.in_table_d1(mapped[-1])
    ):
        return None
    return unicodedata.normalize("NFKC", "".join(mapped))


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError(f"SCRAM {what} is not valid base64: {exc}") from None


def _b64encode(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_password(password: object) -> str:
    """A plain ``str`` (Ansible hands filters tagged subclasses) that PostgreSQL clients can send."""
    if not isinstance(password, str):
        raise AnsibleFilterError(f"SCRAM password must be a string, got {type(password).__name__}")
    password = str(password)
    if not password:
        raise AnsibleFilterError("SCRAM password must not be empty")
    if "\0" in password:
        raise AnsibleFilterError("SCRAM password must not contain a NUL character")
    try:
        size = len(password.encode("utf-8"))
    except UnicodeEncodeError:
        raise AnsibleFilterError("SCRAM password is not valid Unicode text (a lone surrogate)") from None
    if size > MAX_PASSWORD_BYTES:
        raise AnsibleFilterError(
            f"SCRAM password is {size} bytes long; PostgreSQL clients accept at most {MAX_PASSWORD_BYTES}"
        )
    return password


def _check_iterations(iterations: object) -> int:
    """A plain ``int`` from an int or a decimal string (inventories deliver either)."""
    if isinstance(iterations, bool) or not isinstance(iterations, (int, str)):
        raise AnsibleFilterError(f"SCRAM iterations must be an integer, got {type(iterations).__name__}")
    # A string is read by the toolkit's one integer parser: ASCII digits, no sign.
    count = integer_or_none(iterations, 0) if isinstance(iterations, str) else int(iterations)
    if count is None:
        raise AnsibleFilterError(f"SCRAM iterations must be an integer, got {iterations!r}")
    if not MIN_ITERATIONS <= count <= MAX_ITERATIONS:
        raise AnsibleFilterError(
            f"SCRAM iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {count}"
        )
    return count


def _check_salt(salt: object) -> bytes:
    if not isinstance(salt, str):
        raise AnsibleFilterError(f"SCRAM salt must be a base64 string, got {type(salt).__name__}")
    raw = _b64decode(str(salt), "salt")
    if len(raw) < MIN_SALT_BYTES:
        raise AnsibleFilterError(f"SCRAM salt must decode to at least {MIN_SALT_BYTES} bytes, got {len(raw)}")
    return raw


def parse_verifier(verifier: object) -> dict[str, object]:
    """Split a pg_authid SCRAM-SHA-256 verifier into iterations, salt and keys (raw bytes)."""
    if not isinstance(verifier, str):
        raise AnsibleFilterError(f"SCRAM verifier must be a string, got {type(verifier).__name__}")
    match = _VERIFIER.fullmatch(str(verifier))
    if match is None:
        raise AnsibleFilterError(
            "SCRAM verifier is malformed: expected "
            "'SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>'"
        )
    stored_key = _b64decode(match["stored_key"], "StoredKey")
    server_key = _b64decode(match["server_key"], "ServerKey")
    if len(stored_key) != KEY_BYTES or len(server_key) != KEY_BYTES:
        raise AnsibleFilterError(
            f"SCRAM verifier is malformed: StoredKey and ServerKey must be {KEY_BYTES} bytes"
        )
    return {
        "iterations": int(match["iterations"]),
        "salt": _b64decode(match["salt"], "salt"),
        "stored_key": stored_key,
        "server_key": server_key,
    }


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey (RFC 5802) of the password PostgreSQL would hash."""
    prepared = saslprep(password)
    secret = (password if prepared is None else prepared).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def scram_sha256_verifier(
    password: str, salt: str | None = None, iterations: int = DEFAULT_ITERATIONS
) -> str:
    """Return PostgreSQL's SCRAM-SHA-256 verifier for ``password``.

    ``salt`` is base64 (a fresh random 16-byte salt when omitted); pass an existing verifier's
    salt and iterations to reproduce it.
    """
    password = _check_password(password)
    count = _check_iterations(iterations)
    raw_salt = os.urandom(DEFAULT_SALT_BYTES) if salt is None else _check_salt(salt)
    stored_key, server_key = _keys(password, raw_salt, count)
    return f"SCRAM-SHA-256${count}:{_b64encode(raw_salt)}${_b64encode(stored_key)}:{_b64encode(server_key)}"


def scram_sha256_verifier_matches(verifier: str | None, password: str) -> bool:
    """Tell whether ``verifier`` (a pg_authid value, or None) was made from ``password``."""
    password = _check_password(password)
    # No password, or an md5/plaintext one: not a SCRAM verifier of this password.
    if verifier is None or (isinstance(verifier, str) and not verifier.startswith("SCRAM-SHA-256$")):
        return False
    parts = parse_verifier(verifier)
    if len(parts["salt"]) < MIN_SALT_BYTES or parts["iterations"] < MIN_ITERATIONS:
        # Weaker than this toolkit writes: report a mismatch so the verifier gets replaced.
        return False
    if parts["iterations"] > MAX_ITERATIONS:
        return False
    stored_key, server_key = _keys(password, parts["salt"], parts["iterations"])
    return hmac.compare_digest(stored_key, parts["stored_key"]) and hmac.compare_digest(
        server_key, parts["server_key"]
    )


def scram_sha256_role_verifiers(
    roles: list[dict[str, object]], current: dict[str, str | None], iterations: int = DEFAULT_ITERATIONS
) -> list[dict[str, object]]:
    """[{name, verifier, valid_until}] for roles given as {name, password[, valid_until]}.

    A role keeps its current verifier when that verifier was made from its password (a fresh salt
    would make every run "changed"); otherwise it gets a new one. Passwords are not returned.
    """
    result = []
    for role in roles:
        name, password = str(role["name"]), _check_password(role["password"])
        verifier = current.get(name)
        if not scram_sha256_verifier_matches(verifier, password):
            verifier = scram_sha256_verifier(password, iterations=iterations)
        result.append({"name": name, "verifier": verifier, "valid_until": role.get("valid_until")})
    return result


class FilterModule:
    """SCRAM-SHA-256 verifier filters."""

    def filters(self) -> dict[str, object]:
        return {
            "scram_sha256_role_verifiers": scram_sha256_role_verifiers,
            "scram_sha256_verifier": scram_sha256_verifier,
            "scram_sha256_verifier_matches": scram_sha256_verifier_matches,
        }
