"""The application-side files rendered by the pgbouncer_app_files role (through ansible-playbook,
values from an inventory file), then loaded the way an application loads them: the Django snippet
imported by Python, the environment file sourced by bash. Hostile values come back exactly as
declared and run no code."""

from __future__ import annotations

import json
import os
import re
import runpy
import subprocess
import urllib.parse
from pathlib import Path

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import app_files as app_filter
from tests.playbooks import run_playbook

# Each would leave a file behind if it ever ran as code (an f-string, or a quote that ends a literal).
ROLE = "O'B \"Q\" {open('/tmp/pwned-by-role','w')}"
APPLICATION_NAME = "it's {open('/tmp/pwned','w')} \"q\""
# A second alias with a role of its own: its password comes from its own variable.
REPORT_ROLE = "Report Writer"
DATABASES = [{"name": "app"}, {"name": "app_session", "dbname": "app", "pool_mode": "session"}]


def render(
    tmp_path: Path,
    host: str,
    app_databases: list[dict[str, object]],
    processes: list[dict[str, object]] | None = None,
) -> subprocess.CompletedProcess[str]:
    host_vars = {
        "pgbouncer_app_files_dir": str(tmp_path / "files"),
        "pgbouncer_app_files_host": host,
        "pgbouncer_app_files_port": 6432,
        "pgbouncer_databases": DATABASES,
        "pgbouncer_roles": [
            {"name": ROLE, "password": "not-used", "databases": ["app", "app_session"]},
            {"name": REPORT_ROLE, "password": "not-used-either", "databases": ["app"]},
        ],
        "pgbouncer_app_files_databases": app_databases,
        "pgbouncer_app_files_processes": processes or [],
        # What is rendered is the point here; no PgBouncer answers these names.
        "pgbouncer_app_files_check_logins": False,
    }
    playbook = "- hosts: localhost\n  gather_facts: false\n  roles:\n    - pgbouncer_toolkit.pgbouncer.pgbouncer_app_files\n"
    return run_playbook(tmp_path, host_vars, playbook)


def source_env(path: Path) -> dict[str, str]:
    """The variables bash sets when it sources the file (set -a), as an application would."""
    script = f"set -a; . {json.dumps(str(path))}; env -0"
    output = subprocess.run(["bash", "-c", script], env={}, capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in output.decode().split("\0") if "=" in item)


