"""site.yml against the controller: bad inputs fail in the first play, naming the variable, before
any host changes; Debian 12's PgBouncer is refused; the PGDG source renders in check mode.

Values go through an extra-vars file, so they reach the roles the way an inventory delivers them
(Ansible's own str and int types, trailing newlines and all)."""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.playbooks import CONTROLLER_RUN_TIMEOUT, PINNED_PACKAGE, ansible_env

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
SECRETS = ("integration-auth", "integration-app", "integration-celery")

# A complete, valid set of inputs for every role; each case changes one thing. The controller is
# no PgBouncer host: the package the lab and the tests run stands in for the one apt would install
# (tests/playbooks.PINNED_PACKAGE), through extra vars, which win over the facts the role sets.
PINNED_RELEASE = PINNED_PACKAGE
VALID = {
    **PINNED_RELEASE,
    "ansible_python_interpreter": sys.executable,
    "pgbouncer_server_host": "127.0.0.1",
    "pgbouncer_auth_password": "integration-auth",
    "pgbouncer_postgresql_client_addresses": ["127.0.0.1/32"],
    "pgbouncer_databases": [{"name": "app", "pool_size": 10}, {"name": "app_session", "dbname": "app"}],
    "pgbouncer_roles": [
        {"name": "app", "password": "integration-app", "databases": ["app", "app_session"]},
        {"name": "celery", "password": "integration-celery", "databases": ["app"], "pool": {"pool_size": 3}},
    ],
    "pgbouncer_app_files_databases": [{"alias": "default", "role": "app", "database": "app"}],
}
MISSING = object()
# A managed PostgreSQL's inputs (no auth password), complete; each managed case changes one thing.
MANAGED = {
    "pgbouncer_managed_postgresql": True,
    "pgbouncer_auth_password": MISSING,
    # Loopback, a closed port: a case that got past the first play would reach nothing.
    "pgbouncer_postgresql_login_host": "127.0.0.1",
    "pgbouncer_postgresql_login_port": 1,
    "pgbouncer_postgresql_login_user": "cloudadmin",
    "pgbouncer_postgresql_login_sslmode": "verify-full",
    "pgbouncer_server_tls_ca_bundle": str(ROOT / "tests/integration/inventory/hosts.yml"),
}


def run_site(
    tmp_path: Path, overrides: dict[str, object], *args: str, inventory: str = "hosts.yml"
) -> subprocess.CompletedProcess[str]:
    extra = {**VALID, **overrides}
    extra = {key: value for key, value in extra.items() if value is not MISSING}
    vars_file = tmp_path / "extra_vars.json"
    vars_file.write_text(json.dumps(extra))
    env = ansible_env()
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(ROOT / "tests/integration/inventory" / inventory),
            "site.yml",
            "--check",
            "-e",
            f"@{vars_file}",
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CONTROLLER_RUN_TIMEOUT,
        check=False,
    )


def assert_failed_in_first_play(result: subprocess.CompletedProcess[str], message: str) -> None:
    output = result.stdout + result.stderr
    flat = " ".join(output.split())
    assert result.returncode != 0, output
    assert " ".join(message.split()) in flat, output
    # Nothing past the input checks ran: the later plays never started, nothing changed.
    assert "PLAY [Build the PostgreSQL side" not in output, output
    assert "PLAY [Run PgBouncer on every application host]" not in output, output
    assert "changed=0" in output, output
    for secret in SECRETS:
        assert secret not in output, f"a password reached the output: {secret}"


def _role(**changes: object) -> list[dict[str, object]]:
    """VALID's roles with the first one changed."""
    return [{**VALID["pgbouncer_roles"][0], **changes}, VALID["pgbouncer_roles"][1]]


def _database(**changes: object) -> list[dict[str, object]]:
    """VALID's databases with the first one changed (its name stays, so references hold)."""
    return [{**VALID["pgbouncer_databases"][0], **changes}, VALID["pgbouncer_databases"][1]]


def _extra_database(**fields: object) -> list[dict[str, object]]:
    """VALID's databases and one more."""
    return [*VALID["pgbouncer_databases"], {"name": "extra", **fields}]


