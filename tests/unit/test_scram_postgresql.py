"""The filter against a real PostgreSQL: verifiers it makes log in; verifiers PostgreSQL makes match."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import (
    scram_sha256_verifier,
    scram_sha256_verifier_matches,
)

# Passwords whose SASLprep form differs from the raw text, and ones PostgreSQL hashes raw.
PASSWORDS = [
    ("scram_ascii", "correct horse battery staple"),
    ("scram_latin", "pässwörd"),
    ("scram_nbsp", "pass\u00a0word"),
    ("scram_ligature", "\ufb01le-cabinet"),
    ("scram_soft_hyphen", "pass\u00adword"),
    ("scram_fullwidth", "\uff30\uff41\uff53\uff53"),
    ("scram_combining", "A\u0308ngstr\u00f6m"),
    ("scram_rtl", "\u05e9\u05dc\u05d5\u05dd"),
    ("scram_rtl_mixed", "a\u05e9b"),
    ("scram_emoji", "key🔑"),
    ("scram_private_use", "priv\ue000ate"),
    ("scram_quote", 'it\'s "quoted" $1 %s'),
]


def _admin(server):
    return psycopg.connect(
        host=server["socket_dir"], port=server["port"], user="postgres", dbname="postgres", autocommit=True
    )


def _login(server, role, password):
    return psycopg.connect(
        host=server["host"], port=server["port"], user=role, password=password, dbname="postgres"
    )


@pytest.mark.parametrize(("role", "password"), PASSWORDS)
def test_postgresql_stores_verifier_and_scram_login_succeeds(postgresql_server, role, password):
    verifier = scram_sha256_verifier(password)
    with _admin(postgresql_server) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(role), sql.Literal(verifier))
        )
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]
    # Stored as given (not re-hashed), and it still verifies against the password.
    assert stored == verifier
    assert scram_sha256_verifier_matches(stored, password)

    with _login(postgresql_server, role, password) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _login(postgresql_server, role, password + "-wrong")


@pytest.mark.parametrize(("role", "password"), PASSWORDS)
def test_filter_matches_verifiers_postgresql_made_itself(postgresql_server, role, password):
    """PostgreSQL hashes a plaintext PASSWORD with its own SASLprep: the filter must agree."""
    with _admin(postgresql_server) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        name = f"{role}_pg"
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
        )
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,)).fetchone()[0]
    assert scram_sha256_verifier_matches(stored, password)
    assert not scram_sha256_verifier_matches(stored, password + "x")