@pytest.mark.parametrize("host", ["127.0.0.1", "/var/run/postgresql", "::1"])
def test_rendered_files_load_to_exactly_the_declared_values(tmp_path, host):
    for marker in ("/tmp/pwned", "/tmp/pwned-by-role"):
        Path(marker).unlink(missing_ok=True)
    declared = [
        {
            "alias": "default",
            "role": ROLE,
            "database": "app",
            "session_database": "app_session",
            "application_name": APPLICATION_NAME,
        },
        {"alias": "reports", "role": REPORT_ROLE, "database": "app"},
    ]
    result = render(tmp_path, host, declared)
    assert result.returncode == 0, result.stdout + result.stderr

    env = source_env(tmp_path / "files" / "database.env")
    urls = (("DATABASE_URL", ROLE, "app"), ("DATABASE_URL_SESSION", ROLE, "app_session"))
    for variable, role, database in (*urls, ("DATABASE_URL_REPORTS", REPORT_ROLE, "app")):
        url = urllib.parse.urlsplit(env[variable])
        assert url.scheme == "postgresql"
        assert urllib.parse.unquote(url.username) == role
        assert urllib.parse.unquote(url.path[1:]) == database
        assert url.port == 6432
        expected_host = host if not host.startswith("/") else urllib.parse.quote(host, safe="")
        assert url.hostname.lower() == expected_host.lower()

    env_text = (tmp_path / "files" / "database.env").read_text()
    assert "password (and the session entry's): DATABASE_PASSWORD," in env_text
    assert "password (and the session entry's): DATABASE_PASSWORD_REPORTS," in env_text
    for process, database in (("web", "app"), ("migration", "app_session")):
        os.environ["DATABASE_PASSWORD"] = "from-the-secret-store"
        os.environ["DATABASE_PASSWORD_REPORTS"] = "the-report-writer's"
        os.environ["APP_PROCESS_TYPE"] = process
        settings = runpy.run_path(str(tmp_path / "files" / "django_databases.py"))["DATABASES"]
        assert settings == {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": host,
                "PORT": "6432",
                "NAME": database,
                "USER": ROLE,
                "PASSWORD": "from-the-secret-store",
                "CONN_MAX_AGE": 0,
                "DISABLE_SERVER_SIDE_CURSORS": True,
                "OPTIONS": {"application_name": f"{APPLICATION_NAME}-{process}"},
            },
            "reports": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": host,
                "PORT": "6432",
                "NAME": "app",
                "USER": REPORT_ROLE,
                "PASSWORD": "the-report-writer's",
                "CONN_MAX_AGE": 0,
                "DISABLE_SERVER_SIDE_CURSORS": True,
                "OPTIONS": {"application_name": f"reports-{process}"},
            },
        }
    del os.environ["DATABASE_PASSWORD_REPORTS"]
    with pytest.raises(KeyError, match="DATABASE_PASSWORD_REPORTS"):
        runpy.run_path(str(tmp_path / "files" / "django_databases.py"))
    assert not Path("/tmp/pwned").exists() and not Path("/tmp/pwned-by-role").exists()
    assert "not-used" not in env_text
    assert "not-used" not in (tmp_path / "files" / "django_databases.py").read_text()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"alias": "Default", "role": ROLE, "database": "app"}, "pgbouncer_app_files_databases[0].alias:"),
        ({"alias": "default\n", "role": ROLE, "database": "app"}, "pgbouncer_app_files_databases[0].alias:"),
        (
            {"alias": "default", "role": "nobody", "database": "app"},
            "pgbouncer_app_files_databases[0].role: 'nobody'",
        ),
        (
            {"alias": "default", "role": ROLE, "database": "nowhere"},
            "pgbouncer_app_files_databases[0].database: 'nowhere'",
        ),
        (
            {"alias": "default", "role": ROLE, "database": "app", "application_name": "a\nb"},
            "pgbouncer_app_files_databases[0].application_name:",
        ),
        (
            {"alias": "default", "role": ROLE, "database": "app", "application_name": "ü"},
            "pgbouncer_app_files_databases[0].application_name:",
        ),
    ],
)
def test_bad_app_values_are_refused_by_name(tmp_path, entry, message):
    result = render(tmp_path, "127.0.0.1", [entry])
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert message in output, output
    assert not (tmp_path / "files").exists()


# Valid values that a shell would expand or split if they reached a line unquoted.
HOSTILE_DATABASE = 'it\'s $(touch /tmp/pwned-by-env) `touch /tmp/pwned-by-env` "q" #1'


def source_with_sh(path: Path) -> dict[str, str]:
    """The variables a POSIX sh sets when it sources the file with set -a."""
    script = f"set -a; . {json.dumps(str(path))}; env -0"
    output = subprocess.run(["sh", "-c", script], env={}, capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in output.decode().split("\0") if "=" in item)


def test_env_file_values_are_single_quoted_and_sourced_by_sh_as_declared(tmp_path):
    Path("/tmp/pwned-by-env").unlink(missing_ok=True)
    databases = [*DATABASES, {"name": HOSTILE_DATABASE}]
    roles = [{"name": ROLE, "password": "not-used", "databases": ["app", HOSTILE_DATABASE]}]
    host_vars = {
        "pgbouncer_app_files_dir": str(tmp_path / "files"),
        "pgbouncer_app_files_host": "pgbouncer-1.example.internal",
        "pgbouncer_app_files_port": 6432,
        "pgbouncer_databases": databases,
        "pgbouncer_roles": roles,
        "pgbouncer_app_files_databases": [
            {"alias": "default", "role": ROLE, "database": "app", "session_database": HOSTILE_DATABASE}
        ],
        "pgbouncer_app_files_check_logins": False,
    }
    playbook = "- hosts: localhost\n  gather_facts: false\n  roles:\n    - pgbouncer_toolkit.pgbouncer.pgbouncer_app_files\n"
    result = run_playbook(tmp_path, host_vars, playbook)
    assert result.returncode == 0, result.stdout + result.stderr

    text = (tmp_path / "files" / "database.env").read_text()
    assignments = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(assignments) == 2, text
    # Each value single-quoted whole: the shell expands nothing in it, systemd reads it too.
    assert all(re.fullmatch(r"DATABASE_URL(_SESSION)?='[^']*'", line) for line in assignments), text
    env = source_with_sh(tmp_path / "files" / "database.env")
    url = urllib.parse.urlsplit(env["DATABASE_URL_SESSION"])
    assert url.hostname == "pgbouncer-1.example.internal"
    assert urllib.parse.unquote(url.path[1:]) == HOSTILE_DATABASE
    assert urllib.parse.unquote(url.username) == ROLE
    assert not Path("/tmp/pwned-by-env").exists()


