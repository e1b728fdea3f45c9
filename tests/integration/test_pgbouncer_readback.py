"""PgBouncer reads back what the renderer wrote, on each release the toolkit installs.

An inventory full of hostile-but-valid values (quotes, spaces, #, ;, =, backslashes, unicode,
200+ character strings) goes through pooler_config and render_ini; the real PgBouncer loads the
file in a throwaway podman container (no network) and every value must come back byte for byte.
Every test runs once per release (the module-scoped `version` fixture): 1.24.1, Debian 13's own
package, and 1.26.1, Debian forky's, which tests/lab/build-repo.sh puts into the test bed's apt
repository. The inventory holds what both releases read, plus what only one has (ADDED): the
keys new in 1.25/1.26, [databases] and [users] entries whose names need quoting (1.25 and later)
and suspend_timeout (gone in 1.26). What is read back:

- SHOW CONFIG for every [pgbouncer] key, after pgbouncer_show.show_config_value's conversion
  (whose every measured row, tests/unit/test_pgbouncer_show.py, is checked on the binary too);
- SHOW DATABASES, SHOW USERS and SHOW PEERS for the [databases], [users] and [peers] entries;
- what PgBouncer sends a stand-in PostgreSQL server (readback/fake_postgres.py): the startup
  packet with the entry's dbname, application_name, client_encoding, datestyle and timezone,
  its connect_query, the server_reset_query, and the auth_query as auth_user on auth_dbname;
- the console admits the admin_users and stats_users by their (hostile) names;
- SHOW CONFIG lists exactly the settings table's [pgbouncer] keys for the release, with its
  defaults (NULL and "" apart) and reload flags, and the release refuses the keys the table
  gives only to other releases.

The values PgBouncer would misread are refused before rendering, by name (the tables at the
end), among them the lines this test found PgBouncer reading differently (a time below one
microsecond, a socket path too long for sun_path, a socket directory with a comma), each shown
on the binary too.

The container tests are marked `container`; they need the base image tests/lab/build-image.sh
builds and, for 1.26.1, the apt repository of tests/lab/build-repo.sh (tests/run.sh builds both
before pytest; the fixture runs build-repo.sh itself when the repository is missing). PgBouncer
and psql are added to the base image once per base image: 1.24.1 from Debian's archive
(localhost/pgbouncer-toolkit-readback:<base image id>), 1.26.1 from the repository's .deb
(localhost/pgbouncer-toolkit-readback-1.26.1:<base image id>-<digest of the .deb>).
"""

from __future__ import annotations

