"""Filters for the exporter of each PgBouncer process (plugin_utils/pgbouncer_exporter) and the
PostgreSQL exporter (plugin_utils/postgres_exporter)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import (
    pgbouncer_exporter,
    postgres_exporter,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import AddressError
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import integer


def exporter_environment_files(
    processes: Sequence[object],
    model_processes: Sequence[Mapping[str, Any]],
    directory: str,
    pooler_port: object,
    address: object,
    exporter_port: object,
    user: str,
    password: str,
) -> list[dict[str, str]]:
    """The environment file of each exporter in ``processes`` (process numbers; each one's settings
    are ``model_processes[number - 1]``) as text_files entries: ``directory``/<number>.env, root-only."""
    files = []
    for process in processes:
        try:
            number = integer(process, "process number")
            if not 1 <= number <= len(model_processes):
                raise ValueError(f"process {number} is not one of the {len(model_processes)} processes")
            content = pgbouncer_exporter.environment_file(
                str(model_processes[number - 1]["sections"]["pgbouncer"]["unix_socket_dir"]),
                integer(pooler_port, "pgbouncer_listen_port"),
                str(user),
                str(password),
                pgbouncer_exporter.listen_address(address, exporter_port, number),
            )
        except (KeyError, ValueError, AddressError) as exc:
            raise AnsibleFilterError(f"pgbouncer_exporter_user: {exc}") from None
        files.append({"path": f"{directory}/{number}.env", "content": content, "mode": "0600"})
    return files


def exporter_web_config(
    scrape_password: str, scrape_user: str, host: str, cert_file: str, key_file: str
) -> str:
    """The exporters' web config: TLS with the host's certificate, basic auth for ``scrape_user``."""
    password_hash = pgbouncer_exporter.bcrypt_hash(str(scrape_password), f"{host}\0{scrape_user}")
    return pgbouncer_exporter.web_config(str(scrape_user), password_hash, str(cert_file), str(key_file))


def exporter_network_facing(address: object) -> bool:
    """Whether exporters on ``address`` are scraped from other hosts (TLS and basic auth then)."""
    try:
        return pgbouncer_exporter.is_network_facing(address)
    except AddressError as exc:
        raise AnsibleFilterError(f"pgbouncer_exporter_address: {exc}") from None


class FilterModule:
    """Exporter filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "exporter_environment_files": exporter_environment_files,
            "exporter_errors": pgbouncer_exporter.exporter_errors,
            "exporter_network_facing": exporter_network_facing,
            "exporter_scrape_targets": pgbouncer_exporter.scrape_targets,
            "postgres_exporter_environment": postgres_exporter.environment_file,
            "postgres_exporter_errors": postgres_exporter.exporter_errors,
            "exporter_web_config": exporter_web_config,
        }