@pytest.mark.parametrize(
    "value",
    [
        "it's",
        "'",
        "$(touch /tmp/pwned-by-env)",
        "`touch /tmp/pwned-by-env`",
        '${HOME} $0 $$ \\ "q" # ; | & * ? [a] ~ !',
        "a'$(touch /tmp/pwned-by-env)'b",
        "ü € 𝄞",
        "",
    ],
)
def test_shell_value_filter_is_read_back_by_sh_exactly(tmp_path, value):
    """The filter itself, on values the URLs never hold (a single quote among them)."""
    Path("/tmp/pwned-by-env").unlink(missing_ok=True)
    env_file = tmp_path / "values.env"
    env_file.write_text(f"VALUE={app_filter.shell_value(value, 'VALUE')}\n", encoding="utf-8")
    assert source_with_sh(env_file)["VALUE"] == value
    assert not Path("/tmp/pwned-by-env").exists()


@pytest.mark.parametrize("host", ["::1%$(touch /tmp/pwned-by-env)", "::1%25eth0", "/tmp"])
def test_a_host_the_endpoint_check_refuses_renders_nothing(tmp_path, host):
    Path("/tmp/pwned-by-env").unlink(missing_ok=True)
    result = render(tmp_path, host, [{"alias": "default", "role": ROLE, "database": "app"}])
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output
    assert f"pgbouncer_app_files_host: {host!r}" in output, output
    assert not (tmp_path / "files").exists()
    assert not Path("/tmp/pwned-by-env").exists()


def test_process_type_settings_load_to_the_declared_concurrency_and_stale_ones_go(tmp_path):
    declared = [{"alias": "default", "role": ROLE, "database": "app", "session_database": "app_session"}]
    processes = [
        {"name": "web", "kind": "gunicorn", "workers": 3, "threads": 4, "instances": 2},
        {
            "name": "green",
            "kind": "gunicorn",
            "workers": 2,
            "worker_class": "gevent",
            "worker_connections": 50,
        },
        {"name": "celery", "kind": "celery", "concurrency": 6, "pool": "threads"},
        {"name": "migration", "kind": "jobs", "count": 1},
    ]
    files = tmp_path / "files"
    files.mkdir()
    # A process type declared once and since removed: its settings must not outlive the declaration.
    (files / "celery_backfill.py").write_text("SETTINGS = {'worker_concurrency': 64}\n")
    (files / "unrelated.py").write_text("")
    result = render(tmp_path, "127.0.0.1", declared, processes)
    assert result.returncode == 0, result.stdout + result.stderr

    web = runpy.run_path(str(files / "gunicorn_web.conf.py"))
    assert (web["workers"], web["threads"], web["worker_class"]) == (3, 4, "gthread")
    assert web["raw_env"] == ["APP_PROCESS_TYPE=web"]
    green = runpy.run_path(str(files / "gunicorn_green.conf.py"))
    assert (green["workers"], green["worker_class"], green["worker_connections"]) == (2, "gevent", 50)
    assert "threads" not in green
    celery = runpy.run_path(str(files / "celery_celery.py"))
    assert celery["SETTINGS"] == {"worker_concurrency": 6, "worker_pool": "threads"}
    assert celery["APP_PROCESS_TYPE"] == "celery"
    assert sorted(path.name for path in files.iterdir()) == [
        "celery_celery.py",
        "database.env",
        "django_databases.py",
        "gunicorn_green.conf.py",
        "gunicorn_web.conf.py",
        "unrelated.py",
    ]
    # A second run changes nothing.
    again = render(tmp_path, "127.0.0.1", declared, processes)
    assert again.returncode == 0 and "changed=0" in again.stdout, again.stdout
