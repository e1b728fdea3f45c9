"""The per-process exporter's inputs, connection string and environment file (plugin_utils/pgbouncer_exporter)."""

from __future__ import annotations

import shlex

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import exporter as exporter_filters
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    pgbouncer_exporter as exporter,
)

ROLES = [
    {"name": "app", "password": "app-secret", "databases": ["app"]},
    {"name": "pgbouncer_stats", "password": "stats-secret"},
    {"name": "pgbouncer_admin", "password": "admin-secret"},
    {"name": "no password", "password": ""},
    {"name": "verifier", "password": "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0$" + "A" * 44 + ":" + "B" * 44},
    {"name": "line break", "password": "a\nPGPASSWORD=x"},
]


def errors(user: object, **overrides: object) -> list[str]:
    arguments = {
        "port": 9127,
        "processes": 2,
        "listen_port": 6432,
        "stats_users": ["pgbouncer_stats", "no password", "verifier", "line break", "app"],
        "admin_users": ["pgbouncer_admin", "app"],
        "roles": ROLES,
    }
    arguments.update(overrides)
    return exporter.exporter_errors(user, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("user", "overrides", "expected"),
    [
        ("", {}, []),
        (None, {}, []),
        ("pgbouncer_stats", {}, []),
        ("pgbouncer_stats", {"port": 6431, "processes": 1}, []),
        ("nobody", {}, ["is not declared in pgbouncer_roles", "must be in pgbouncer_stats_users"]),
        ("pgbouncer_admin", {}, ["must be in pgbouncer_stats_users", "is in pgbouncer_admin_users"]),
        ("app", {}, ["is in pgbouncer_admin_users"]),
        ("no password", {}, ["must be a non-empty string"]),
        ("verifier", {}, ["is a verifier"]),
        ("line break", {}, ["must not contain line breaks"]),
        ("pgbouncer_stats", {"port": 6431}, ["includes pgbouncer_listen_port 6432"]),
        ("pgbouncer_stats", {"port": 6432, "processes": 1}, ["includes pgbouncer_listen_port 6432"]),
        ("pgbouncer_stats", {"port": 80}, ["is not a port from 1024 to 65534"]),
        ("pgbouncer_stats", {"port": 65535}, ["is not a port from 1024 to 65534"]),
        ("pgbouncer_stats", {"port": "9127; rm"}, ["is not a port"]),
        ("pgbouncer_stats", {"port": True}, ["is not a port"]),
        (["pgbouncer_stats"], {}, ["is not a role name"]),
    ],
)
def test_exporter_errors(user: object, overrides: dict[str, object], expected: list[str]) -> None:
    found = errors(user, **overrides)
    assert len(found) == len(expected), found
    for message, fragment in zip(found, expected, strict=True):
        assert message.startswith(("pgbouncer_exporter_user:", "pgbouncer_exporter_port:"))
        assert fragment in message


def test_no_error_message_holds_a_password() -> None:
    for role in ROLES:
        for message in errors(role["name"]):
            assert not role["password"] or role["password"] not in message


def unquote_systemd(line: str) -> tuple[str, str]:
    """What systemd's environment-file parser makes of NAME="value" (double-quoted escapes)."""
    name, _, quoted = line.partition("=")
    assert quoted.startswith('"') and quoted.endswith('"')
    body, value, index = quoted[1:-1], [], 0
    while index < len(body):
        character = body[index]
        if character == "\\" and index + 1 < len(body) and body[index + 1] in '"\\`$':
            value.append(body[index + 1])
            index += 2
            continue
        assert character != '"', f"unescaped quote in {line!r}"
        value.append(character)
        index += 1
    return name, "".join(value)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        'quote " inside',
        "back\\slash",
        "$(id) ${HOME} `id`",
        "' single",
        "trailing \\",
        "ünïcode %2F",
    ],
)
def test_environment_line_reads_back_to_the_value(value: str) -> None:
    line = exporter.systemd_environment_line("PGPASSWORD", value)
    assert "\n" not in line
    assert unquote_systemd(line) == ("PGPASSWORD", value)


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "a\x00b", "tab\tbed", "del\x7f"])
def test_environment_line_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="PGPASSWORD: a control character"):
        exporter.systemd_environment_line("PGPASSWORD", value)


@pytest.mark.parametrize(
    ("socket_dir", "user", "expected"),
    [
        (
            "/var/run/postgresql",
            "pgbouncer_stats",
            {"host": "/var/run/postgresql", "user": "pgbouncer_stats"},
        ),
        ("/run/pgbouncer-2", "Stats 'Q' \\ user", {"host": "/run/pgbouncer-2", "user": "Stats 'Q' \\ user"}),
        ("/var/run/postgresql", "x' password='y", {"user": "x' password='y"}),
    ],
)
def test_connection_string_quotes_every_value(socket_dir: str, user: str, expected: dict[str, str]) -> None:
    text = exporter.connection_string(socket_dir, 6432, user)
    # libpq's key=value syntax: single quotes with backslash escapes, as shlex reads it (posix).
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.escapedquotes = "'"
    lexer.quotes = "'"
    pairs = dict(token.split("=", 1) for token in lexer)
    assert pairs["port"] == "6432"
    assert pairs["dbname"] == "pgbouncer"
    assert pairs["sslmode"] == "disable"
    assert "password" not in pairs
    for key, value in expected.items():
        assert pairs[key] == value


