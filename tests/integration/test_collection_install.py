"""The collection as a new user gets it: the tarball `ansible-galaxy collection build` makes holds
the collection and nothing of the repository around it; installed into a fresh path, its roles run
by their fully qualified names from a directory that is not the repository (no ansible.cfg of
ours, no collections/ link), their filters and templates resolving from the installed copy.

The install is offline (--no-deps): community.postgresql, the one dependency, comes from the
`ansible` package in this Python environment, which Ansible searches through site-packages.

The pooler role's input checks run with check_mode: their first step asks apt for the PgBouncer
release the host would run, and the apt module never refreshes its cache in check mode, so no
package server is contacted; `apt-cache policy` only reads the local lists."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
import tarfile
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from tests.playbooks import BIN, CONTROLLER_RUN_TIMEOUT, PINNED_PACKAGE, ROOT

COLLECTION = "pgbouncer_toolkit.pgbouncer"
# What a collection tarball holds at its top level: the metadata galaxy writes, the documents, the
# content directories and the Python requirements of the modules.
REQUIRED_TOP_LEVEL = {
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "docs",
    "LICENSE",
    "changelogs",
    "meta",
    "playbooks",
    "plugins",
    "roles",
    "templates",
    "requirements.txt",
}
# CHANGELOG.md is written from changelogs/fragments at release (antsibull-changelog release).
OPTIONAL_TOP_LEVEL = {"CHANGELOG.md"}
# (top-level name in the repository, why it must stay out of the tarball)
KEPT_OUT = [
    ("Makefile", "the repository's make targets"),
    ("pyproject.toml", "the test environment's Python project"),
    ("site.yml", "the repository's playbook; the collection ships playbooks/site.yml"),
    ("inventory.example", "example inventories for a clone of the repository"),
    ("ansible.cfg", "the repository's collections_path, pointing at its own link"),
    ("tests", "the test suite and the lab"),
    ("molecule", "the molecule scenarios"),
    (".ci", "CI configuration"),
    ("collections", "the link to the repository itself"),
    (".venv", "the development Python environment"),
]
SECRET = "installed-auth-secret"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=CONTROLLER_RUN_TIMEOUT, check=False
    )


def new_user_env(home: Path, collections: Path | None = None) -> dict[str, str]:
    """A shell with no Ansible settings of ours: an empty config file, a home without ~/.ansible,
    no PYTHONPATH (a path holding ansible_collections/ would be searched too), and, when given,
    only ``collections`` as the collections path."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "empty-ansible.cfg"
    config.touch()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ANSIBLE_") and key not in {"PYTHONPATH", "HOME"}
    }
    env.update(HOME=str(home), ANSIBLE_CONFIG=str(config), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if collections is not None:
        env["ANSIBLE_COLLECTIONS_PATH"] = str(collections)
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("build")
    env = new_user_env(tmp_path_factory.mktemp("build-home"))
    result = _run(
        [str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(output)], ROOT, env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (built,) = output.glob("pgbouncer_toolkit-pgbouncer-*.tar.gz")
    return built


@pytest.fixture(scope="module")
def top_level(tarball) -> set[str]:
    with tarfile.open(tarball) as archive:
        return {name.removeprefix("./").split("/")[0] for name in archive.getnames()}


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> Path:
    """The collections path the tarball was installed into, from outside the repository."""
    workdir = tmp_path_factory.mktemp("install")
    collections = workdir / "collections"
    env = new_user_env(workdir / "home")
    result = _run(
        [
            str(BIN / "ansible-galaxy"),
            "collection",
            "install",
            str(tarball),
            "-p",
            str(collections),
            "--no-deps",
        ],
        workdir,
        env,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{COLLECTION}:" in output and "was installed successfully" in output, output
    return collections


def test_tarball_holds_only_the_collection(top_level):
    expected = REQUIRED_TOP_LEVEL | {name for name in OPTIONAL_TOP_LEVEL if (ROOT / name).exists()}
    assert top_level - REQUIRED_TOP_LEVEL - OPTIONAL_TOP_LEVEL == set(), "not part of a collection"
    assert expected - top_level == set(), "missing from the tarball"


@pytest.mark.parametrize(("name", "why"), KEPT_OUT, ids=[name for name, _ in KEPT_OUT])
def test_repository_files_stay_out_of_the_tarball(top_level, name, why):
    assert name not in top_level, f"{name} ({why}) is in the tarball: add it to build_ignore in galaxy.yml"


def test_no_bytecode_in_the_tarball(tarball):
    with tarfile.open(tarball) as archive:
        strays = [name for name in archive.getnames() if "__pycache__" in name or name.endswith(".pyc")]
    assert strays == []


def test_python_requirement_ships_with_the_collection(tarball):
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("requirements.txt")
        assert member is not None
        lines = member.read().decode().splitlines()
    requirements = [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]
    assert any(re.match(r"psycopg2\b", requirement) for requirement in requirements), lines


def test_installed_copy_is_the_only_one_and_its_dependency_resolves(installed, tmp_path):
    env = new_user_env(tmp_path / "home", installed)
    result = _run([str(BIN / "ansible-galaxy"), "collection", "list", "--format", "json"], tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    # Resolved: the virtualenv may be reached through a link.
    found = {os.path.realpath(path): listed for path, listed in json.loads(result.stdout).items()}
    where = {path for path, collections in found.items() if COLLECTION in collections}
    assert where == {os.path.realpath(installed / "ansible_collections")}, found

    manifest = json.loads(
        (installed / "ansible_collections/pgbouncer_toolkit/pgbouncer/MANIFEST.json").read_text()
    )
    dependencies = manifest["collection_info"]["dependencies"]
    assert dependencies, "galaxy.yml declares community.postgresql"
    site_packages = os.path.realpath(Path(sysconfig.get_paths()["purelib"]) / "ansible_collections")
    for dependency, spec in dependencies.items():
        # The `ansible` package's copy, found on the default search path through site-packages.
        assert dependency in found.get(site_packages, {}), f"{dependency} not in {site_packages}"
        version = found[site_packages][dependency]["version"]
        assert spec == "*" or version in SpecifierSet(spec), f"{dependency} {version} does not meet {spec}"


def run_installed(
    workdir: Path, collections: Path, host_vars: dict[str, object], playbook: str, *args: str
) -> subprocess.CompletedProcess[str]:
    """ansible-playbook as a new user runs it: from ``workdir``, the installed collection only,
    localhost with ``host_vars`` from an inventory file. -vv prints each task's path."""
    inventory = workdir / "inventory"
    (inventory / "host_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text("all:\n  hosts:\n    localhost:\n")
    variables = {
        "ansible_connection": "local",
        "ansible_python_interpreter": str(BIN / "python"),
        **host_vars,
    }
    (inventory / "host_vars" / "localhost.yml").write_text(yaml.safe_dump(variables, allow_unicode=True))
    (workdir / "playbook.yml").write_text(playbook)
    command = [str(BIN / "ansible-playbook"), "-vv", "-i", str(inventory), "playbook.yml", *args]
    return _run(command, workdir, new_user_env(workdir / "home", collections))


def assert_tasks_ran_from(
    result: subprocess.CompletedProcess[str], workdir: Path, collections: Path, role: str
) -> None:
    """Every task came from the installed role (the role's argument-spec check, which Ansible adds
    itself, is reported at the playbook line that names the role)."""
    paths = re.findall(r"^task path: (\S+?):\d+$", result.stdout, flags=re.MULTILINE)
    role_dir = f"{collections}/ansible_collections/pgbouncer_toolkit/pgbouncer/roles/{role}/"
    playbook = os.path.realpath(workdir / "playbook.yml")
    elsewhere = [
        path for path in paths if not path.startswith(role_dir) and os.path.realpath(path) != playbook
    ]
    assert any(path.startswith(role_dir) for path in paths) and elsewhere == [], paths


def test_app_files_role_renders_from_the_installed_copy(installed, tmp_path):
    files = tmp_path / "files"
    host_vars = {
        "pgbouncer_app_files_dir": str(files),
        "pgbouncer_app_files_host": "127.0.0.1",
        "pgbouncer_app_files_port": 6432,
        "pgbouncer_databases": [
            {"name": "app"},
            {"name": "app_session", "dbname": "app", "pool_mode": "session"},
        ],
        "pgbouncer_roles": [{"name": "app user", "password": SECRET, "databases": ["app", "app_session"]}],
        "pgbouncer_app_files_databases": [
            {"alias": "default", "role": "app user", "database": "app", "session_database": "app_session"}
        ],
    }
    playbook = "- hosts: localhost\n  gather_facts: false\n  roles:\n    - pgbouncer_toolkit.pgbouncer.pgbouncer_app_files\n"
    # No PgBouncer runs here: the files are refused until their logins work, or the check is off.
    refused = run_installed(tmp_path, installed, host_vars, playbook)
    assert refused.returncode != 0
    assert "logins[0] ('app user' to 'app' through 127.0.0.1:6432): cannot reach" in refused.stdout, (
        refused.stdout
    )
    assert not (files / "database.env").exists()
    host_vars["pgbouncer_app_files_check_logins"] = False
    result = run_installed(tmp_path, installed, host_vars, playbook)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert_tasks_ran_from(result, tmp_path, installed, "pgbouncer_app_files")

    environment = (files / "database.env").read_text()
    assert "DATABASE_URL='postgresql://app%20user@127.0.0.1:6432/app'\n" in environment, environment
    assert "DATABASE_URL_SESSION='postgresql://app%20user@127.0.0.1:6432/app_session'\n" in environment
    assert "django.db.backends.postgresql" in (files / "django_databases.py").read_text()
    for text in (output, environment, (files / "django_databases.py").read_text()):
        assert SECRET not in text


VALID = {
    "pgbouncer_server_host": "127.0.0.1",
    "pgbouncer_auth_password": SECRET,
    "pgbouncer_databases": [{"name": "app", "pool_size": 10}],
    "pgbouncer_roles": [{"name": "app", "password": "app-secret", "databases": ["app"]}],
}
# (id, overrides, message naming the variable; None: the checks pass). Each failure comes from a
# different step: the argument spec, then the collection's filters pooler_model, password_errors
# and url_errors, called by their fully qualified names from the installed role.
VALIDATE_CASES = [
    ("valid inputs", {}, None),
    (
        "argument spec",
        {"pgbouncer_pool_mode": "sessions"},
        "value of pgbouncer_pool_mode must be one of: session, transaction, statement, got: sessions",
    ),
    (
        "pooler_model filter",
        {"pgbouncer_default_pool_size": -5},
        "pgbouncer_default_pool_size: -5 is out of range",
    ),
    (
        "password_errors filter",
        {"pgbouncer_auth_password": f"{SECRET}\nx"},
        "pgbouncer_auth_password: must not contain line breaks",
    ),
    (
        "url_errors filter",
        {"pgbouncer_install_source": "pgdg", "pgbouncer_pgdg_repo_url": "file:///etc"},
        "pgbouncer_pgdg_repo_url: 'file:///etc' must be an http:// or https:// URL",
    ),
]
VALIDATE_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the pooler inputs with the installed role
      ansible.builtin.import_role:
        name: pgbouncer_toolkit.pgbouncer.pgbouncer
        tasks_from: validate.yml
      # The apt cache refresh in version.yml does not run in check mode: no network.
      check_mode: true
"""


@pytest.mark.parametrize(
    ("overrides", "message"), [case[1:] for case in VALIDATE_CASES], ids=[case[0] for case in VALIDATE_CASES]
)
def test_pgbouncer_input_checks_run_from_the_installed_copy(installed, tmp_path, overrides, message):
    # The package the settings and advisories tables are checked against, pinned (extra vars win
    # over the facts version.yml sets from apt): this controller's own PgBouncer does not matter.
    result = run_installed(
        tmp_path, installed, {**VALID, **overrides}, VALIDATE_PLAYBOOK, "-e", json.dumps(PINNED_PACKAGE)
    )
    output = result.stdout + result.stderr
    flat = " ".join(output.split())
    assert_tasks_ran_from(result, tmp_path, installed, "pgbouncer")
    assert SECRET not in output, "a password reached the output"
    if message is None:
        assert result.returncode == 0, output
        assert "failed=0" in flat, output
    else:
        assert result.returncode != 0, output
        assert "failed=1" in flat, output
        assert message in flat, output
