"""Filters of the monitoring role (plugin_utils/monitoring)."""

from __future__ import annotations

from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.monitoring import threshold_errors


class FilterModule:
    """Monitoring filters."""

    def filters(self) -> dict[str, Any]:
        return {"monitoring_threshold_errors": threshold_errors}