def test_environment_file_has_the_listen_address_login_and_password_only() -> None:
    text = exporter.environment_file("/run/pgbouncer-2", 6432, "pgbouncer_stats", "s3cr$t", "127.0.0.1:9128")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    parsed = dict(unquote_systemd(line) for line in lines)
    assert parsed == {
        "PGBOUNCER_EXPORTER_LISTEN_ADDRESS": "127.0.0.1:9128",
        "PGBOUNCER_EXPORTER_CONNECTION_STRING": "host='/run/pgbouncer-2' port=6432 dbname='pgbouncer' "
        "user='pgbouncer_stats' sslmode=disable",
        "PGPASSWORD": "s3cr$t",
    }


def test_environment_files_are_one_per_process_each_on_its_own_socket_and_root_only() -> None:
    model_processes = [
        {"sections": {"pgbouncer": {"unix_socket_dir": f"/run/pgbouncer-{n}"}}} for n in (1, 2, 3)
    ]
    files = exporter_filters.exporter_environment_files(
        [1, "3"], model_processes, "/etc/pgbouncer-exporter", 6432, "127.0.0.1", 9127, "stats", "pw"
    )
    assert [(f["path"], f["mode"]) for f in files] == [
        ("/etc/pgbouncer-exporter/1.env", "0600"),
        ("/etc/pgbouncer-exporter/3.env", "0600"),
    ]
    assert files[1]["content"] == exporter.environment_file(
        "/run/pgbouncer-3", 6432, "stats", "pw", "127.0.0.1:9129"
    )


@pytest.mark.parametrize(
    ("processes", "message"),
    [
        ([4], "process 4 is not one of the 1 processes"),
        ([0], "process 0 is not"),
        (["x"], "process number"),
        ([1], "pgbouncer_listen_port"),
    ],
)
def test_environment_files_refuse_what_cannot_be_rendered(processes: list[object], message: str) -> None:
    model_processes = [{"sections": {"pgbouncer": {"unix_socket_dir": "/run/pgbouncer-1"}}}]
    port = "x" if message == "pgbouncer_listen_port" else 6432
    with pytest.raises(AnsibleFilterError, match=message):
        exporter_filters.exporter_environment_files(
            processes, model_processes, "/d", port, "127.0.0.1", 9127, "stats", "pw"
        )


@pytest.mark.parametrize(
    ("address", "port", "process", "expected"),
    [
        ("127.0.0.1", 9127, 1, "127.0.0.1:9127"),
        ("127.0.0.1", "9127", 3, "127.0.0.1:9129"),
        ("10.0.0.5", 9127, 2, "10.0.0.5:9128"),
        ("::1", 9127, 1, "[::1]:9127"),
        ("fd00:0::5", 9200, 1, "[fd00::5]:9200"),
    ],
)
def test_listen_address(address: str, port: object, process: int, expected: str) -> None:
    assert exporter.listen_address(address, port, process) == expected


@pytest.mark.parametrize(
    ("address", "facing"),
    [("127.0.0.1", False), ("127.0.0.2", False), ("::1", False), ("10.0.0.5", True), ("::", True)],
)
def test_network_facing(address: str, facing: bool) -> None:
    assert exporter.is_network_facing(address) is facing


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"address": "10.0.0.5", "scrape_password": "scrape-secret"}, []),
        ({"address": "127.0.0.1"}, []),
        ({"address": "10.0.0.5"}, ["pgbouncer_exporter_scrape_password: required"]),
        ({"address": "10.0.0.5", "scrape_password": "x" * 73}, ["at most 72 bytes"]),
        ({"address": "10.0.0.5", "scrape_password": "a\nb"}, ["printable characters"]),
        (
            {"address": "10.0.0.5", "scrape_password": "s", "scrape_user": "prom: x"},
            ["pgbouncer_exporter_scrape_user"],
        ),
        ({"address": "fe80::1%eth0 $(id)"}, ["pgbouncer_exporter_address: ", "zone id"]),
        ({"address": "exporter.example"}, ["pgbouncer_exporter_address: "]),
    ],
)
def test_network_facing_errors(overrides: dict[str, object], expected: list[str]) -> None:
    found = errors("pgbouncer_stats", **overrides)
    joined = " | ".join(found)
    assert (found == []) == (expected == []), found
    for fragment in expected:
        assert fragment in joined


def test_bcrypt_hash_checks_the_password_and_is_stable_per_host() -> None:
    import bcrypt

    first = exporter.bcrypt_hash("scrape-secret", "app1\0prometheus")
    assert first == exporter.bcrypt_hash("scrape-secret", "app1\0prometheus")
    assert first != exporter.bcrypt_hash("scrape-secret", "app2\0prometheus")
    assert first.startswith("$2b$12$")
    assert bcrypt.checkpw(b"scrape-secret", first.encode())
    assert not bcrypt.checkpw(b"scrape-secreT", first.encode())
    # The salt is made from the host and user only: the same for another password.
    assert first[:29] == exporter.bcrypt_hash("other", "app1\0prometheus")[:29]


def test_web_config_reads_back_exactly() -> None:
    import yaml

    text = exporter.web_config('prom "q": x', "$2b$12$abc", "/etc/ssl/host.crt", "/etc/key: x")
    assert yaml.safe_load(text) == {
        "tls_server_config": {
            "cert_file": "/etc/ssl/host.crt",
            "key_file": "/etc/key: x",
            "min_version": "TLS12",
        },
        "basic_auth_users": {'prom "q": x': "$2b$12$abc"},
    }
