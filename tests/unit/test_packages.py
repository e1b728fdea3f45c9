"""Which PgBouncer package a host will run, read from `apt-cache policy` (module_utils/apt_policy,
filter/packages): installed, offered, from the distribution or the pinned PGDG repository."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter import packages
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import apt_policy
from tests.unit.test_pgbouncer_config import VALID

REPO = "http://pgbt-test-db:8080/"
# Real apt-cache policy output (Debian 13 container), nothing installed, the repository added.
BOTH = """pgbouncer:
  Installed: (none)
  Candidate: 1.26.1-1
  Version table:
     1.26.1-1 600
        600 http://pgbt-test-db:8080 trixie-pgdg/main amd64 Packages
     1.24.1-1+deb13u2 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
"""
DISTRO_ONLY = """pgbouncer:
  Installed: (none)
  Candidate: 1.24.1-1+deb13u2
  Version table:
     1.24.1-1+deb13u2 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
"""
INSTALLED_DISTRO = """pgbouncer:
  Installed: 1.24.1-1+deb13u2
  Candidate: 1.24.1-1+deb13u2
  Version table:
 *** 1.24.1-1+deb13u2 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
        100 /var/lib/dpkg/status
"""
INSTALLED_BOTH = """pgbouncer:
  Installed: 1.24.1-1+deb13u2
  Candidate: 1.26.1-1
  Version table:
     1.26.1-1 600
        600 http://pgbt-test-db:8080 trixie-pgdg/main amd64 Packages
 *** 1.24.1-1+deb13u2 500
        500 http://deb.debian.org/debian trixie/main amd64 Packages
        100 /var/lib/dpkg/status
