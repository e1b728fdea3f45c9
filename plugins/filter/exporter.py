"""Filters for the exporter of each PgBouncer process (plugin_utils/pgbouncer_exporter)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import pgbouncer_exporter


def exporter_environment(
    process: object,
    process_settings: Mapping[str, Any],
    pooler_port: object,
    exporter_port: object,
    user: str,
    password: str,
) -> str:
    """The environment file of the exporter of process ``process`` (its settings: ``process_settings``)."""
    try:
        return pgbouncer_exporter.environment_file(
            str(process_settings["unix_socket_dir"]),
            int(str(pooler_port)),
            str(user),
            str(password),
            pgbouncer_exporter.listen_address(exporter_port, int(str(process))),
        )
    except (KeyError, ValueError) as exc:
        raise AnsibleFilterError(f"pgbouncer_exporter_user: {exc}") from None


class FilterModule:
    """Exporter filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "exporter_environment": exporter_environment,
            "exporter_errors": pgbouncer_exporter.exporter_errors,
        }