# (id, overrides, message the output must contain)
BAD_INPUTS = [
    # The application side's declared process types (docs/capacity.md).
    (
        "max_client_conn below the declared slots",
        {
            "pgbouncer_max_client_conn": 20,
            "pgbouncer_app_files_processes": [
                {"name": "web", "kind": "gunicorn", "workers": 4, "threads": 8}
            ],
        },
        "pgbouncer_max_client_conn: 20 per process is below the 32 client connections one process may have to hold",
    ),
    (
        "a process type of an unknown kind",
        {"pgbouncer_app_files_processes": [{"name": "web", "kind": "uwsgi"}]},
        "value of kind must be one of: gunicorn, celery, worker, jobs, got: uwsgi found in pgbouncer_app_files_processes",
    ),
    (
        "a gunicorn type without workers",
        {"pgbouncer_app_files_processes": [{"name": "web", "kind": "gunicorn", "threads": 2}]},
        "pgbouncer_app_files_processes[0].workers: is required for kind 'gunicorn'",
    ),
    (
        "a share of the time above 1",
        {
            "pgbouncer_app_files_processes": [
                {"name": "celery", "kind": "celery", "concurrency": 4, "in_transaction": 1.5}
            ]
        },
        "pgbouncer_app_files_processes[0].in_transaction: must be above 0 and at most 1",
    ),
    (
        "a key of another kind",
        {
            "pgbouncer_app_files_processes": [
                {"name": "celery", "kind": "celery", "concurrency": 4, "threads": 2}
            ]
        },
        "pgbouncer_app_files_processes[0].threads: is not a key of kind 'celery'",
    ),
    (
        "an alias the files do not declare",
        {
            "pgbouncer_app_files_processes": [
                {"name": "jobs", "kind": "jobs", "count": 2, "aliases": ["reports"]}
            ]
        },
        "pgbouncer_app_files_processes[0].aliases[0]: 'reports' is not an alias of pgbouncer_app_files_databases",
    ),
    (
        "a process type name that would not fit application_name",
        {"pgbouncer_app_files_processes": [{"name": "web; rm -rf /", "kind": "jobs", "count": 1}]},
        "pgbouncer_app_files_processes[0].name",
    ),
    # The settings table: unknown keys, keys the release lacks, wrong types, bounds.
    (
        "unknown setting",
        {"pgbouncer_settings": {"max_client_connz": 5}},
        "pgbouncer_settings.max_client_connz",
    ),
    (
        "setting newer than the host's release",
        # Debian 13's release (its open CVEs are not what this case is about: the settings check
        # refuses first).
        {"pgbouncer_settings": {"transaction_timeout": 5}, "__pgbouncer_package_version": "1.24.1-1+deb13u2"},
        "pgbouncer_settings.transaction_timeout: transaction_timeout was added in 1.25.0",
    ),
    (
        "setting with a dedicated variable",
        {"pgbouncer_settings": {"listen_port": 7000}},
        "pgbouncer_settings.listen_port: not settable in pgbouncer_settings: set it with pgbouncer_listen_port",
    ),
    (
        "user in pgbouncer_settings",
        {"pgbouncer_settings": {"user": "root"}},
        "pgbouncer_settings.user: not settable in pgbouncer_settings: PgBouncer runs as the service user",
    ),
    (
        "pool_mode outside the choices",
        {"pgbouncer_pool_mode": "sessions"},
        "value of pgbouncer_pool_mode must be one of: session, transaction, statement, got: sessions",
    ),
    ("non-integer pool size", {"pgbouncer_default_pool_size": "ten"}, "pgbouncer_default_pool_size"),
    (
        "negative pool size",
        {"pgbouncer_default_pool_size": -5},
        "pgbouncer_default_pool_size: -5 is out of range (0 to",
    ),
    (
        "pool size that overflows a C int",
        {"pgbouncer_default_pool_size": 10**12},
        "pgbouncer_default_pool_size: 1000000000000 is out of range",
    ),
    (
        "negative reserve pool in a database entry",
        {"pgbouncer_databases": _database(settings={"reserve_pool_size": -1})},
        "pgbouncer_databases[0].settings.reserve_pool_size: -1 is out of range",
    ),
    (
        "word for a number in a database entry",
        {"pgbouncer_databases": _database(settings={"max_db_connections": "lots"})},
        "pgbouncer_databases[0].settings.max_db_connections: must be an integer, got 'lots'",
    ),
    (
        "empty value in a database entry",
        {"pgbouncer_databases": _database(settings={"application_name": ""})},
        "pgbouncer_databases[0].settings.application_name: must not be empty",
    ),
    (
        "bad value in a role's pool",
        {"pgbouncer_roles": _role(pool={"pool_mode": "sometimes"})},
        "pgbouncer_roles[0].pool.pool_mode: must be one of session, transaction, statement",
    ),
    # Hole 3: a line break or a quote may never add a line or a pair.
    *[
        (f"line break in {variable}", {variable: value}, f"{variable}:")
        for variable, value in [
            ("pgbouncer_server_reset_query", "DISCARD ALL\nauth_type = trust"),
            ("pgbouncer_unix_socket_dir", "/var/run/postgresql\nlisten_addr = 0.0.0.0"),
            ("pgbouncer_server_host", "127.0.0.1\n[databases]\n* = host=evil"),
            ("pgbouncer_auth_database", "pgbouncer_auth\nauth_type = trust"),
            ("pgbouncer_auth_schema", "pgbouncer\nauth_type = trust"),
        ]
    ],
    (
        "line break in a listen address",
        {"pgbouncer_listen_addr": ["127.0.0.1\nauth_type = trust"]},
        "holds a line break or another control character",
    ),
    (
        "line break in an ignored startup parameter",
        {"pgbouncer_ignore_startup_parameters": ["options\nauth_type = trust"]},
        "pgbouncer_ignore_startup_parameters:",
    ),
    (
        "line break in a setting value",
        {"pgbouncer_settings": {"query_wait_timeout": "60\nadmin_users = evil"}},
        "pgbouncer_settings.query_wait_timeout: must be a number of seconds",
    ),
    (
        "line break in a string setting",
        {"pgbouncer_settings": {"server_check_query": "select 1\nauth_type = trust"}},
        "pgbouncer_settings.server_check_query:",
    ),
    (
        "database name with a newline",
        {"pgbouncer_databases": _extra_database(name="app\nevil = host=x", host="10.9.9.9")},
        "pgbouncer_databases[2].name:",
    ),
    (
        "host that cannot be a host",
        {"pgbouncer_databases": _database(host="db #1")},
        "pgbouncer_databases[0].host: 'db #1' is not a host name or an IP address",
    ),
    (
        "catch-all database entry",
        {"pgbouncer_databases": _extra_database(name="*", host="10.9.9.9")},
        "pgbouncer_databases[2].name: '*' would make a catch-all entry",
    ),
    (
        "second entry named like the auth database",
        {
            "pgbouncer_databases": [
                *VALID["pgbouncer_databases"],
                {"name": "pgbouncer_auth", "host": "10.9.9.9"},
            ]
        },
        "pgbouncer_databases[2].name: 'pgbouncer_auth' is reserved for the auth database",
    ),
    (
        "entry name PgBouncer 1.24 cannot read",
        {
            "pgbouncer_databases": _extra_database(name="my db", host="10.9.9.9"),
            "__pgbouncer_package_version": "1.24.1-1+deb13u2",
        },
        "pgbouncer_databases[2].name: 'my db' cannot be an entry name",
    ),
    (
        "forced user in a database entry",
        {"pgbouncer_databases": _database(settings={"user": "postgres"})},
        "pgbouncer_databases[0].settings.user: a forced user defeats auth_query",
    ),
    (
        "console user with a space (PgBouncer splits the list on whitespace)",
        {
            "pgbouncer_admin_users": ["app admin"],
            "pgbouncer_roles": [*_role(), {"name": "app admin", "password": "x"}],
        },
        "pgbouncer_admin_users: list item 'app admin' is empty or holds whitespace or a comma",
    ),
    (
        "console user that is not a declared role",
        {"pgbouncer_admin_users": ["nobody"]},
        "pgbouncer_admin_users: 'nobody' is not declared in pgbouncer_roles",
    ),
    # Hole 4: names PostgreSQL reserves or treats specially, and collisions.
    *[
        (f"auth user named {name!r}", {"pgbouncer_auth_user": name}, "pgbouncer_auth_user:")
        for name in [
            "Public",
            "PUBLIC",
            "public",
            "none",
            "current_user",
            "session_user",
            "current_role",
            "pg_auth",
        ]
    ],
    (
        "role named public",
        {"pgbouncer_roles": _role(name="Public")},
        "pgbouncer_roles[0].name: must not be the reserved role name 'Public'",
    ),
    (
        "role colliding with the auth user",
        {"pgbouncer_roles": _role(name="pgbouncer_auth")},
        "pgbouncer_roles[0].name: 'pgbouncer_auth' is the auth user",
    ),
    (
        "role colliding with the admin login",
        {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "postgres", "password": "x"}]},
        "pgbouncer_roles[2].name: 'postgres' is the admin login",
    ),
    (
        "auth user equal to the client group",
        {"pgbouncer_client_group": "pgbouncer_auth"},
        "must be three different roles",
    ),
    # Hole 2: an owner with a quote is a name like any other, quoted; a line break is refused.
    (
        "database owner with a line break",
        {"pgbouncer_databases": _database(owner='app"\nCREATE ROLE evil SUPERUSER; --')},
        "pgbouncer_databases[0].owner:",
    ),
    # Hole 7: trailing newlines pass no name check.
    (
        "role name with a trailing newline",
        {"pgbouncer_roles": _role(name="app\n")},
        "pgbouncer_roles[0].name:",
    ),
    (
        "auth user with a trailing newline",
        {"pgbouncer_auth_user": "pgbouncer_auth\n"},
        "pgbouncer_auth_user:",
    ),
    (
        "database name with a trailing newline",
        {"pgbouncer_databases": _database(dbname="app\n")},
        "pgbouncer_databases[0].dbname:",
    ),
    (
        "app alias with a trailing newline",
        {"pgbouncer_app_files_databases": [{"alias": "default\n", "role": "app", "database": "app"}]},
        "pgbouncer_app_files_databases[0].alias:",
    ),
    (
        "pg_hba address with a trailing newline",
        {"pgbouncer_postgresql_client_addresses": ["10.0.0.5/32\n"]},
        "pgbouncer_postgresql_client_addresses[0]:",
    ),
    # Hole 9: failures the throwaway PgBouncer cannot see.
    (
        "privileged listen port",
        {"pgbouncer_listen_port": 80},
        "pgbouncer_listen_port: 80 is not a usable TCP port",
    ),
    ("listen port 0", {"pgbouncer_listen_port": 0}, "pgbouncer_listen_port: 0 is not a usable TCP port"),
    ("listen port 70000", {"pgbouncer_listen_port": 70000}, "pgbouncer_listen_port: 70000"),
    ("server port 0", {"pgbouncer_server_port": 0}, "pgbouncer_server_port: 0 is not a usable TCP port"),
    (
        "database port 70000",
        {"pgbouncer_databases": _database(port=70000)},
        "pgbouncer_databases[0].port: 70000 is not a usable TCP port",
    ),
    (
        "auth password over 1024 bytes",
        {"pgbouncer_auth_password": "x" * 1025},
        "pgbouncer_auth_password: longer than 1024 bytes",
    ),
    (
        "auth password with a NUL",
        {"pgbouncer_auth_password": "auth\u0000password"},
        "pgbouncer_auth_password: must not contain line breaks, NUL or other control characters",
    ),
    (
        "role password with a line break",
        {"pgbouncer_roles": _role(password="app\npassword")},
        "pgbouncer_roles[0].password: must not contain line breaks",
    ),
    (
        "empty auth password",
        {"pgbouncer_auth_password": ""},
        "pgbouncer_auth_password: must be a non-empty string",
    ),
    (
        "missing auth password",
        {"pgbouncer_auth_password": MISSING},
        "missing required arguments: pgbouncer_auth_password",
    ),
    (
        "device as an auth file",
        {"pgbouncer_settings": {"auth_hba_file": "/dev/zero"}},
        "pgbouncer_settings.auth_hba_file: '/dev/zero' points into /dev, /proc or /sys",
    ),
    (
        "device as an auth file, behind a doubled slash",
        {"pgbouncer_settings": {"auth_hba_file": "//dev/zero"}},
        "pgbouncer_settings.auth_hba_file: '//dev/zero' points into /dev, /proc or /sys",
    ),
    (
        "device as an auth file, behind '..'",
        {"pgbouncer_settings": {"auth_ident_file": "/var/run/../dev/zero"}},
        "pgbouncer_settings.auth_ident_file: '/var/run/../dev/zero' has a '..' component",
    ),
    # A socket directory any local user can write: any of them could take the socket's name.
    (
        "socket directory in /tmp",
        {"pgbouncer_unix_socket_dir": "/tmp"},
        "pgbouncer_unix_socket_dir: '/tmp' is in a directory every local user can write",
    ),
    (
        "socket directory in /tmp behind '..'",
        {"pgbouncer_unix_socket_dir": "/var/tmp/../tmp"},
        "pgbouncer_unix_socket_dir: '/var/tmp/../tmp' has a '..' component",
    ),
    # An IPv6 zone id: ipaddress keeps it verbatim, so it reached pg_hba.conf, pgbouncer.ini and
    # database.env as given.
    (
        "pg_hba source with a zone id (pg_hba.conf would read method trust)",
        {"pgbouncer_postgresql_client_addresses": ["::%1 :: trust #"]},
        "pgbouncer_postgresql_client_addresses[0]: '::%1 :: trust #' is not an address or a network",
    ),
    (
        "a pooler's pgbouncer_address with a zone id (the default pg_hba sources)",
        {"pgbouncer_postgresql_client_addresses": MISSING, "pgbouncer_address": "::%1 :: trust #"},
        "pgbouncer_postgresql_client_addresses[0]: '::%1 :: trust #' is not an address or a network",
    ),
    (
        "app files host with a zone id (sourcing database.env would run it)",
        {"pgbouncer_app_files_host": "::1%$(id>PWNED)"},
        "pgbouncer_app_files_host: '::1%$(id>PWNED)' is not a host name or an IP address",
    ),
    (
        "loopback listen address with a zone id",
        {"pgbouncer_listen_addr": ["::1%$(id>PWNED)"]},
        "pgbouncer_listen_addr: '::1%$(id>PWNED)' is not an address, a host name or *",
    ),
    # pg_hba.conf reads a name starting with '/' as a regular expression (PostgreSQL 16+), quoted too.
    (
        "role named like a pg_hba regular expression",
        {"pgbouncer_roles": [*VALID["pgbouncer_roles"], {"name": "/.*", "password": "x"}]},
        "pgbouncer_roles[2].name: must not start with '/'",
    ),
    (
        "database named like a pg_hba regular expression",
        {"pgbouncer_databases": _database(dbname="/^(reports|postgres)$")},
        "pgbouncer_databases[0].dbname: must not start with '/'",
    ),
    # Hole 10: what a module would only catch mid-run is caught in the first play.
    (
        "pg_hba source with a /33 prefix",
        {"pgbouncer_postgresql_client_addresses": ["10.0.0.5/33"]},
        "pgbouncer_postgresql_client_addresses[0]: '10.0.0.5/33' is not an address or a network",
    ),
    (
        "pg_hba source that is not an address",
        {"pgbouncer_postgresql_client_addresses": ["app-hosts"]},
        "pgbouncer_postgresql_client_addresses[0]: 'app-hosts' is not an address or a network",
    ),
    (
        "a descriptor limit below what a process may need",
        {"pgbouncer_limit_nofile": 1000},
        "pgbouncer_limit_nofile: 1000 must be between the",
    ),
    (
        "role granted a database that is not declared",
        {"pgbouncer_roles": _role(databases=["nowhere"])},
        "pgbouncer_roles[0].databases[0]: 'nowhere' is not declared in pgbouncer_databases",
    ),
    (
        "expiry that is not a timestamp",
        {"pgbouncer_roles": _role(valid_until="tomorrow-ish")},
        "pgbouncer_roles[0].valid_until: 'tomorrow-ish' must be 'infinity' or an ISO 8601 timestamp",
    ),
    # Also: catch-all client addresses and a public per-host listener.
    (
        "pg_hba source that admits everyone",
        {"pgbouncer_postgresql_client_addresses": ["0.0.0.0/0"]},
        "'0.0.0.0/0' admits every address; set pgbouncer_postgresql_hba_allow_everywhere",
    ),
    (
        "IPv6 pg_hba source that admits everyone",
        {"pgbouncer_postgresql_client_addresses": ["::/0"]},
        "'::/0' admits every address",
    ),
    (
        "non-loopback listener for the per-host topology",
        {"pgbouncer_listen_addr": ["0.0.0.0"]},
        "pgbouncer_listen_addr: the per_host topology listens on loopback only",
    ),
    # Hole 11: URLs that could rewrite the apt source.
    (
        "PGDG URL with a line break",
        {
            "pgbouncer_install_source": "pgdg",
            "pgbouncer_pgdg_repo_url": "https://example.org/apt\nTrusted: yes",
        },
        "pgbouncer_pgdg_repo_url:",
    ),
    (
        "PGDG URL that is not http(s)",
        {"pgbouncer_install_source": "pgdg", "pgbouncer_pgdg_repo_url": "file:///etc"},
        "pgbouncer_pgdg_repo_url: 'file:///etc' must be an http:// or https:// URL",
    ),
    # TLS names that could add a subjectAltName entry or carry a zone id, and a wildcard.
    (
        "TLS name with a line break that adds an entry",
        {"pgbouncer_tls_names": ["db1.example\nDNS:evil.example"]},
        "must be a host name or an IP address, without whitespace or control characters",
    ),
    (
        "TLS name with an IPv6 zone id",
        {"pgbouncer_tls_names": ["fd00::5%eth0"]},
        "pgbouncer_tls_names[0]: 'fd00::5%eth0' is not an IP address (an IPv6 zone id",
    ),
    (
        "TLS name that is a wildcard",
        {"pgbouncer_tls_names": ["*.example.internal"]},
        "pgbouncer_tls_names[0]: '*.example.internal' must be a host name",
    ),
    (
        "operator CA that is not a file",
        {"pgbouncer_tls_ca_cert_file": "/nonexistent/ca.crt"},
        "pgbouncer_tls_ca_cert_file: /nonexistent/ca.crt is not a file on the controller",
    ),
    # Hole 8: app-side values that could become code.
    (
        "application_name that is not printable ASCII",
        {
            "pgbouncer_app_files_databases": [
                {"alias": "default", "role": "app", "database": "app", "application_name": "a\nb"}
            ]
        },
        "pgbouncer_app_files_databases[0].application_name:",
    ),
    (
        "app database referring to an undeclared role",
        {"pgbouncer_app_files_databases": [{"alias": "default", "role": "nobody", "database": "app"}]},
        "pgbouncer_app_files_databases[0].role: 'nobody' is not declared in pgbouncer_roles",
    ),
    # The exporters: a stats-only role declared with its password, ports clear of PgBouncer's.
    (
        "exporter role not in stats_users",
        {"pgbouncer_exporter_user": "celery"},
        "pgbouncer_exporter_user: 'celery' must be in pgbouncer_stats_users",
    ),
    (
        "exporter role that is an admin",
        {
            "pgbouncer_exporter_user": "celery",
            "pgbouncer_stats_users": ["celery"],
            "pgbouncer_admin_users": ["celery"],
        },
        "pgbouncer_exporter_user: 'celery' is in pgbouncer_admin_users",
    ),
    (
        "exporter ports that take PgBouncer's",
        {
            "pgbouncer_exporter_user": "celery",
            "pgbouncer_stats_users": ["celery"],
            "pgbouncer_processes": 2,
            "pgbouncer_exporter_port": 6431,
        },
        "pgbouncer_exporter_port: the exporters take ports 6431 to 6432, which includes pgbouncer_listen_port 6432",
    ),
    (
        "network-facing exporter without a scrape password",
        {
            "pgbouncer_exporter_user": "celery",
            "pgbouncer_stats_users": ["celery"],
            "pgbouncer_exporter_address": "10.0.0.5",
        },
        "pgbouncer_exporter_scrape_password: required when pgbouncer_exporter_address is not loopback",
    ),
    (
        "exporter address with a zone id",
        {
            "pgbouncer_exporter_user": "celery",
            "pgbouncer_stats_users": ["celery"],
            "pgbouncer_exporter_address": "fe80::1%eth0 --web.config.file=/dev/null",
        },
        "pgbouncer_exporter_address: 'fe80::1%eth0 --web.config.file=/dev/null' is not one IP address",
    ),
    # The PostgreSQL exporter: peer auth on the database host, its own role name and port.
    (
        "PostgreSQL exporter with a TCP admin login",
        {"pgbouncer_postgresql_exporter": True, "pgbouncer_postgresql_login_host": "db.example.internal"},
        "pgbouncer_postgresql_exporter: runs on the database host and logs in over its unix socket",
    ),
    (
        "PostgreSQL exporter on PostgreSQL's port",
        {"pgbouncer_postgresql_exporter": True, "pgbouncer_postgresql_exporter_port": 5432},
        "pgbouncer_postgresql_exporter_port: 5432 is PostgreSQL's port",
    ),
    (
        "network-facing PostgreSQL exporter without a scrape password",
        {"pgbouncer_postgresql_exporter": True, "pgbouncer_postgresql_exporter_address": "10.0.0.9"},
        "pgbouncer_postgresql_exporter_scrape_password: required",
    ),
    (
        "exporter port that is not a number",
        {
            "pgbouncer_exporter_user": "celery",
            "pgbouncer_stats_users": ["celery"],
            "pgbouncer_exporter_port": "9127x",
        },
        "pgbouncer_exporter_port",
    ),
    # Role settings: the name as pg_settings spells it, one-line scalar values.
    (
        "role setting name that is not a setting's",
        {"pgbouncer_roles": _role(settings={"Statement Timeout": "1s"})},
        "pgbouncer_roles[0].settings.Statement Timeout: must be a setting's name as pg_settings spells it",
    ),
    (
        "role setting value with a second line",
        {"pgbouncer_roles": _role(settings={"statement_timeout": "1s\nALTER ROLE app SUPERUSER"})},
        "pgbouncer_roles[0].settings.statement_timeout: must not contain control characters",
    ),
    # A login that alternates with another (credential rotation).
    (
        "acts_as naming no declared role",
        {
            "pgbouncer_roles": [
                *VALID["pgbouncer_roles"],
                {"name": "app_next", "password": "x", "acts_as": "ap"},
            ]
        },
        "pgbouncer_roles[2].acts_as: 'ap' is not declared in pgbouncer_roles",
    ),
    (
        "acts_as with other databases",
        {
            "pgbouncer_roles": [
                *VALID["pgbouncer_roles"],
                {"name": "app_next", "password": "x", "databases": ["app"], "acts_as": "app"},
            ]
        },
        "pgbouncer_roles[2].acts_as: its databases ['app'] must be those of 'app'",
    ),
    # The rotation's and the switch-over's timeouts.
    (
        "rotation drain timeout below 0",
        {"pgbouncer_rotation_drain_timeout": -1},
        "pgbouncer_rotation_drain_timeout: -1 is not between 0 and 86400",
    ),
    (
        "switch-over timeout of 0",
        {"pgbouncer_switchover_timeout": 0},
        "pgbouncer_switchover_timeout: 0 is not between 1 and 3600",
    ),
    (
        "switch-over command that is no list",
        {"pgbouncer_switchover_command": {"run": "promote"}},
        "pgbouncer_switchover_command",
    ),
    # A managed PostgreSQL: what needs a superuser or the server's files is refused by name.
    *[
        (f"managed PostgreSQL with {case}", {**MANAGED, **changes}, message)
        for case, changes, message in [
            (
                "pg_hba managed",
                {"pgbouncer_postgresql_manage_hba": True},
                "pgbouncer_postgresql_manage_hba: must be false",
            ),
            (
                "no login host",
                {"pgbouncer_postgresql_login_host": ""},
                "pgbouncer_postgresql_login_host: required with",
            ),
            (
                "an unverified login",
                {"pgbouncer_postgresql_login_sslmode": "require"},
                "pgbouncer_postgresql_login_sslmode: must be verify-full or verify-ca",
            ),
            (
                "no CA for the server",
                {"pgbouncer_server_tls_ca_bundle": ""},
                "pgbouncer_server_tls_ca_bundle: required with",
            ),
            (
                "a mode that is no boolean",
                {"pgbouncer_managed_postgresql": "maybe"},
                "pgbouncer_managed_postgresql",
            ),
            (
                "an sslmode libpq does not have",
                {"pgbouncer_postgresql_login_sslmode": "verify"},
                "value of pgbouncer_postgresql_login_sslmode must be one of",
            ),
            (
                "a CA file that is not there",
                {"pgbouncer_server_tls_ca_bundle": "/nonexistent/ca.pem"},
                "pgbouncer_server_tls_ca_bundle: /nonexistent/ca.pem is not a file on the controller",
            ),
        ]
    ],
]


