"""site.yml against the controller: bad inputs fail in the first play, naming the variable, before
any host changes; Debian 12's PgBouncer is refused; the PGDG source renders in check mode."""

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

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

# A complete, valid set of inputs for both roles; each case changes one thing.
VALID = {
    "ansible_python_interpreter": sys.executable,
    "pgbouncer_server_host": "127.0.0.1",
    "pgbouncer_auth_password": "integration-auth",
    "pgbouncer_postgresql_auth_password": "integration-auth",
    "pgbouncer_postgresql_client_addresses": ["127.0.0.1/32"],
    "pgbouncer_databases": [{"name": "app", "pool_size": 10}],
    "pgbouncer_postgresql_roles": [{"name": "app", "password": "integration-app", "databases": ["app"]}],
}
MISSING = object()


def run_site(tmp_path: Path, overrides: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    extra = {**VALID, **overrides}
    extra = {key: value for key, value in extra.items() if value is not MISSING}
    vars_file = tmp_path / "extra_vars.json"
    vars_file.write_text(json.dumps(extra))
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            "-i",
            str(ROOT / "tests/integration/inventory/hosts.yml"),
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
        timeout=300,
        check=False,
    )


def assert_failed_in_first_play(result: subprocess.CompletedProcess[str], message: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in " ".join(output.split()), output
    # Nothing past the input checks ran: the later plays never started, nothing changed.
    assert "PLAY [Build the PostgreSQL side" not in output, output
    assert "PLAY [Run PgBouncer on every application host]" not in output, output
    assert "changed=0" in output, output
    for secret in ("integration-auth", "integration-app"):
        assert secret not in output, f"a password reached the output: {secret}"


BAD_INPUTS = [
    (
        "unknown setting",
        {"pgbouncer_settings": {"max_client_connz": 5}},
        "pgbouncer_settings.max_client_connz: unknown PgBouncer setting",
    ),
    (
        "setting with a dedicated variable",
        {"pgbouncer_settings": {"listen_port": 7000}},
        "pgbouncer_settings.listen_port: set it with the variable pgbouncer_listen_port",
    ),
    (
        "pool_mode outside the choices",
        {"pgbouncer_pool_mode": "sessions"},
        "value of pgbouncer_pool_mode must be one of: session, transaction, statement, got: sessions",
    ),
    (
        "database pool_mode outside the choices",
        {"pgbouncer_databases": [{"name": "app", "pool_mode": "bogus"}]},
        "value of pool_mode must be one of: session, transaction, statement, got: bogus found in pgbouncer_databases",
    ),
    ("non-integer pool size", {"pgbouncer_default_pool_size": "ten"}, "pgbouncer_default_pool_size"),
    (
        "negative pool size",
        {"pgbouncer_default_pool_size": -5},
        "pgbouncer_default_pool_size must be 0 (unlimited) or a positive integer, got -5",
    ),
    (
        "negative database pool size",
        {"pgbouncer_databases": [{"name": "app", "pool_size": -1}]},
        "pgbouncer_databases[0].pool_size: must be a non-negative integer, got -1",
    ),
    (
        "non-integer database pool size",
        {"pgbouncer_databases": [{"name": "app", "pool_size": "many"}]},
        "pool_size",
    ),
    (
        "database name with a newline",
        {"pgbouncer_databases": [{"name": "app\nevil = host=x"}]},
        "pgbouncer_databases[0].name:",
    ),
    (
        "database value with a newline",
        {"pgbouncer_databases": [{"name": "app", "dbname": "app\n[pgbouncer]"}]},
        "pgbouncer_databases[0].dbname: must be single-line text",
    ),
    (
        "setting value with a newline",
        {"pgbouncer_settings": {"query_wait_timeout": "60\nadmin_users = evil"}},
        "pgbouncer_settings.query_wait_timeout: keys and values must be single-line text",
    ),
    (
        "missing auth-user password",
        {"pgbouncer_auth_password": MISSING},
        "missing required arguments: pgbouncer_auth_password",
    ),
    (
        "empty auth-user password",
        {"pgbouncer_auth_password": ""},
        "pgbouncer_auth_password must be a non-empty single-line string",
    ),
    (
        "missing auth-user password on the PostgreSQL side",
        {"pgbouncer_postgresql_auth_password": MISSING},
        "missing required arguments: pgbouncer_postgresql_auth_password",
    ),
    (
        "role name that is not an identifier",
        {"pgbouncer_postgresql_roles": [{"name": "app; DROP", "password": "x", "databases": ["app"]}]},
        "pgbouncer_postgresql_roles[].name must be a plain PostgreSQL identifier",
    ),
    (
        "pg_hba source that is not an address",
        {"pgbouncer_postgresql_client_addresses": ["app-hosts"]},
        "pgbouncer_postgresql_client_addresses must list the PgBouncer hosts' addresses in CIDR form",
    ),
]


@pytest.mark.parametrize(
    ("overrides", "message"), [case[1:] for case in BAD_INPUTS], ids=[case[0] for case in BAD_INPUTS]
)
def test_bad_input_fails_before_any_host_changes(tmp_path, overrides, message):
    assert_failed_in_first_play(run_site(tmp_path, overrides), message)


def _debian_major() -> str:
    fields = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    )
    return fields.get("ID", "") + fields.get("VERSION_ID", "").strip('"')


@pytest.mark.skipif(
    _debian_major() != "debian12", reason="needs a Debian 12 controller (its PgBouncer is 1.18)"
)
def test_debian_12_pgbouncer_is_refused_with_version_and_fix(tmp_path):
    result = run_site(tmp_path, {})
    assert_failed_in_first_play(result, "offer PgBouncer 1.18")
    assert "this toolkit needs 1.22 or newer" in " ".join(result.stdout.split())
    assert "pgbouncer_install_source to pgdg" in " ".join(result.stdout.split())


@pytest.fixture
def loopback_key_server(tmp_path) -> Iterator[str]:
    """Serve a stand-in signing key on loopback: get_url sends a HEAD request even in check mode."""
    (tmp_path / "pgdg.asc").write_text("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pgdg.asc"
    finally:
        server.shutdown()


def test_pgdg_source_renders_in_check_mode(tmp_path, loopback_key_server):
    result = run_site(
        tmp_path,
        {"pgbouncer_install_source": "pgdg", "pgbouncer_pgdg_key_url": loopback_key_server},
        "--diff",
        "--tags",
        "pgbouncer_install",
        "--limit",
        "localhost",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "+URIs: https://apt.postgresql.org/pub/repos/apt" in output, output
    codename = dict(
        line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line
    ).get("VERSION_CODENAME", "")
    assert f"+Suites: {codename}-pgdg" in output, output
    assert "+Signed-By: /usr/share/keyrings/pgdg-archive-keyring.asc" in output, output
    assert not Path("/etc/apt/sources.list.d/pgdg.sources").exists()
