"""The basic-auth credentials Prometheus scrapes a network-facing endpoint with (the exporters'
web config, HAProxy's userlist): one check for every place that takes them. Only a bcrypt hash
of the password reaches a host, so the password is held to what bcrypt reads."""

from __future__ import annotations

import re

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.names import CONTROL_CHARACTERS

# bcrypt reads at most 72 bytes of a password.
MAX_SCRAPE_PASSWORD_BYTES = 72
# A user name for the web config's YAML key and HAProxy's userlist: no whitespace, quote or '#'.
SCRAPE_USER = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def scrape_credential_errors(
    prefix: str, scrape_user: object, scrape_password: object, required: str
) -> list[str]:
    """Why ``<prefix>_scrape_user`` and ``<prefix>_scrape_password`` cannot be used; [] if they can.
    ``required`` says when the password is required (it ends the message). Never the password."""
    errors: list[str] = []
    if not isinstance(scrape_user, str) or not SCRAPE_USER.fullmatch(scrape_user):
        errors.append(
            f"{prefix}_scrape_user: {scrape_user!r} is not 1 to 64 letters, digits, '_', '.' or '-'"
        )
    if not isinstance(scrape_password, str) or not scrape_password:
        errors.append(f"{prefix}_scrape_password: required {required}")
    elif (
        CONTROL_CHARACTERS.search(scrape_password)
        or len(scrape_password.encode()) > MAX_SCRAPE_PASSWORD_BYTES
    ):
        errors.append(
            f"{prefix}_scrape_password: printable characters, at most "
            f"{MAX_SCRAPE_PASSWORD_BYTES} bytes (bcrypt reads no more)"
        )
    return errors
