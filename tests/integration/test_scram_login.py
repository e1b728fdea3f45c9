"""Reading a role's verifier back by logging in as it (module_utils/pg_wire), against the session's
throwaway PostgreSQL, which asks TCP clients for SCRAM: the verifier comes back byte for byte when
the password is the role's, and as None when the server refuses it."""

from __future__ import annotations

import re

import psycopg
import pytest
from psycopg import sql

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.scram import scram_sha256_verifier
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pg_wire import (
    Server,
    WireError,
    server_verifier,
    session_user,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.postgresql import ModuleError
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.pgbouncer_login_probe import probe_logins
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.postgresql_role_verifiers import (
    read_verifiers,
)

ROLE = 'Probe "Q"'
# SASLprep maps the no-break space to a space and drops the soft hyphen.
PASSWORD = "pr\u00a0obe-pa\u00adss"


@pytest.fixture(scope="module")
def server(postgresql_server):
    conn = psycopg.connect(
        host=postgresql_server["socket_dir"], port=postgresql_server["port"], user="postgres", autocommit=True
    )
    verifier = scram_sha256_verifier(PASSWORD, iterations=4096)
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
    conn.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(ROLE), sql.Literal(verifier))
    )
    conn.execute("DROP ROLE IF EXISTS probe_md5")
    conn.execute("SET password_encryption = 'md5'")
    conn.execute("CREATE ROLE probe_md5 LOGIN PASSWORD 'md5-pass'")
    conn.execute("DROP ROLE IF EXISTS probe_expired")
    conn.execute(
        sql.SQL("CREATE ROLE probe_expired LOGIN PASSWORD {} VALID UNTIL '2001-01-01'").format(
            sql.Literal(scram_sha256_verifier("expired-pass"))
        )
    )
    yield (
        Server(postgresql_server["host"], postgresql_server["port"], "postgres", sslmode="disable"),
        verifier,
    )
    for role in (ROLE, "probe_md5", "probe_expired"):
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    conn.close()


def test_the_servers_verifier_comes_back_byte_for_byte(server):
    target, verifier = server
    assert server_verifier(target, ROLE, PASSWORD) == verifier
    # The SASLprep form logs in too, and gives the same verifier.
    assert server_verifier(target, ROLE, "pr obe-pass") == verifier


@pytest.mark.parametrize(
    ("role", "password"),
    [
        (ROLE, "wrong"),
        ("no_such_role", "anything"),
        ("probe_md5", "md5-pass"),  # an md5 hash is no SCRAM verifier of this password
        ("probe_expired", "expired-pass"),
    ],
)
def test_a_refused_password_reads_as_none(server, role, password):
    assert server_verifier(server[0], role, password) is None


def test_tls_is_refused_by_a_server_without_it(server):
    target = Server(server[0].host, server[0].port, "postgres", sslmode="require")
    with pytest.raises(WireError, match="does not offer TLS"):
        server_verifier(target, ROLE, PASSWORD)


def test_an_unreachable_server_is_an_error(server):
    with pytest.raises(WireError, match="cannot reach"):
        server_verifier(Server("127.0.0.1", 1, "postgres", sslmode="disable", timeout=2), ROLE, PASSWORD)


def test_the_module_reads_every_role_and_names_the_one_it_cannot(server):
    target, verifier = server
    params = {
        "login_host": target.host,
        "login_port": target.port,
        "login_db": "postgres",
        "login_sslmode": "disable",
        "login_sslrootcert": "",
        "roles": [{"name": ROLE, "password": PASSWORD}, {"name": "probe_md5", "password": "md5-pass"}],
    }
    assert read_verifiers(params) == {ROLE: verifier, "probe_md5": None}
    with pytest.raises(ModuleError, match=r"role 'probe_md5'.*does not offer TLS"):
        read_verifiers(
            {**params, "login_sslmode": "require", "roles": [{"name": "probe_md5", "password": "x"}]}
        )


# ---------------------------------------------------------------------------------------------
# A session all the way (session_user, the pgbouncer_login_probe module): the probe the
# application-side files run before they name a role


def probe_params(server_info, logins, **extra):
    target = server_info[0]
    return {
        "host": target.host,
        "port": target.port,
        "sslmode": "",
        "sslrootcert": "",
        "timeout": 5.0,
        "logins": logins,
        **extra,
    }


def test_a_session_runs_a_query_and_names_its_role(server):
    # sslmode "" is libpq's prefer: this server offers no TLS, so the login goes on without it.
    assert probe_logins(
        probe_params(server, [{"user": ROLE, "password": PASSWORD, "database": "postgres"}])
    ) == [{"user": ROLE, "database": "postgres", "current_user": ROLE}]


def test_a_unix_socket_directory_is_an_endpoint(server, postgresql_server):
    # The throwaway server trusts its unix socket: no password is asked, and the session works.
    target = Server(postgresql_server["socket_dir"], postgresql_server["port"], "postgres", sslmode="disable")
    assert session_user(target, "postgres", "not asked") == "postgres"


@pytest.mark.parametrize(
    ("login", "message"),
    [
        ({"user": ROLE, "password": "wrong", "database": "postgres"}, "the password is refused"),
        (
            {"user": ROLE, "password": PASSWORD, "database": "no such db"},
            'database "no such db" does not exist',
        ),
    ],
)
def test_every_failed_login_is_named(server, login, message):
    good = {"user": ROLE, "password": PASSWORD, "database": "postgres"}
    with pytest.raises(
        ModuleError, match=r"logins\[1\] \('Probe \"Q\"' to .*" + re.escape(message)
    ) as caught:
        probe_logins(probe_params(server, [good, login]))
    assert "logins[0]" not in str(caught.value)


def test_a_probe_that_requires_tls_fails_where_there_is_none(server):
    login = {"user": ROLE, "password": PASSWORD, "database": "postgres"}
    with pytest.raises(ModuleError, match="does not offer TLS"):
        probe_logins(probe_params(server, [login], sslmode="require"))
