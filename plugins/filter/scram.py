"""SCRAM-SHA-256 verifiers in PostgreSQL's pg_authid format, computed on the controller.

A verifier (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) can be given to
``CREATE/ALTER ROLE ... PASSWORD`` as is, so the plaintext password never reaches a server.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

from ansible.errors import AnsibleFilterError
from scramp import ScramException, ScramMechanism

DEFAULT_ITERATIONS = 4096
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 10_000_000
# PostgreSQL's SCRAM_DEFAULT_SALT_LEN; scramp 1.5 refuses salts under 12 bytes.
DEFAULT_SALT_BYTES = 16
MIN_SALT_BYTES = 12
KEY_BYTES = 32

_VERIFIER = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>[0-9]+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)$"
)
_MECHANISM = ScramMechanism("SCRAM-SHA-256")


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError(f"SCRAM {what} is not valid base64: {exc}") from None


def _check_password(password: object) -> str:
    if not isinstance(password, str):
        raise AnsibleFilterError(f"SCRAM password must be a string, got {type(password).__name__}")
    if not password:
        raise AnsibleFilterError("SCRAM password must not be empty")
    return password


def _check_iterations(iterations: object) -> int:
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise AnsibleFilterError(f"SCRAM iterations must be an integer, got {type(iterations).__name__}")
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise AnsibleFilterError(
            f"SCRAM iterations must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}, got {iterations}"
        )
    return iterations


def _check_salt(salt: object) -> bytes:
    if not isinstance(salt, str):
        raise AnsibleFilterError(f"SCRAM salt must be a base64 string, got {type(salt).__name__}")
    raw = _b64decode(salt, "salt")
    if len(raw) < MIN_SALT_BYTES:
        raise AnsibleFilterError(f"SCRAM salt must decode to at least {MIN_SALT_BYTES} bytes, got {len(raw)}")
    return raw


def parse_verifier(verifier: object) -> dict[str, object]:
    """Split a pg_authid SCRAM-SHA-256 verifier into iterations, salt and keys (raw bytes)."""
    if not isinstance(verifier, str):
        raise AnsibleFilterError(f"SCRAM verifier must be a string, got {type(verifier).__name__}")
    match = _VERIFIER.match(verifier)
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


def _raw_password_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey from the unnormalised UTF-8 bytes.

    PostgreSQL (server and libpq alike) hashes the raw bytes when SASLprep refuses a password
    (unassigned code points, control characters), where scramp raises; follow PostgreSQL.
    """
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
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
    iterations = _check_iterations(iterations)
    raw_salt = os.urandom(DEFAULT_SALT_BYTES) if salt is None else _check_salt(salt)
    try:
        _, stored_key, server_key, _ = _MECHANISM.make_auth_info(
            password, iteration_count=iterations, salt=raw_salt
        )
    except ScramException:
        stored_key, server_key = _raw_password_keys(password, raw_salt, iterations)
    encode = lambda raw: base64.b64encode(raw).decode("ascii")  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{encode(raw_salt)}${encode(stored_key)}:{encode(server_key)}"


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
    expected = scram_sha256_verifier(
        password,
        salt=base64.b64encode(parts["salt"]).decode("ascii"),
        iterations=parts["iterations"],
    )
    return hmac.compare_digest(expected, verifier)


class FilterModule:
    """SCRAM-SHA-256 verifier filters."""

    def filters(self) -> dict[str, object]:
        return {
            "scram_sha256_verifier": scram_sha256_verifier,
            "scram_sha256_verifier_matches": scram_sha256_verifier_matches,
        }
