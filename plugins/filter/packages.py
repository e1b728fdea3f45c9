"""Filters over the PgBouncer package a host installs: the repository it comes from, the version
it will run (and the release its settings are checked against), and that version's security
advisories (module_utils/apt_policy, plugin_utils/pgbouncer_advisories)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import apt_policy
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    pgbouncer_advisories as advisories,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_settings import load_table
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pooler_model import pooler_config
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import is_loopback


def listening_reach(listen_addr: str) -> str:
    """Where a pooler with ``listen_addr`` (the rendered value) can be reached from, in words."""
    addresses = [address.strip() for address in str(listen_addr).split(",") if address.strip()]
    outside = [address for address in addresses if not is_loopback(address)]
    if outside:
        return f"on {', '.join(outside)} (reachable from the network) and a unix socket"
    return "on loopback and a unix socket (every local user and process of the host can reach it)"


def advisory_verdict(
    inputs: Mapping[str, Any], package_version: str, accepted: Iterable[object] = ()
) -> dict:
    """{errors, notes} for the PgBouncer package ``package_version`` run with the role variables
    ``inputs``: errors refuse the host (open CVEs an unauthenticated client can use, not accepted),
    notes are the open CVEs the run goes on with."""
    try:
        release = advisories.upstream_release(package_version)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None
    errors, sections = pooler_config(inputs, release)
    if errors:
        # The settings check reports these by name; the advisories are judged on a valid config.
        return {"errors": [], "notes": []}
    return release_advisories(sections["pgbouncer"], package_version, accepted)


def release_advisories(
    settings: Mapping[str, str], package_version: str, accepted: Iterable[object] = ()
) -> dict:
    """{errors, notes} for the PgBouncer package ``package_version`` run with the rendered
    [pgbouncer] ``settings`` of a checked model (pooler_model): see advisory_verdict."""
    found = advisories.verdict(
        package_version, settings, accepted or (), listening_reach(settings.get("listen_addr", ""))
    )
    return {"errors": found.errors, "notes": found.notes}


def upstream_release(package_version: str) -> str:
    """The upstream release of a package version ('1.24.1-1+deb13u2' -> '1.24.1'); '0' (no
    package) stays '0'."""
    if str(package_version) == NO_PACKAGE:
        return NO_PACKAGE
    try:
        return advisories.upstream_release(package_version)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


NO_PACKAGE = "0"


def package_to_run(
    policy: str,
    install_source: str,
    repo_url: str = "",
    repo_candidate: str | None = None,
    upgrade: bool = False,
) -> str:
    """The PgBouncer package version a host will run after this run, from ``apt-cache policy``:
    the installed one (a run installs, it does not upgrade), or with ``upgrade`` (the rolling
    upgrade) or nothing installed, what apt will install: from the PGDG repository ``repo_url``
    (pinned to it) when that is the source, as the host's lists or ``repo_candidate`` (read before
    the repository is added) say; else apt's candidate. '0' when there is none."""
    current = apt_policy.installed(policy)
    if install_source == "pgdg":
        offered = apt_policy.newest_from(policy, repo_url) or repo_candidate
    else:
        offered = apt_policy.candidate(policy)
    if current and (not upgrade or not offered or advisories.compare_versions(current, offered) >= 0):
        return current
    return offered or NO_PACKAGE


def install_source(
    policy: str,
    requested: str,
    repo_url: str,
    inputs: Mapping[str, Any],
    accepted: Iterable[object] = (),
    minimum: str = "1.22.0",
    upgrade: bool = False,
) -> str:
    """Where PgBouncer comes from: ``requested`` unless it is 'auto', which takes the
    distribution's package when it is ``minimum`` or newer and has no open CVE an unauthenticated
    client can use (or that the inventory accepts), else the PGDG repository. A host that has the
    repository already keeps it."""
    if requested != "auto":
        return requested
    if apt_policy.newest_from(policy, repo_url):
        return "pgdg"
    package = package_to_run(policy, "distro", upgrade=upgrade)
    if package == NO_PACKAGE or advisories.compare_versions(upstream_release(package), minimum) < 0:
        return "pgdg"
    return "distro" if not advisory_verdict(inputs, package, accepted)["errors"] else "pgdg"


def target_version(policy: str, install_source: str) -> str:
    """The release to check settings against, from ``apt-cache policy pgbouncer``: the installed
    one, else the candidate (distro packages) or the newest the settings table knows (PGDG, not
    added yet); '0' when there is none."""

    def field(name: str) -> str | None:
        match = re.search(rf"^\s*{name}:\s*(?:[0-9]+:)?([0-9]+\.[0-9]+(?:\.[0-9]+)?)", policy, re.M)
        return match.group(1) if match else None

    installed, candidate = field("Installed"), field("Candidate")
    if installed:
        return installed
    if install_source == "pgdg":
        return load_table().newest
    return candidate or "0"


def url_host(url: str) -> str:
    """The host of a repository URL (checked by url_errors first), as apt pins it by origin."""
    host = urllib.parse.urlsplit(str(url)).hostname
    if not host:
        raise AnsibleFilterError(f"{url!r} has no host")
    return host


class FilterModule:
    """PgBouncer package filters."""

    def filters(self) -> dict[str, object]:
        return {
            "advisory_verdict": advisory_verdict,
            "apt_installed": apt_policy.installed,
            "apt_offered_by": apt_policy.newest_from,
            "install_source": install_source,
            "package_to_run": package_to_run,
            "release_advisories": release_advisories,
            "target_version": target_version,
            "upstream_release": upstream_release,
            "url_host": url_host,
        }
