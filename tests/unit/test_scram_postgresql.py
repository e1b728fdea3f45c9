"""Verifiers made by the filter, stored in a real PostgreSQL, and used for real SCRAM logins."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import sql

from plugins.filter.scram import scram_sha256_verifier, scram_sha256_verifier_matches

PASSWORDS = [
    ("scram_ascii", "correct horse battery staple"),
    ("scram_latin", "pässwörd"),
    ("scram_nbsp", "pass\u00a0word"),
    ("scram_emoji", "key🔑"),
    ("scram_quote", 'it\'s "quoted" $1 %s'),
]


def _admin(server):
    return psycopg.connect(
        host=server["socket_dir"],
        port=server["port"],
        user="postgres",
        dbname="postgres",
        autocommit=True,
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

    with psycopg.connect(
        host=postgresql_server["host"],
        port=postgresql_server["port"],
        user=role,
        password=password,
        dbname="postgres",
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(
            host=postgresql_server["host"],
            port=postgresql_server["port"],
            user=role,
            password=password + "-wrong",
            dbname="postgres",
        )


def test_filter_matches_verifier_postgresql_made_itself(postgresql_server):
    with _admin(postgresql_server) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        conn.execute("DROP ROLE IF EXISTS scram_pg_made")
        conn.execute("CREATE ROLE scram_pg_made LOGIN PASSWORD 'made by postgres ü'")
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_pg_made'").fetchone()[
            0
        ]
    assert scram_sha256_verifier_matches(stored, "made by postgres ü")
    assert not scram_sha256_verifier_matches(stored, "made by postgres u")