@pytest.mark.parametrize(
    ("overrides", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_fails_before_any_host_changes(tmp_path, overrides, message):
    assert_failed_in_first_play(run_site(tmp_path, overrides), message)


def test_a_complete_managed_inventory_passes_the_input_checks(tmp_path):
    """Every input check passes without an auth password; the first play then reads the server over
    TCP (a closed loopback port here), and that read's failure stops the run before the second."""
    result = run_site(tmp_path, MANAGED)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Read the server's limits, the roles that exist" in output, output
    assert "cannot connect to PostgreSQL database 'postgres': cannot reach 127.0.0.1:" in output, output
    assert "Connection refused" in output, output
    assert "PLAY [Build the PostgreSQL side" not in output, output
    for secret in SECRETS[1:]:
        assert secret not in output, f"a password reached the output: {secret}"


# The controller as a monitoring host too (inventory/monitoring.yml), scraping its own exporters.
MONITORED = {"pgbouncer_exporter_user": "celery", "pgbouncer_stats_users": ["celery"]}
BAD_MONITORING_INPUTS = [
    ("pooler without exporters", {}, "localhost: runs PgBouncer but no exporter"),
    (
        "Prometheus on PgBouncer's port",
        {**MONITORED, "pgbouncer_monitoring_prometheus_port": 6432},
        "pgbouncer_monitoring_prometheus_port: port 6432 is already pgbouncer_listen_port's on this host",
    ),
    (
        "Alertmanager on an exporter's port",
        {**MONITORED, "pgbouncer_monitoring_alertmanager_port": 9127},
        "pgbouncer_monitoring_alertmanager_port: port 9127 is already the exporter of PgBouncer process 1's",
    ),
    (
        "webhook URL with a second line",
        {**MONITORED, "pgbouncer_monitoring_webhook_url": "http://hooks.example.org/a\n- url: http://x/"},
        "pgbouncer_monitoring_webhook_url",
    ),
    (
        "scrape interval that is not a duration",
        {**MONITORED, "pgbouncer_monitoring_scrape_interval": "15s --web.enable-admin-api"},
        "pgbouncer_monitoring_scrape_interval: '15s --web.enable-admin-api' is not a Prometheus duration",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [case[1:] for case in BAD_MONITORING_INPUTS],
    ids=[case[0] for case in BAD_MONITORING_INPUTS],
)
def test_bad_monitoring_input_fails_before_any_host_changes(tmp_path, overrides, message):
    assert_failed_in_first_play(run_site(tmp_path, overrides, inventory="monitoring.yml"), message)


def _debian_major() -> str:
    fields = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    return fields.get("ID", "") + fields.get("VERSION_ID", "").strip('"')


@pytest.mark.skipif(
    _debian_major() != "debian12", reason="needs a Debian 12 controller (its PgBouncer is 1.18)"
)
def test_debian_12_pgbouncer_is_refused_with_version_and_fix(tmp_path):
    # Inputs PgBouncer 1.22 has (the release inputs are checked against when the host's is older).
    roles = [
        {key: value for key, value in role.items() if key != "pool"} for role in VALID["pgbouncer_roles"]
    ]
    result = run_site(
        tmp_path,
        {
            "__pgbouncer_package_version": MISSING,
            "__pgbouncer_install_source": MISSING,
            "pgbouncer_install_source": "distro",
            "pgbouncer_roles": roles,
        },
    )
    assert_failed_in_first_play(result, "offer PgBouncer 1.18")
    flat = " ".join(result.stdout.split())
    assert "this toolkit needs 1.22.0 or newer" in flat
    assert "pgbouncer_install_source to auto or pgdg" in flat


@pytest.fixture
def loopback_repository() -> Iterator[str]:
    """The test bed's apt repository (tests/lab/build-repo.sh: signed, suite trixie-pgdg, Debian
    forky's PgBouncer 1.26.1), served on loopback for the length of the test."""
    built = subprocess.run(
        ["bash", str(ROOT / "tests/lab/build-repo.sh")],
        capture_output=True,
        text=True,
        timeout=CONTROLLER_RUN_TIMEOUT,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=built.stdout.strip().splitlines()[-1]
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@pytest.mark.skipif(
    _debian_major() != "debian12", reason="needs a Debian 12 controller (its PgBouncer is 1.18)"
)
def test_auto_reads_the_repository_before_adding_it_and_renders_the_pinned_source(
    tmp_path, loopback_repository
):
    """pgbouncer_install_source auto on a host whose distribution is too old: the first play asks
    the repository itself what it offers (apt_source_candidate, a throwaway apt configuration:
    the signed Release checked against the fetched key), judges that package, and the check-mode
    run renders the deb822 source and the pin; nothing is written to the controller's apt."""
    before = sorted(Path("/etc/apt").rglob("*"))
    result = run_site(
        tmp_path,
        {
            "__pgbouncer_package_version": MISSING,
            "__pgbouncer_install_source": MISSING,
            "pgbouncer_pgdg_repo_url": loopback_repository,
            "pgbouncer_pgdg_key_url": f"{loopback_repository}key.asc",
            # The repository serves Debian 13's suite; the controller is Debian 12.
            "__pgbouncer_pgdg_suite": "trixie-pgdg",
        },
        "--diff",
        "--tags",
        "pgbouncer_install",
        "--limit",
        "localhost",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Check the security advisories of PgBouncer 1.26.1-1" in output, output
    assert f"+URIs: {loopback_repository}" in output, output
    assert "+Suites: trixie-pgdg" in output, output
    assert "+Signed-By: /usr/share/keyrings/pgdg-archive-keyring.asc" in output, output
    for line in (
        "+Package: *",
        "+Package: pgbouncer",
        "+Pin: origin 127.0.0.1",
        "+Pin-Priority: -1",
        "+Pin-Priority: 600",
    ):
        assert line in output, output
    assert sorted(Path("/etc/apt").rglob("*")) == before


def test_a_repository_whose_signature_does_not_verify_is_refused_in_the_first_play(
    tmp_path, loopback_repository
):
    """The same repository with another key: apt_source_candidate fails the first play, naming the
    repository, and nothing is installed."""
    result = run_site(
        tmp_path,
        {
            "__pgbouncer_package_version": MISSING,
            "__pgbouncer_install_source": "pgdg",
            "pgbouncer_pgdg_repo_url": loopback_repository,
            # A key file that exists but is not the one the repository is signed with.
            "pgbouncer_pgdg_key_url": f"{loopback_repository}dists/trixie-pgdg/Release.gpg",
            "__pgbouncer_pgdg_suite": "trixie-pgdg",
        },
    )
    assert_failed_in_first_play(result, f"apt-get failed for {loopback_repository} trixie-pgdg")


def test_a_socket_directory_every_user_may_write_is_refused_on_the_host(tmp_path):
    """A directory whose name no check knows, world-writable on the host itself: refused by the stat
    of the first play, naming the variable and the mode."""
    directory = Path("/var/lib") / f"pgbt-world-writable-{os.getpid()}"
    directory.mkdir(mode=0o777)
    directory.chmod(0o1777)
    try:
        result = run_site(tmp_path, {"pgbouncer_unix_socket_dir": str(directory)})
    finally:
        directory.rmdir()
    assert_failed_in_first_play(
        result, f"pgbouncer_unix_socket_dir: {directory} on this host is writable by every user"
    )
