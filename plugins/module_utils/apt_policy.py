"""What ``apt-cache policy <package>`` says: the installed version, apt's candidate, and the
versions each repository offers. Shared by the apt_source_candidate module (on the host) and the
filter that decides which PgBouncer package a host will run (on the controller)."""

from __future__ import annotations

import re

_NONE = "(none)"


def _field(policy: str, name: str) -> str | None:
    match = re.search(rf"^\s*{name}:\s*(\S+)\s*$", policy, re.M)
    return None if match is None or match.group(1) == _NONE else match.group(1)


def installed(policy: str) -> str | None:
    """The installed package version, or None."""
    return _field(policy, "Installed")


def candidate(policy: str) -> str | None:
    """The version apt would install, or None."""
    return _field(policy, "Candidate")


def newest_from(policy: str, url: str) -> str | None:
    """The newest version the repository at ``url`` offers: apt lists the version table newest
    first, each version followed by the sources that serve it."""
    version = None
    for line in policy.splitlines():
        entry = re.match(r"^\s+(?:\*\*\* )?(\S+) -?[0-9]+$", line)
        if entry:
            version = entry.group(1)
        elif (
            version
            and re.match(r"^\s+-?[0-9]+ ", line)
            and any(token.rstrip("/") == url.rstrip("/") for token in line.split())
        ):
            return version
    return None