import base64
import copy
import csv
import io
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_show import (
    show_config_value,
    shows_default,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_files import (
    QUOTED_KEYS_SINCE,
    ini_key,
    render_ini,
    userlist,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import (
    load_table,
    version_key,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_model import pooler_config
from tests.integration.containers import derived_image, podman, repository_debs, start_container
from tests.unit.test_pgbouncer_show import REFUSED, SHOWN

ROOT = Path(__file__).resolve().parents[2]
HELPERS = Path(__file__).with_name("readback")
VERSIONS = ("1.24.1", "1.26.1")
DEBIAN_13 = "1.24.1"  # Debian 13's own package; the other releases come from the test bed's apt repository
READBACK_REPOSITORY = "localhost/pgbouncer-toolkit-readback"
CONTAINER_LIFETIME = 900  # the container's own `sleep`: it ends even if the finalizer never runs
IN_CONTAINER = "/opt/readback"
NULL = "\x1fNULL\x1f"  # the driver's psql null marker
FAKE_PASSWORD = "fake-secret"  # what fake_postgres.py's auth_query answers

# ------------------------------------------------------------------------------------------------
# The hostile inventory

Q = 'it\'s "q" #1; a=b \\ é 漢字 😀'  # 33 bytes: fits in a PostgreSQL name
LONG = Q + " " + "long " * 44 + "end à"  # 258 bytes, ends in a UTF-8 sequence holding 0xA0
WORK = "/srv/pgb"  # not under /tmp: pooler_config refuses socket directories every user can write
FAKE_DIR = f"{WORK}/fake pg 'é' #;="  # the stand-in server's socket directory
FAKE_PORT = 5439
ADMIN = "O'Adm\"in#;=é\\漢😀"  # list items: anything but whitespace and commas
STATS = "st'ats\"#;=ü\\"
CLIENT = "client_user"
VIA_AUTH_QUERY = 'Via "Auth" Q\'uery #;= é 漢😀'  # not in auth_file: looked up with auth_query
AUTH_USER = 'Pgb Auth "Q" \'s #;= é漢😀'
APP_ENTRY, FAKE_ENTRY, V6_ENTRY = "app", "Fake.DB-1_x", "9lives.v6"

INPUTS: dict[str, Any] = {
    "pgbouncer_topology": "per_host",
    "pgbouncer_listen_addr": ["127.0.0.1", "::1"],
    "pgbouncer_listen_port": 6543,
    "pgbouncer_unix_socket_dir": f"{WORK}/s'o\"ck #;=é",
    "pgbouncer_pool_mode": "Transaction",
    "pgbouncer_default_pool_size": 25,
    "pgbouncer_max_client_conn": 2000,
    "pgbouncer_limit_nofile": 16384,
    "pgbouncer_max_prepared_statements": 150,
    "pgbouncer_server_reset_query": f"SELECT '{Q}' /* {'r' * 220} */ à",
    "pgbouncer_server_lifetime": 3600.5,
    "pgbouncer_server_idle_timeout": 1234567,
    "pgbouncer_server_login_retry": 7,
    "pgbouncer_tcp_user_timeout": 1000,
    "pgbouncer_ignore_startup_parameters": ["extra_float_digits", "options", "search_path", "a.b_c", "_X9.y"],
    "pgbouncer_admin_users": [ADMIN, "plain_admin"],
    "pgbouncer_stats_users": [STATS],
    "pgbouncer_auth_type": "scram-sha-256",
    "pgbouncer_server_host": FAKE_DIR,
    "pgbouncer_server_port": FAKE_PORT,
    "pgbouncer_auth_user": AUTH_USER,
    "pgbouncer_auth_database": "auth.db-1_X",
    "pgbouncer_auth_schema": 'sch "e" \'m #;=\\ é',
    "pgbouncer_auth_function": "fu\"n'c #;= 漢😀",
    "pgbouncer_databases": [
        {
            "name": APP_ENTRY,
            "dbname": Q,
            "host": "10.0.0.2,db-1.example,::1",
            "port": 65535,
            "pool_size": 7,
            "pool_mode": "Session",
            "settings": {
                "max_db_connections": 11,
                "max_db_client_connections": 12,
                "min_pool_size": 2,
                "reserve_pool_size": 3,
                "server_lifetime": 45,
                "load_balance_hosts": "Disable",
            },
        },
        {
            "name": FAKE_ENTRY,
            "dbname": "Ünïcode 漢字 😀 'x' \"y\" #;=\\",
            "pool_mode": "session",  # so PgBouncer sends server_reset_query when the client leaves
            "settings": {
                "application_name": LONG,
                "client_encoding": "UTF8 'é' #;=",
                "datestyle": 'ISO, DMY "x"',
                "timezone": "Europe/Paris \\ 漢",
                "connect_query": f"SELECT '{Q}' -- {'c' * 200}",
            },
        },
        {
            "name": V6_ENTRY,
            "dbname": "x" * 63,
            "host": "::1",
            "port": 1,
            "pool_size": 0,
            "pool_mode": "STATEMENT",
        },
    ],
    "pgbouncer_roles": [
        {
            "name": "celery.worker-1",
            "databases": [APP_ENTRY],
            "pool": {
                "pool_size": 3,
                "pool_mode": "Statement",
                "reserve_pool_size": 2,
                "max_user_connections": 9,
                "max_user_client_connections": 10,
                "client_idle_timeout": 30,
                "idle_transaction_timeout": 31,
                "query_timeout": 32,
            },
        },
        {
            "name": "Batch_Role-2",
            "databases": [APP_ENTRY],
            "pool": {"pool_mode": "session", "max_user_connections": 4},
        },
        {"name": ADMIN},
        {"name": "plain_admin"},
        {"name": STATS},
        {"name": CLIENT, "databases": [FAKE_ENTRY]},
        {"name": VIA_AUTH_QUERY, "databases": [FAKE_ENTRY]},
    ],
    # Role variables since TLS files came under the pgbouncer_tls role; an enum's case is PgBouncer's
    # to ignore. Both off: the container has no certificate.
    "pgbouncer_client_tls_sslmode": "Disable",
    "pgbouncer_server_tls_sslmode": "disable",
    "pgbouncer_settings": {
        "server_check_query": f"SELECT 'Å' /* {Q} */ Å",  # ends in a UTF-8 sequence holding 0x85
        "job_name": '"quoted" job #;= é',
        "syslog_ident": "#;= not a comment 漢",
        "syslog_facility": "local7",
        "logfile": f"{WORK}/main/log file 'é' #;=.log",
        "auth_hba_file": "/etc/pgbouncer/hba 'é' #;=.conf",
        "client_tls_ca_file": '/etc/ssl/ca "x" 漢.pem',
        "server_tls_key_file": "/etc/ssl/key #;=.pem",
        "unix_socket_mode": "0750",
        "unix_socket_group": "postgres",
        "track_extra_parameters": ["IntervalStyle", "search_path"],
        "application_name_add_host": True,
        "log_pooler_errors": False,
        "server_round_robin": True,
        "query_wait_timeout": 90.5,
        "dns_zone_check_period": "2.5",
        "max_packet_size": 1048576,
        "pkt_buf": 8192,
        "max_db_connections": 100,
        "max_db_client_connections": 200,
        "max_user_connections": 50,
        "max_user_client_connections": 60,
        "min_pool_size": 1,
        "reserve_pool_size": 4,
        "verbose": 1,
        "stats_period": 30,
        "tcp_keepcnt": 5,
    },
    "auth_file": f"{WORK}/main/user list 'é' #;=.txt",
}
PASSWORDS = {
    AUTH_USER: "auth-pass",
    CLIENT: "client-pass",
    ADMIN: "admin-pass",
    "plain_admin": "pa",
    STATS: "sp",
}

# What only some releases read: entry names that need quoting (1.25.0 and later; spaces,
# capitals, '.', '#', '=', '"', backslashes, non-ASCII: anything but a single quote), the keys
# new in 1.25/1.26, and suspend_timeout (removed in 1.26.0).
QUOTED_ENTRY = 'Quoted DB.x #1 = é 漢😀 "d" \\'
QUOTED_USER = 'Quoted Üser.y #2 = ß "u" \\'
LOGIN_NOTICE = f"Welcome {Q} {'w' * 200} à"
LDAP_OPTIONS = "ldapurl=\"ldap://ldap.example.org/dc=ex,dc=org?uid?sub\" ldaptls=1 #;= 'é' \\ 漢"


@dataclass(frozen=True)
class Added:
    """What one release's inventory adds to INPUTS, and the clients that log in through it."""

    settings: dict[str, Any] = field(default_factory=dict)
    databases: list[dict[str, Any]] = field(default_factory=list)
    roles: list[dict[str, Any]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    logins: dict[str, tuple[str, str]] = field(default_factory=dict)  # query name: (user, entry)


ADDED = {
    "1.24.1": Added(settings={"suspend_timeout": 12.5}),
    "1.26.1": Added(
        settings={
            "login_notify_message": LOGIN_NOTICE,
            "auth_ldap_options": LDAP_OPTIONS,
            "client_tls13_ciphers": "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256",
            "server_tls13_ciphers": "TLS_AES_128_GCM_SHA256",
            "pool_idle_timeout": 86400.5,
            "query_wait_notify": 30,
            "scram_iterations": 10000,
            "transaction_timeout": 600.25,
        },
        databases=[
            {
                "name": QUOTED_ENTRY,
                "dbname": "Quoted target 'q' \"Q\" #;= é",
                "pool_mode": "session",
                "settings": {
                    "query_wait_timeout": 7,
                    "application_name": "quoted entry 'é' #;=",
                    "client_encoding": "LATIN1 'x'",
                    "datestyle": "Postgres, MDY",
                    "timezone": "America/New_York 'ß'",
                },
            }
        ],
        roles=[
            {
                "name": QUOTED_USER,
                "databases": [QUOTED_ENTRY],
                "pool": {
                    "pool_mode": "Session",
                    "pool_size": 3,
                    "query_wait_timeout": 8,
                    "transaction_timeout": 9,
                },
            }
        ],
        passwords={QUOTED_USER: "quoted-pass"},
        logins={"quoted client": (QUOTED_USER, QUOTED_ENTRY)},
    ),
}


def inputs_for(version: str) -> dict[str, Any]:
    """INPUTS plus what ``version`` adds (ADDED)."""
    inputs = copy.deepcopy(INPUTS)
    added = ADDED[version]
    inputs["pgbouncer_settings"].update(copy.deepcopy(added.settings))
    inputs["pgbouncer_databases"] += copy.deepcopy(added.databases)
    inputs["pgbouncer_roles"] += copy.deepcopy(added.roles)
    return inputs


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# ------------------------------------------------------------------------------------------------
# The release and its container


@pytest.fixture(scope="module", params=VERSIONS, ids=[f"pgbouncer-{v}" for v in VERSIONS])
def version(request: pytest.FixtureRequest) -> str:
    """The PgBouncer release every test of the module runs against, one after the other."""
    return request.param


@pytest.fixture(scope="module")
def inputs(version: str) -> dict[str, Any]:
    return inputs_for(version)


@pytest.fixture(scope="module")
def container(request: pytest.FixtureRequest, version: str) -> str:
    """A container with nothing but loopback, PgBouncer ``version``, psql and the helpers; removed
    at the end."""
    what = f"PgBouncer {version}"
    if version == DEBIAN_13:
        image = derived_image(READBACK_REPOSITORY, [f"'pgbouncer={version}-*'", "postgresql-client"], what)
    else:
        debs = repository_debs("pgbouncer", version)
        image = derived_image(f"{READBACK_REPOSITORY}-{version}", ["postgresql-client"], what, debs)
    name = start_container(request, image, "pgbt-readback", CONTAINER_LIFETIME)
    podman("cp", str(HELPERS), f"{name}:{IN_CONTAINER}")
    shown = podman("exec", name, "pgbouncer", "--version").stdout.decode()
    assert shown.splitlines()[0] == f"PgBouncer {version}", shown
    return name


@dataclass
class Query:
    returncode: int
    stdout: str
    stderr: str

    def rows(self) -> list[dict[str, str | None]]:
        assert self.returncode == 0, self.stderr
        reader = csv.DictReader(io.StringIO(self.stdout))
        return [{key: None if value == NULL else value for key, value in row.items()} for row in reader]

    def by(self, column: str) -> dict[str, dict[str, str | None]]:
        return {row[column]: row for row in self.rows()}


@dataclass
class Run:
    returncode: int
    output: str  # pgbouncer -d's stderr and the log file
    socket: bool
    queries: list[Query]
    paths: dict[str, bool]


@dataclass
class Job:
    runs: list[Run]
    fake: list[dict[str, Any]]


def run_job(container: str, job: Mapping[str, Any]) -> Job:
    """Hand ``job`` to readback/driver.py in the container; bytes come back UTF-8-decoded
    (strictly: text that is not UTF-8 fails here), so str equality is byte equality."""
    done = podman(
        "exec",
        "-i",
        container,
        "python3",
        f"{IN_CONTAINER}/driver.py",
        stdin=json.dumps(job).encode(),
        timeout=300,
    )
    result = json.loads(done.stdout)
    runs = []
    for run in result["runs"]:
        text = [base64.b64decode(run[field]).decode("utf-8") for field in ("stderr", "log")]
        queries = [
            Query(
                q["returncode"],
                base64.b64decode(q["stdout"]).decode(),
                base64.b64decode(q["stderr"]).decode(),
            )
            for q in run["queries"]
        ]
        runs.append(Run(run["returncode"], "\n".join(text), run["socket"], queries, run["paths"]))
    return Job(runs, result["fake"])


def console_query(sql: str, user: str = "pgbouncer", password: str | None = None, dbname: str = "pgbouncer"):
    return {"user": user, "dbname": dbname, "password": password, "sql": sql}


def config_run(
    sections: Mapping[str, Mapping[str, str]],
    name: str,
    files: Mapping[str, bytes],
    queries: list,
    **extra: Any,
) -> dict[str, Any]:
    """A driver run for the rendered ``sections``: the file, the directories its paths need."""
    pgbouncer = sections["pgbouncer"]
    config = f"{WORK}/{name}/pgbouncer.ini"
    every = {config: render_ini(sections).encode(), **files}
    dirs = [pgbouncer["unix_socket_dir"], os.path.dirname(pgbouncer["pidfile"])]
    return {
        "files": [[path, b64(data)] for path, data in every.items()],
        "dirs": dirs,
        "config": config,
        "pidfile": pgbouncer["pidfile"],
        "log": pgbouncer.get("logfile"),
        "console": {"dir": pgbouncer["unix_socket_dir"], "port": int(pgbouncer["listen_port"])},
        "queries": queries,
        **extra,
    }


def raw_run(
    name: str,
    port: int,
    lines: list[str],
    databases: tuple[str, ...] = (),
    console: bool = True,
    users: bytes = b"",
    sections: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A driver run for a hand-written file: the probe ``lines`` in a minimal [pgbouncer], then
    the lines of other ``sections`` (with their headers)."""
    directory = f"{WORK}/{name}"
    text = "\n".join(
        [
            "[databases]",
            *databases,
            "[pgbouncer]",
            f"listen_port = {port}",
            f"unix_socket_dir = {directory}",
            f"pidfile = {directory}/pgbouncer.pid",
            f"logfile = {directory}/pgbouncer.log",
            f"auth_file = {directory}/userlist.txt",
            *lines,
            *sections,
            "",
        ]
    )
    return {
        "files": [
            [f"{directory}/pgbouncer.ini", b64(text.encode())],
            [f"{directory}/userlist.txt", b64(users)],
        ],
        "config": f"{directory}/pgbouncer.ini",
        "pidfile": f"{directory}/pgbouncer.pid",
        "log": f"{directory}/pgbouncer.log",
        "console": {"dir": directory, "port": port} if console else None,
        "queries": [console_query("SHOW CONFIG")] if console else [],
    }


# ------------------------------------------------------------------------------------------------
# The hostile inventory, rendered and read back


@pytest.fixture(scope="module")
def rendered(inputs: dict[str, Any], version: str) -> dict[str, dict[str, str]]:
    errors, sections = pooler_config(inputs, version)
    assert errors == []
    return sections


def test_the_hostile_inventory_is_valid(rendered, inputs, version):
    """Only what pooler_config accepts for the release counts as valid: nothing here is refused,
    and what the release adds is in the file."""
    text = render_ini(rendered)
    assert inputs["pgbouncer_server_reset_query"] in text and LONG.replace("'", "''") in text
    assert len(LONG.encode()) > 200 and len(inputs["pgbouncer_server_reset_query"].encode()) > 200
    assert set(ADDED[version].settings) <= set(rendered["pgbouncer"])
    for entry in [*ADDED[version].databases, *ADDED[version].roles]:
        assert f"\n{ini_key(entry['name'])} = " in text, entry["name"]


def conninfo_dbname(name: str) -> str:
    """``name`` for psql's -d, which reads a value holding '=' as a connection string."""
    return "dbname='{}'".format(name.replace("\\", "\\\\").replace("'", "\\'"))


def main_queries(version: str) -> dict[str, dict[str, Any]]:
    passwords = {**PASSWORDS, **ADDED[version].passwords}
    logins = {
        name: console_query(f"SELECT {n}", user, passwords[user], conninfo_dbname(entry))
        for n, (name, (user, entry)) in enumerate(ADDED[version].logins.items(), start=3)
    }
    return {
        "config": console_query("SHOW CONFIG"),
        "databases": console_query("SHOW DATABASES"),
        "users": console_query("SHOW USERS"),
        "peers": console_query("SHOW PEERS"),
        "client": console_query("SELECT 1", CLIENT, PASSWORDS[CLIENT], FAKE_ENTRY),
        "via auth_query": console_query("SELECT 2", VIA_AUTH_QUERY, FAKE_PASSWORD, FAKE_ENTRY),
        "admin": console_query("RELOAD", ADMIN, PASSWORDS[ADMIN]),
        "plain admin": console_query("RELOAD", "plain_admin", PASSWORDS["plain_admin"]),
        "stats": console_query("SHOW STATS", STATS, PASSWORDS[STATS]),
        "stats reload": console_query("RELOAD", STATS, PASSWORDS[STATS]),
        "client on console": console_query("SHOW STATS", CLIENT, PASSWORDS[CLIENT]),
        **logins,
    }


@dataclass
class Main:
    job: Job
    queries: dict[str, Query]

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in self.job.fake if record["kind"] == kind]


@pytest.fixture(scope="module")
def main(container: str, rendered: dict[str, dict[str, str]], inputs: dict[str, Any], version: str) -> Main:
    passwords = {**PASSWORDS, **ADDED[version].passwords}
    auth_file = "".join(userlist(user, password) for user, password in passwords.items()).encode()
    queries = main_queries(version)
    run = config_run(
        rendered,
        "main",
        {inputs["auth_file"]: auth_file},
        list(queries.values()),
        settle=[inputs["pgbouncer_server_reset_query"].encode().hex()],
    )
    job = run_job(
        container, {"fake": {"dir": FAKE_DIR, "ports": [FAKE_PORT], "log": f"{WORK}/fake.log"}, "runs": [run]}
    )
    (result,) = job.runs
    assert result.returncode == 0 and result.socket, result.output
    return Main(job, dict(zip(queries, result.queries, strict=True)))


def setting_type(key: str) -> str:
    return load_table().get("pgbouncer", key).type


@pytest.mark.container
def test_every_rendered_pgbouncer_key_reads_back(main, rendered):
    shown = {key: row["value"] for key, row in main.queries["config"].by("key").items()}
    expected = {
        key: show_config_value(setting_type(key), text) for key, text in rendered["pgbouncer"].items()
    }
    assert {key: shown[key] for key in expected} == expected


@pytest.mark.container
def test_inventory_text_comes_back_byte_for_byte(main, inputs, version):
    shown = {key: row["value"] for key, row in main.queries["config"].by("key").items()}
    settings = inputs["pgbouncer_settings"]
    texts = {
        "server_reset_query": inputs["pgbouncer_server_reset_query"],
        "unix_socket_dir": inputs["pgbouncer_unix_socket_dir"],
        "auth_user": inputs["pgbouncer_auth_user"],
        "auth_dbname": inputs["pgbouncer_auth_database"],
        "auth_file": inputs["auth_file"],
        "admin_users": ",".join(inputs["pgbouncer_admin_users"]),
        "stats_users": ",".join(inputs["pgbouncer_stats_users"]),
        "listen_addr": ",".join(inputs["pgbouncer_listen_addr"]),
        "ignore_startup_parameters": ",".join(inputs["pgbouncer_ignore_startup_parameters"]),
        "track_extra_parameters": ",".join(settings["track_extra_parameters"]),
        "pool_mode": inputs["pgbouncer_pool_mode"].lower(),
        "server_idle_timeout": "1.23457e+06",  # %g of 1234567 seconds: the value is exact inside
        "server_lifetime": "3600.5",
        "unix_socket_mode": str(0o750),
        **{
            key: settings[key]
            for key in ("server_check_query", "job_name", "syslog_ident", "syslog_facility")
        },
        **{
            key: settings[key]
            for key in ("logfile", "auth_hba_file", "client_tls_ca_file", "server_tls_key_file")
        },
        # The release's own text settings (login_notify_message, auth_ldap_options, ...).
        **{key: value for key, value in ADDED[version].settings.items() if isinstance(value, str)},
    }
    assert {key: shown[key].encode() for key in texts} == {key: text.encode() for key, text in texts.items()}
    # The schema and the function come back inside auth_query, each as a quoted identifier.
    query = re.fullmatch(
        r'SELECT username, password FROM "((?:[^"]|"")*)"\."((?:[^"]|"")*)"\(\$1\)', shown["auth_query"]
    )
    assert query, shown["auth_query"]
    names = [name.replace('""', '"') for name in query.groups()]
    assert names == [inputs["pgbouncer_auth_schema"], inputs["pgbouncer_auth_function"]]


def expected_database_row(
    name: str, entry: Mapping[str, Any], inputs: Mapping[str, Any]
) -> dict[str, str | None]:
    """SHOW DATABASES for an entry: its own values, else what PgBouncer inherits (admin.c).
    (Its query_wait_timeout, 1.26, has no column: the release loading it is the evidence.)"""
    settings, globals_ = entry.get("settings", {}), inputs["pgbouncer_settings"]
    host = entry.get("host", inputs["pgbouncer_server_host"])

    def own_or_global(key: str, positive_only: bool = False) -> str:
        value = settings.get(key)
        if value is None or (positive_only and value <= 0):
            value = globals_[key]
        return str(value)

    lifetime = settings.get("server_lifetime") or inputs["pgbouncer_server_lifetime"]
    balance = settings.get("load_balance_hosts", "round-robin").lower() if "," in host else None
    return {
        "name": name,
        "host": host,
        "port": str(entry.get("port", inputs["pgbouncer_server_port"])),
        "database": entry.get("dbname", name),
        "force_user": None,
        "pool_size": str(entry.get("pool_size", inputs["pgbouncer_default_pool_size"])),
        "min_pool_size": own_or_global("min_pool_size"),
        "reserve_pool_size": own_or_global("reserve_pool_size"),
        "server_lifetime": str(int(lifetime)),  # whole seconds
        "pool_mode": entry["pool_mode"].lower() if entry.get("pool_mode") else None,
        "load_balance_hosts": balance,  # shown only for a host list
        "max_connections": own_or_global("max_db_connections", positive_only=True),
        "max_client_connections": own_or_global("max_db_client_connections", positive_only=True),
    }


def connstr_entry(line: str) -> dict[str, Any]:
    """A rendered [databases] line read the way PgBouncer's cstr_get_pair reads it, as an
    inventory entry: for the auth database's entry, which the renderer derives itself."""
    entry: dict[str, Any] = {"settings": {}}
    for key, quoted, bare in re.findall(r"(\w+)=(?:'((?:[^']|'')*)'|(\S+))", line):
        value = quoted.replace("''", "'") if bare == "" else int(bare)
        if key in ("dbname", "host", "port", "pool_size", "pool_mode"):
            entry[key] = value
        else:
            entry["settings"][key] = value
    return entry


@pytest.mark.container
def test_database_entries_read_back(main, rendered, inputs):
    shown = main.queries["databases"].by("name")
    auth_db = inputs["pgbouncer_auth_database"]
    entries = {e["name"]: e for e in inputs["pgbouncer_databases"]}
    entries[auth_db] = connstr_entry(rendered["databases"][ini_key(auth_db)])
    assert entries[auth_db]["dbname"] == auth_db
    assert set(shown) == {*entries, "pgbouncer"}
    assert set(rendered["databases"]) == {ini_key(name) for name in entries}
    for name, entry in entries.items():
        expected = expected_database_row(name, entry, inputs)
        assert {key: shown[name][key] for key in expected} == expected, name


@pytest.mark.container
def test_user_entries_read_back(main, rendered, inputs):
    shown = main.queries["users"].by("name")
    pooled = [role for role in inputs["pgbouncer_roles"] if role.get("pool")]
    assert set(rendered["users"]) == {ini_key(role["name"]) for role in pooled}
    globals_ = inputs["pgbouncer_settings"]
    for role in pooled:
        pool, row = role["pool"], shown[role["name"]]
        assert row["pool_mode"] == pool["pool_mode"].lower()
        assert row["max_user_connections"] == str(
            pool.get("max_user_connections") or globals_["max_user_connections"]
        )
        limit = pool.get("max_user_client_connections") or globals_["max_user_client_connections"]
        assert row["max_user_client_connections"] == str(limit)
        # pool_size and reserve_pool_size are printed with "%9d". PgBouncer 1.24.1 does not clear
        # them between rows, so a user without its own shows the previous row's (1.26.1 shows
        # nothing): only the users that set them can be checked.
        for key in ("pool_size", "reserve_pool_size"):
            if key in pool:
                assert row[key] == f"{pool[key]:9d}", (role["name"], key)


@pytest.mark.container
def test_peer_entries_read_back(main, rendered, inputs):
    shown = main.queries["peers"].by("peer_id")
    assert set(shown) == set(rendered["peers"])
    for peer_id in rendered["peers"]:
        assert shown[peer_id]["host"] == inputs["pgbouncer_unix_socket_dir"]
        assert shown[peer_id]["port"] == str(inputs["pgbouncer_listen_port"])


def params(record: Mapping[str, Any]) -> dict[bytes, bytes]:
    return {bytes.fromhex(key): bytes.fromhex(value) for key, value in record["params"]}


@pytest.mark.container
def test_servers_get_the_entry_settings_byte_for_byte(main, inputs, version):
    """Each client login (through quoted entry and user names too, on the releases that have
    them) reaches the server once, with its entry's dbname and settings and its own user name."""
    logins = {"client": (CLIENT, FAKE_ENTRY), **ADDED[version].logins}
    entries = {entry["name"]: entry for entry in inputs["pgbouncer_databases"]}
    for query, (user, name) in logins.items():
        assert main.queries[query].returncode == 0, (query, main.queries[query].stderr)
        entry = entries[name]
        startups = [params(r) for r in main.records("startup") if params(r)[b"user"] == user.encode()]
        assert len(startups) == 1, (query, main.job.fake)
        expected = {"database": entry["dbname"], "user": user}
        expected |= {
            key: entry["settings"][key]
            for key in ("application_name", "client_encoding", "datestyle", "timezone")
        }
        assert startups[0] == {key.encode(): value.encode() for key, value in expected.items()}, query
    queries = [bytes.fromhex(r["text"]) for r in main.records("query")]
    assert entries[FAKE_ENTRY]["settings"]["connect_query"].encode() in queries
    assert inputs["pgbouncer_server_reset_query"].encode() in queries  # session pooling: sent on release


@pytest.mark.container
def test_auth_query_runs_as_auth_user_on_auth_dbname(main, inputs):
    assert main.queries["via auth_query"].returncode == 0, main.queries["via auth_query"].stderr
    auth = [params(r) for r in main.records("startup") if params(r)[b"user"] == AUTH_USER.encode()]
    assert auth and all(p[b"database"] == inputs["pgbouncer_auth_database"].encode() for p in auth)
    shown = main.queries["config"].by("key")["auth_query"]["value"]
    assert [bytes.fromhex(r["text"]) for r in main.records("parse")] == [shown.encode()]
    assert [r["values"] for r in main.records("bind")] == [[VIA_AUTH_QUERY.encode().hex()]]


@pytest.mark.container
def test_console_admits_admin_and_stats_users_by_their_names(main):
    for name in ("admin", "plain admin", "stats"):
        assert main.queries[name].returncode == 0, (name, main.queries[name].stderr)
    assert "admin access needed" in main.queries["stats reload"].stderr
    assert main.queries["client on console"].returncode != 0
    assert "not allowed" in main.queries["client on console"].stderr


@pytest.mark.container
def test_entry_names_read_back_byte_for_byte(main, rendered, inputs, version):
    """Every [databases] and [users] entry comes back under its own name, byte for byte: bare in
    the file where PgBouncer reads it bare, single-quoted where it needs quoting, which the
    inventory does on every release that reads quoted names (1.25.0 and later), and only there."""
    quoting = version_key(version) >= version_key(QUOTED_KEYS_SINCE)
    names = {
        "databases": [entry["name"] for entry in inputs["pgbouncer_databases"]],
        "users": [role["name"] for role in inputs["pgbouncer_roles"] if role.get("pool")],
    }
    for section, declared in names.items():
        quoted = [name for name in declared if ini_key(name) != name]
        assert bool(quoted) == quoting, (section, quoted)
        assert all(f"'{name}'" in rendered[section] for name in quoted), rendered[section]
        shown = {row["name"].encode() for row in main.queries[section].rows()}
        assert {name.encode() for name in declared} <= shown, (section, shown)


@pytest.mark.container
def test_clients_get_the_login_notice_on_the_releases_that_have_it(main, inputs, version):
    """login_notify_message (1.26.0 and later, set wherever the release has it) reaches every
    client that logs in as a NOTICE, byte for byte; a release without it sends none."""
    notice = inputs["pgbouncer_settings"].get("login_notify_message")
    assert (notice is not None) == load_table().get("pgbouncer", "login_notify_message").exists_in(version)
    for name in ("client", "via auth_query", "admin", "stats", *ADDED[version].logins):
        stderr = main.queries[name].stderr
        if notice is None:
            assert "NOTICE" not in stderr, (name, stderr)
        else:
            assert stderr.count(f"NOTICE:  {notice}\n") == 1, (name, stderr)


# ------------------------------------------------------------------------------------------------
# SHOW CONFIG per type, on the binary: every measured row of tests/unit/test_pgbouncer_show.py
# (measured on 1.24.1), and rows for the keys only newer releases have.

# A key of the same type that the releases without a SHOWN row's key have, to check the row on.
STAND_IN = {"suspend_timeout": "pool_idle_timeout"}
SHOWN_ADDED = {
    "1.24.1": [],
    "1.26.1": [
        ("integer", "scram_iterations", "0x1000", "4096"),
        ("integer", "query_wait_notify", "010", "8"),  # whole seconds: strtol, not strtod
        ("time", "transaction_timeout", "0.25", "0.25"),
        ("time", "pool_idle_timeout", "1234567", "1.23457e+06"),
        ("string", "login_notify_message", LONG, LONG),
        ("string", "auth_ldap_options", LDAP_OPTIONS, LDAP_OPTIONS),
        ("string", "client_tls13_ciphers", "'single quoted' #;=", "'single quoted' #;="),
        ("string", "server_tls13_ciphers", "x" * 300 + "Å", "x" * 300 + "Å"),
    ],
}


def shown_rows(version: str) -> list[tuple]:
    """SHOWN for ``version`` (a row whose key the release lacks on its STAND_IN), plus its own."""
    table = load_table()
    rows = []
    for setting_type_, key, text, display in SHOWN:
        if not table.get("pgbouncer", key).exists_in(version):
            key = STAND_IN[key]
            assert table.get("pgbouncer", key).type == setting_type_, key
        rows.append((setting_type_, key, text, display))
    return rows + SHOWN_ADDED[version]


def batches(rows: list[tuple]) -> list[list[tuple]]:
    """The rows split so that no file sets a key twice."""
    result: list[list[tuple]] = []
    for row in rows:
        target = next((batch for batch in result if row[1] not in {r[1] for r in batch}), None)
        if target is None:
            result.append(target := [])
        target.append(row)
    return result


@pytest.fixture(scope="module")
def shown_runs(container: str, version: str) -> list[tuple[list[tuple], Run]]:
    groups = batches(shown_rows(version))
    runs = [
        raw_run(f"types-{n}", 7000 + n, [f"{row[1]} = {row[2]}" for row in batch])
        for n, batch in enumerate(groups)
    ]
    runs.append(raw_run("defaults", 7099, []))
    job = run_job(container, {"runs": runs})
    return list(zip([*groups, []], job.runs, strict=True))


@pytest.mark.container
def test_show_config_displays_each_type_as_measured(shown_runs):
    for batch, run in shown_runs:
        assert run.returncode == 0 and run.socket, run.output
        (query,) = run.queries
        shown = {key: row["value"] for key, row in query.by("key").items()}
        for setting_type_, key, text, display in batch:
            assert shown[key] == display, (setting_type_, key, text)
            assert show_config_value(setting_type_, text) == display


@pytest.mark.container
def test_unset_keys_show_their_default(shown_runs, version):
    """pgbouncer_show.shows_default on the binary: in a file that sets only the minimal keys,
    every other row's value is its default column (NULL read as "", as pgbouncer_console does),
    except conffile, which PgBouncer fills in from the command line."""
    _, run = shown_runs[-1]
    (query,) = run.queries
    rows = query.by("key")
    minimal = {"listen_port", "unix_socket_dir", "pidfile", "logfile", "auth_file", "conffile"}
    assert len(rows) == sum(1 for s in load_table().sections["pgbouncer"].values() if s.exists_in(version))
    differing = {
        key: (row["value"], row["default"])
        for key, row in rows.items()
        if not shows_default(row["value"] or "", row["default"] or "")
    }
    assert set(differing) == minimal, differing


@pytest.mark.container
def test_settings_table_matches_show_config(shown_runs, version):
    """The settings table's [pgbouncer] keys for the release are the keys SHOW CONFIG lists, each
    once; for each, the `changeable` column is the table's reload flag and the `default` column
    its default for the release (NULL and "" apart: a None default is NULL)."""
    _, run = shown_runs[-1]
    (query,) = run.queries
    rows = query.rows()
    table = {key: s for key, s in load_table().sections["pgbouncer"].items() if s.exists_in(version)}
    assert sorted(row["key"] for row in rows) == sorted(table)
    shown = {row["key"]: {"default": row["default"], "changeable": row["changeable"]} for row in rows}
    expected = {
        key: {
            "default": None if s.default_in(version) is None else str(s.default_in(version)),
            "changeable": "yes" if s.reload else "no",
        }
        for key, s in table.items()
    }
    differing = {
        key: {"binary": shown[key], "table": expected[key]} for key in table if shown[key] != expected[key]
    }
    assert differing == {}


@pytest.fixture(scope="module")
def refused_runs(container: str) -> list[Run]:
    runs = [
        raw_run(f"refused-{n}", 7100 + n, [f"{key} = {text}"], console=False)
        for n, (_, key, text) in enumerate(REFUSED)
    ]
    return run_job(container, {"runs": runs}).runs


@pytest.mark.container
@pytest.mark.parametrize("index", range(len(REFUSED)), ids=[f"{key}={text!r}" for _, key, text in REFUSED])
def test_pgbouncer_refuses_what_show_config_value_refuses(refused_runs, index):
    _, key, text = REFUSED[index]
    run = refused_runs[index]
    assert run.returncode != 0, run.output
    assert f'invalid value "{text}" for parameter {key}' in run.output


@pytest.mark.container
def test_pgbouncer_refuses_an_empty_connection_string_value(container):
    """Why pooler_config refuses empty [databases] settings: PgBouncer does not load them."""
    run = raw_run("empty", 7200, [], databases=("x = dbname='x' application_name=''",), console=False)
    (result,) = run_job(container, {"runs": [run]}).runs
    assert result.returncode != 0 and "syntax error in connection string" in result.output, result.output


# ------------------------------------------------------------------------------------------------
# Values PgBouncer would misread are refused before rendering, by the variable's name.
# (tests/unit/test_pgbouncer_config.py::test_no_value_can_add_a_line checks that such values are
# refused at all; here each error must also name the variable.)

LINE_BREAKS = {"LF": "\n", "CRLF": "\r\n", "U+2028": "\u2028"}
DEDICATED = {
    "pgbouncer_server_host": "db-1{}auth_type = trust",
    "pgbouncer_listen_addr": "127.0.0.1{}::1",
    "pgbouncer_unix_socket_dir": WORK + "{}listen_addr = *",
    "pgbouncer_server_reset_query": "DISCARD ALL{}%include /etc/passwd",
    "pgbouncer_ignore_startup_parameters": "extra_float_digits{}options",
    "pgbouncer_auth_schema": "pgbouncer{}x",
    "pgbouncer_auth_function": "lookup{}",
    "pgbouncer_auth_database": "auth{}[pgbouncer]",
}


# A change to the release's inventory: variables to replace, or a function that edits a copy.
Change = Mapping[str, Any] | Callable[[dict[str, Any]], None]


def changed(inputs: Mapping[str, Any], changes: Change) -> dict[str, Any]:
    if isinstance(changes, Mapping):
        return {**inputs, **changes}
    result = copy.deepcopy(dict(inputs))
    changes(result)
    return result


def with_entry(index: int, key: str, value: object, section: str = "settings") -> Change:
    """Set ``key`` of pgbouncer_databases[index] (in its ``section``, or the entry itself)."""

    def change(inputs: dict[str, Any]) -> None:
        target = inputs["pgbouncer_databases"][index]
        if section:
            target.setdefault(section, {})[key] = value
        else:
            target[key] = value

    return change


def with_role(index: int, role: Mapping[str, Any]) -> Change:
    """Replace pgbouncer_roles[index] by ``role``."""

    def change(inputs: dict[str, Any]) -> None:
        inputs["pgbouncer_roles"][index] = copy.deepcopy(dict(role))

    return change


MISREAD = [
    *[
        pytest.param({variable: template.format(brk)}, variable, id=f"{variable}-{label}")
        for variable, template in DEDICATED.items()
        for label, brk in LINE_BREAKS.items()
    ],
    pytest.param(
        {"pgbouncer_listen_addr": ["127.0.0.1", "::1\nlisten_port = 5432"]},
        "pgbouncer_listen_addr",
        id="listen_addr item",
    ),
    pytest.param(
        {"pgbouncer_ignore_startup_parameters": ["options\r"]},
        "pgbouncer_ignore_startup_parameters",
        id="parameter item",
    ),
    *[
        pytest.param(with_entry(0, key, ""), f"pgbouncer_databases[0].settings.{key}", id=f"empty {key}")
        for key in ("application_name", "client_encoding", "datestyle", "timezone", "connect_query")
    ],
    pytest.param(
        with_role(0, {"name": "r1", "pool": {"pool_mode": ""}}),
        "pgbouncer_roles[0].pool.pool_mode",
        id="empty pool_mode",
    ),
    *[
        pytest.param({variable: ""}, variable, id=f"empty {variable}")
        for variable in ("pgbouncer_server_host", "pgbouncer_auth_schema", "pgbouncer_auth_function")
    ],
    pytest.param(
        {"pgbouncer_server_host": "db-1 #primary"}, "pgbouncer_server_host", id="server_host space #"
    ),
    pytest.param({"pgbouncer_server_host": "db-1#primary"}, "pgbouncer_server_host", id="server_host #"),
    pytest.param(
        {"pgbouncer_server_host": "10.0.0.2, db-2"}, "pgbouncer_server_host", id="server_host list space"
    ),
    pytest.param(
        with_entry(0, "host", "db #1", section=""), "pgbouncer_databases[0].host", id="entry host space #"
    ),
    pytest.param(
        with_entry(0, "host", "10.0.0.2;#x", section=""), "pgbouncer_databases[0].host", id="entry host ;#"
    ),
    pytest.param(
        {"pgbouncer_listen_addr": ["127.0.0.1 #x"]}, "pgbouncer_listen_addr", id="listen_addr space #"
    ),
]


@pytest.mark.parametrize(("changes", "variable"), MISREAD)
def test_values_pgbouncer_would_misread_are_refused_by_name(changes, variable, inputs, version):
    errors, _ = pooler_config(changed(inputs, changes), version)
    assert any(error.startswith(f"{variable}:") for error in errors), errors


def test_the_misread_table_starts_from_a_valid_model(inputs, version):
    assert pooler_config(inputs, version)[0] == []


# ------------------------------------------------------------------------------------------------
# Lines PgBouncer reads differently from what they say (found by this test on 1.24.1, shown on
# each release's binary below): the checker refuses each by name.

LONG_SOCKET_DIR = f"{WORK}/" + "d" * 100  # with "/.s.PGSQL.6543": 123 bytes, sun_path holds 107
COMMA_SOCKET_DIR = f"{WORK}/fk,pg"
READ_DIFFERENTLY = [
    pytest.param(
        {"pgbouncer_settings": {"query_timeout": "0.0000001"}},
        "pgbouncer_settings.query_timeout",
        id="time below 1 microsecond becomes 0 (off)",
    ),
    pytest.param(
        {"pgbouncer_settings": {"server_connect_timeout": 1e-7}},
        "pgbouncer_settings.server_connect_timeout",
        id="float time below 1 microsecond becomes 0",
    ),
    pytest.param(
        {"pgbouncer_unix_socket_dir": LONG_SOCKET_DIR},
        "pgbouncer_unix_socket_dir",
        id="socket path truncated",
    ),
    pytest.param(
        {"pgbouncer_server_host": COMMA_SOCKET_DIR},
        "pgbouncer_server_host",
        id="socket dir with comma is a host list",
    ),
    pytest.param(
        with_entry(0, "host", COMMA_SOCKET_DIR, section=""),
        "pgbouncer_databases[0].host",
        id="entry socket dir with comma is a host list",
    ),
]


@pytest.mark.parametrize(("changes", "variable"), READ_DIFFERENTLY)
def test_renderer_refuses_lines_pgbouncer_reads_differently(changes, variable, inputs, version):
    errors, _ = pooler_config(changed(inputs, changes), version)
    assert any(error.startswith(f"{variable}:") for error in errors), errors


@pytest.mark.container
def test_what_pgbouncer_does_with_those_lines(container):
    """The evidence behind READ_DIFFERENTLY, on the binary (the time case is a SHOWN row: 1e-07
    shows 0)."""
    long_run = raw_run("long", 7300, [], console=False)
    config = base64.b64decode(long_run["files"][0][1]).decode()
    long_run["files"][0][1] = b64(
        config.replace(f"unix_socket_dir = {WORK}/long", f"unix_socket_dir = {LONG_SOCKET_DIR}").encode()
    )
    long_run["dirs"] = [LONG_SOCKET_DIR]
    socket = f"{LONG_SOCKET_DIR}/.s.PGSQL.7300"
    truncated = socket.encode()[:107].decode()
    long_run["paths"] = [socket, truncated]
    long_run["socket"] = truncated  # up and listening
    comma_run = raw_run(
        "comma",
        7301,
        ["auth_type = trust", "query_wait_timeout = 1"],  # the client gives up after a second
        databases=(f"c = dbname='c' host='{COMMA_SOCKET_DIR}' port={FAKE_PORT}",),
        users=b'"u" ""\n',
    )
    comma_run["dirs"] = [COMMA_SOCKET_DIR]
    comma_run["queries"] = [console_query("SHOW DATABASES"), console_query("SELECT 1", "u", None, "c")]
    long_result, comma_result = run_job(container, {"runs": [long_run, comma_run]}).runs

    # The socket is not in the configured directory: it is a file named after the cut-off path.
    assert long_result.returncode == 0, long_result.output
    assert f"listening on unix:{truncated}\n" in long_result.output
    assert long_result.paths == {socket: False, truncated: True}

    # PgBouncer splits the directory at the comma and connects to a socket that is not there.
    assert comma_result.queries[0].by("name")["c"]["load_balance_hosts"] == "round-robin"  # a host list
    assert f"unix:{WORK}/fk/.s.PGSQL.{FAKE_PORT}" in comma_result.output


# ------------------------------------------------------------------------------------------------
# What the settings table gives only to other releases: each release refuses it, PgBouncer at
# startup and the checker by the variable's name (the releases that have it load it above).

SAMPLE_TEXT = {
    "integer": "5",
    "size": "5",
    "time": "5",
    "boolean": "1",
    "mode": "0700",
    "string": "x",
    "path": "/x",
    "list": "x",
}
UNKNOWN_KEY = {
    "pgbouncer": "unknown parameter: pgbouncer/{key}",
    "databases": "unrecognized connection parameter: {key}",
    "users": "unrecognized user parameter: {key}",
}


@dataclass(frozen=True)
class Lacking:
    """A line the release cannot read: a ``key`` of ``section`` it does not have, or (no key) an
    entry ``name`` it cannot read in ``section``."""

    section: str
    key: str | None = None
    name: str = "lacking"

    def text(self) -> str:
        """A value the releases that have the key read."""
        setting = load_table().get(self.section, str(self.key))
        if setting.type == "enum":
            return setting.choices_in(load_table().newest)[0]
        return SAMPLE_TEXT[setting.type]

    def run(self, number: int) -> dict[str, Any]:
        """A driver run for a minimal file that holds the line."""
        name, port = f"lacking-{number}", 7400 + number
        if self.section == "pgbouncer":
            return raw_run(name, port, [f"{self.key} = {self.text()}"], console=False)
        entry = f"{ini_key(self.name)} = " + (
            "pool_size=5" if self.key is None else f"{self.key}={self.text()}"
        )
        if self.section == "databases":
            return raw_run(name, port, [], databases=(f"{entry} dbname=x",), console=False)
        return raw_run(name, port, [], console=False, sections=("[users]", entry))

    def message(self) -> str:
        """What PgBouncer logs before it gives up."""
        if self.key is None:
            return "syntax error in configuration"
        return UNKNOWN_KEY[self.section].format(key=self.key)


def lacking(version: str) -> list[Lacking]:
    """Every key of the table's [pgbouncer], [databases] and [users] that ``version`` does not
    have, and, before 1.25.0, an entry name of [databases] and of [users] that needs quoting."""
    table = load_table()
    result = [
        Lacking(section, key)
        for section in ("pgbouncer", "databases", "users")
        for key, setting in table.sections[section].items()
        if not setting.exists_in(version)
    ]
    if version_key(version) < version_key(QUOTED_KEYS_SINCE):
        result += [Lacking("databases", name=QUOTED_ENTRY), Lacking("users", name=QUOTED_USER)]
    return result


@pytest.mark.container
def test_pgbouncer_refuses_what_the_table_gives_only_other_releases(container, version):
    items = lacking(version)
    assert items  # each release lacks something another one has
    results = run_job(container, {"runs": [item.run(n) for n, item in enumerate(items)]}).runs
    for item, result in zip(items, results, strict=True):
        assert result.returncode != 0, (item, result.output)
        assert item.message() in result.output, (item, result.output)
        assert "FATAL cannot load config file" in result.output, (item, result.output)


def test_the_checker_refuses_what_the_table_gives_only_other_releases(inputs, version):
    """By the variable's name: "<key> was added in ..." or "<key> was removed in ...", and an
    entry name the release cannot read."""
    items = lacking(version)
    assert items
    for item in items:
        changes: Change
        if item.key is None and item.section == "databases":
            changes, where = with_entry(0, "name", item.name, section=""), "pgbouncer_databases[0].name"
        elif item.key is None:
            changes = with_role(0, {"name": item.name, "pool": {"pool_size": 5}})
            where = "pgbouncer_roles[0].name"
        elif item.section == "pgbouncer":
            changes = {"pgbouncer_settings": {**inputs["pgbouncer_settings"], item.key: item.text()}}
            where = f"pgbouncer_settings.{item.key}"
        elif item.section == "databases":
            changes = with_entry(0, item.key, item.text())
            where = f"pgbouncer_databases[0].settings.{item.key}"
        else:
            changes = with_role(0, {"name": "lacking", "pool": {item.key: item.text()}})
            where = f"pgbouncer_roles[0].pool.{item.key}"
        if item.key is None:
            expected = f"{where}: {item.name!r} cannot be an entry name for PgBouncer {version},"
        else:
            setting = load_table().get(item.section, item.key)
            added = version_key(version) < version_key(setting.since)
            when = f"was added in {setting.since}" if added else f"was removed in {setting.until}"
            expected = f"{where}: {item.key} {when}; the PgBouncer on this host is {version}"
        errors, _ = pooler_config(changed(inputs, changes), version)
        assert any(error.startswith(expected) for error in errors), (expected, errors)
