"""The PostgreSQL exporter on the database host (Debian's prometheus-postgres-exporter).

It runs as the OS user ``prometheus`` (Debian's unit) and logs in over the server's unix socket
with peer authentication as the PostgreSQL role of the same name, a member of pg_monitor and
nothing else: no password exists for it anywhere. Scraped from another host, it serves /metrics
over TLS with basic auth, as the PgBouncer exporters do (plugin_utils/pgbouncer_exporter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_exporter import (
    connection_string,
    endpoint_errors,
    listen_address,
    systemd_environment_line,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    integer,
    integer_or_none,
)

# The PostgreSQL role, named as the OS user Debian's unit runs the exporter as (peer auth).
ROLE = "prometheus"
PREFIX = "pgbouncer_postgresql_exporter"


def exporter_errors(
    enabled: object,
    address: object,
    port: object,
    scrape_user: object,
    scrape_password: object,
    peer: object,
    postgresql_port: object,
    roles: Iterable[Mapping[str, Any]],
) -> list[str]:
    """Why the PostgreSQL exporter cannot run as asked; [] when it can (or is not asked for)."""
    if not isinstance(enabled, bool):
        return [f"{PREFIX}: {enabled!r} is not true or false"]
    if not enabled:
        return []
    errors: list[str] = []
    if not peer:
        errors.append(
            f"{PREFIX}: runs on the database host and logs in over its unix socket; with "
            "pgbouncer_postgresql_login_host set (no shell on the server) set it to false"
        )
    if ROLE in [str(role.get("name")) for role in roles if isinstance(role, Mapping)]:
        errors.append(
            f"{PREFIX}: the exporter logs in as the PostgreSQL role {ROLE!r} (peer auth, pg_monitor only), "
            f"which pgbouncer_roles also declares: rename that role"
        )
    errors += endpoint_errors(PREFIX, address, scrape_user, scrape_password)
    number = integer_or_none(port)
    if number is None or not 1024 <= number <= 65535:
        errors.append(f"{PREFIX}_port: {port!r} is not a port from 1024 to 65535")
    elif number == integer_or_none(postgresql_port):
        errors.append(f"{PREFIX}_port: {number} is PostgreSQL's port (pgbouncer_postgresql_login_port)")
    return errors


def environment_file(
    socket_dir: str, postgresql_port: object, address: object, port: object, web_config: str = ""
) -> str:
    """/etc/default/prometheus-postgres-exporter: where it logs in (no password: peer auth), where it
    listens, the stat_statements collector on, and the web config when it is network-facing."""
    arguments = [f"--web.listen-address={listen_address(address, port, 1)}", "--collector.stat_statements"]
    if web_config:
        arguments.append(f"--web.config.file={web_config}")
    return (
        "# Read by systemd for prometheus-postgres-exporter.service; no password (peer auth).\n"
        + systemd_environment_line(
            "DATA_SOURCE_NAME",
            connection_string(
                socket_dir, integer(postgresql_port, "pgbouncer_postgresql_login_port"), ROLE, "postgres"
            ),
        )
        + "\n"
        + systemd_environment_line("ARGS", " ".join(arguments))
        + "\n"
    )
