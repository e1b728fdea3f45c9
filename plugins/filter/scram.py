"""SCRAM-SHA-256 verifiers in PostgreSQL's pg_authid format, computed on the controller.

A verifier (``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``) can be given to
``CREATE/ALTER ROLE ... PASSWORD`` as is, so the plaintext password never reaches a server. The
arithmetic (SASLprep included) lives in module_utils/scram.py, shared with the modules; these
filters check what the inventory hands them and name what is wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import (
    KEY_BYTES,
    VERIFIER,
    keys,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.scram import (
    verifier as verifier_of,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import integer_or_none

DEFAULT_ITERATIONS = 4096
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 10_000_000
# PostgreSQL's SCRAM_DEFAULT_SALT_LEN; shorter salts are refused.
DEFAULT_SALT_BYTES = 16
MIN_SALT_BYTES = 12
# libpq's pg_saslprep gives up on longer passwords (MAX_PASSWORD_LENGTH): no client could log in.
MAX_PASSWORD_BYTES = 1024


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnsibleFilterError(f"SCRAM {what} is not valid base64: {exc}") from None


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
    match = VERIFIER.fullmatch(str(verifier))
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
    return verifier_of(password, raw_salt, count)


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
    stored_key, server_key = keys(password, parts["salt"], parts["iterations"])
    return hmac.compare_digest(stored_key, parts["stored_key"]) and hmac.compare_digest(
        server_key, parts["server_key"]
    )


def scram_sha256_role_verifiers(
    roles: list[dict[str, object]], current: dict[str, str | None], iterations: int = DEFAULT_ITERATIONS
) -> list[dict[str, object]]:
    """[{name, verifier, valid_until, settings, acts_as}] for roles given as {name, password[,
    valid_until, settings, acts_as]}: the roles as postgresql_login_roles takes them.

    A role keeps its current verifier when that verifier was made from its password (a fresh salt
    would make every run "changed"); otherwise it gets a new one. Passwords are not returned.
    """
    result = []
    for role in roles:
        name, password = str(role["name"]), _check_password(role["password"])
        verifier = current.get(name)
        if not scram_sha256_verifier_matches(verifier, password):
            verifier = scram_sha256_verifier(password, iterations=iterations)
        result.append(
            {
                "name": name,
                "verifier": verifier,
                "valid_until": role.get("valid_until"),
                "settings": dict(role.get("settings") or {}),
                "acts_as": role.get("acts_as"),
            }
        )
    return result


class FilterModule:
    """SCRAM-SHA-256 verifier filters."""

    def filters(self) -> dict[str, object]:
        return {
            "scram_sha256_role_verifiers": scram_sha256_role_verifiers,
            "scram_sha256_verifier": scram_sha256_verifier,
            "scram_sha256_verifier_matches": scram_sha256_verifier_matches,
        }
