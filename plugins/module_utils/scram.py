"""SCRAM-SHA-256 as PostgreSQL computes it, for the filters on the controller and the modules alike.

A verifier (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) is what pg_authid and
PgBouncer's userlist.txt hold. The password goes through SASLprep exactly as PostgreSQL's
``pg_saslprep`` does it (server and libpq alike): pure ASCII is used as is; otherwise non-ASCII
spaces map to U+0020, "commonly mapped to nothing" characters are dropped, the result is
NFKC-normalised, and when the mapped characters include a prohibited, unassigned (Unicode 3.2) or
badly ordered bidirectional character, PostgreSQL falls back to the raw UTF-8 bytes, and so does this
code. Only the standard library is used: ``stringprep`` carries RFC 3454's tables.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import stringprep
import unicodedata

KEY_BYTES = 32
VERIFIER = re.compile(
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


def salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """Hi(SASLprep(password), salt, i) of RFC 5802, on the bytes PostgreSQL would hash."""
    prepared = saslprep(password)
    secret = (password if prepared is None else prepared).encode("utf-8")
    return hashlib.pbkdf2_hmac("sha256", secret, salt, iterations)


def client_key(salted: bytes) -> bytes:
    return hmac.new(salted, b"Client Key", hashlib.sha256).digest()


def server_key(salted: bytes) -> bytes:
    return hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey (RFC 5802) of the password PostgreSQL would hash."""
    salted = salted_password(password, salt, iterations)
    return hashlib.sha256(client_key(salted)).digest(), server_key(salted)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def verifier_text(salt: bytes, iterations: int, stored_key: bytes, server_key_: bytes) -> str:
    """The pg_authid form of a verifier."""
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key_)}"


def verifier(password: str, salt: bytes, iterations: int) -> str:
    """The verifier PostgreSQL stores for ``password`` with this salt and iteration count."""
    return verifier_text(salt, iterations, *keys(password, salt, iterations))
