"""Filters of the monitoring role (plugin_utils/monitoring)."""

from __future__ import annotations

from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import monitoring


class FilterModule:
    """Monitoring filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "monitoring_alertmanager_config": monitoring.alertmanager_config,
            "monitoring_duration_errors": monitoring.duration_errors,
            "monitoring_host_port": monitoring.host_port,
            "monitoring_listen_errors": monitoring.listen_errors,
            "monitoring_ports_taken": monitoring.ports_taken,
            "monitoring_prometheus_config": monitoring.prometheus_config,
            "monitoring_receiver_errors": monitoring.receiver_errors,
            "monitoring_scrape_configs": monitoring.scrape_configs,
            "monitoring_scrape_errors": monitoring.scrape_errors,
            "monitoring_scrape_passwords": monitoring.scrape_passwords,
            "monitoring_threshold_errors": monitoring.threshold_errors,
        }