"""
BOOKWORM = "pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1\n  Version table:\n     1.18.0-1 500\n"
NOTHING = "pgbouncer:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n"


@pytest.mark.parametrize(
    ("policy", "installed", "candidate", "from_repo"),
    [
        (BOTH, None, "1.26.1-1", "1.26.1-1"),
        (DISTRO_ONLY, None, "1.24.1-1+deb13u2", None),
        (INSTALLED_DISTRO, "1.24.1-1+deb13u2", "1.24.1-1+deb13u2", None),
        (INSTALLED_BOTH, "1.24.1-1+deb13u2", "1.26.1-1", "1.26.1-1"),
        (NOTHING, None, None, None),
        ("", None, None, None),
    ],
)
def test_policy_fields(policy, installed, candidate, from_repo):
    assert apt_policy.installed(policy) == installed
    assert apt_policy.candidate(policy) == candidate
    assert apt_policy.newest_from(policy, REPO) == from_repo


@pytest.mark.parametrize(
    "url", ["http://pgbt-test-db:8080", "http://pgbt-test-db:8080/", "http://pgbt-test-db:8080//"]
)
def test_newest_from_matches_the_url_however_it_ends(url):
    assert apt_policy.newest_from(BOTH, url) == "1.26.1-1"


@pytest.mark.parametrize(
    "url", ["http://pgbt-test-db", "http://pgbt-test-db:8080/apt", "http://deb.debian.org/debian/trixie"]
)
def test_newest_from_matches_whole_urls_only(url):
    assert apt_policy.newest_from(BOTH, url) is None


@pytest.mark.parametrize(
    ("policy", "source", "offer", "upgrade", "expected"),
    [
        (DISTRO_ONLY, "distro", None, False, "1.24.1-1+deb13u2"),
        (DISTRO_ONLY, "pgdg", "1.26.1-1", False, "1.26.1-1"),  # read before the source is added
        (BOTH, "pgdg", None, False, "1.26.1-1"),
        (BOTH, "distro", None, False, "1.26.1-1"),  # apt's candidate (the pin decides)
        (INSTALLED_DISTRO, "pgdg", "1.26.1-1", False, "1.24.1-1+deb13u2"),  # a run does not upgrade
        (INSTALLED_DISTRO, "pgdg", "1.26.1-1", True, "1.26.1-1"),  # the rolling upgrade does
        (INSTALLED_BOTH, "pgdg", None, True, "1.26.1-1"),
        (INSTALLED_BOTH, "pgdg", "1.22.0-1", True, "1.26.1-1"),  # the lists win over the offer read
        (INSTALLED_DISTRO, "distro", None, True, "1.24.1-1+deb13u2"),
        (NOTHING, "distro", None, False, "0"),
        (NOTHING, "pgdg", None, False, "0"),
        (BOOKWORM, "distro", None, False, "1.18.0-1"),
    ],
)
def test_package_to_run(policy, source, offer, upgrade, expected):
    assert packages.package_to_run(policy, source, REPO, offer, upgrade) == expected


def test_an_upgrade_never_downgrades():
    newer = INSTALLED_DISTRO.replace("1.24.1-1+deb13u2", "1.27.0-1")
    assert packages.package_to_run(newer, "pgdg", REPO, "1.26.1-1", True) == "1.27.0-1"


INPUTS = {**VALID, "pgbouncer_ignore_startup_parameters": ["extra_float_digits", "options"]}


@pytest.mark.parametrize(
    ("policy", "requested", "accepted", "expected"),
    [
        (DISTRO_ONLY, "distro", [], "distro"),
        (DISTRO_ONLY, "pgdg", [], "pgdg"),
        # auto: Debian 13's 1.24.1 has CVE-2026-19888 and 6668 open, usable before login.
        (DISTRO_ONLY, "auto", [], "pgdg"),
        (DISTRO_ONLY, "auto", ["CVE-2026-19888", "CVE-2026-6668"], "distro"),
        (INSTALLED_DISTRO, "auto", [], "pgdg"),
        (BOTH, "auto", [], "pgdg"),  # the repository is there already: kept
        (BOOKWORM, "auto", [], "pgdg"),  # too old
        (NOTHING, "auto", [], "pgdg"),
        (DISTRO_ONLY.replace("1.24.1-1+deb13u2", "1.26.1-1"), "auto", [], "distro"),
    ],
)
def test_install_source(policy, requested, accepted, expected):
    assert packages.install_source(policy, requested, REPO, INPUTS, accepted) == expected


@pytest.mark.parametrize(
    ("listen_addr", "words"),
    [
        ("127.0.0.1", "on loopback and a unix socket"),
        ("127.0.0.1,::1,localhost", "on loopback and a unix socket"),
        ("127.0.0.1,10.0.0.5", "on 10.0.0.5 (reachable from the network)"),
        ("*", "on * (reachable from the network)"),
    ],
)
def test_listening_reach(listen_addr, words):
    assert packages.listening_reach(listen_addr).startswith(words)


def test_advisory_verdict_reads_the_rendered_settings():
    refused = packages.advisory_verdict(
        {**INPUTS, "pgbouncer_ignore_startup_parameters": ["extra_float_digits"]}, "1.24.1-1+deb13u2"
    )
    assert "CVE-2026-107349" in refused["errors"][0]
    assert "on loopback and a unix socket" in refused["errors"][0]
    assert packages.advisory_verdict(INPUTS, "1.26.1-1") == {"errors": [], "notes": []}


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://apt.postgresql.org/pub/repos/apt", "apt.postgresql.org"),
        ("http://pgbt-test-db:8080/", "pgbt-test-db"),
    ],
)
def test_url_host(url, host):
    assert packages.url_host(url) == host


def test_upstream_release_keeps_no_package():
    assert packages.upstream_release("0") == "0"
    with pytest.raises(AnsibleFilterError):
        packages.upstream_release("latest")


@pytest.mark.parametrize(
    ("policy", "source", "expected"),
    [
        ("pgbouncer:\n  Installed: 1.24.1-1+deb13u2\n  Candidate: 1.24.1-1+deb13u2\n", "distro", "1.24.1"),
        ("pgbouncer:\n  Installed: (none)\n  Candidate: 1.18.0-1\n", "distro", "1.18.0"),
        ("pgbouncer:\n  Installed: (none)\n  Candidate: 1:1.25.2-1.pgdg13+1\n", "distro", "1.25.2"),
        ("pgbouncer:\n  Installed: (none)\n  Candidate: (none)\n", "distro", "0"),
        ("", "distro", "0"),
        ("pgbouncer:\n  Installed: (none)\n  Candidate: (none)\n", "pgdg", "1.26.1"),
    ],
)
def test_target_version(policy, source, expected):
    assert packages.target_version(policy, source) == expected
