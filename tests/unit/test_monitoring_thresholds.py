"""The monitoring role's thresholds: numbers, shares and durations only (plugin_utils/monitoring)."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.monitoring import threshold_errors


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("pgbouncer_monitoring_clients_waiting", 5, None),
        ("pgbouncer_monitoring_clients_waiting", "20", None),
        ("pgbouncer_monitoring_clients_waiting", 0, None),
        ("pgbouncer_monitoring_clients_waiting", -1, "is not a whole number"),
        ("pgbouncer_monitoring_clients_waiting", "5 or vector(1)", "is not a whole number"),
        ("pgbouncer_monitoring_clients_waiting", "5\n  - alert: X", "is not a whole number"),
        ("pgbouncer_monitoring_clients_waiting", 2.5, "is not a whole number"),
        ("pgbouncer_monitoring_clients_waiting", True, "is not a whole number"),
        ("pgbouncer_monitoring_pool_full_for", "1m", None),
        ("pgbouncer_monitoring_pool_full_for", "90s", None),
        ("pgbouncer_monitoring_pool_full_for", "500ms", None),
        ("pgbouncer_monitoring_pool_full_for", "0m", "is not a Prometheus duration"),
        ("pgbouncer_monitoring_pool_full_for", "1m30s", "is not a Prometheus duration"),
        ("pgbouncer_monitoring_pool_full_for", "1m\nlabels: {}", "is not a Prometheus duration"),
        ("pgbouncer_monitoring_pool_full_for", 60, "is not a Prometheus duration"),
        ("pgbouncer_monitoring_client_connections_ratio", 0.8, None),
        ("pgbouncer_monitoring_client_connections_ratio", "1", None),
        ("pgbouncer_monitoring_client_connections_ratio", 0, "is not a share"),
        ("pgbouncer_monitoring_client_connections_ratio", 80, "is not a share"),
        ("pgbouncer_monitoring_client_connections_ratio", "0.8 + 1", "is not a share"),
        ("pgbouncer_monitoring_client_connections_ratio", "nan", "is not a share"),
        ("pgbouncer_monitoring_client_connections_ratio", False, "is not a share"),
    ],
)
def test_threshold_errors(name: str, value: object, message: str | None) -> None:
    errors = threshold_errors({name: value})
    if message is None:
        assert errors == []
    else:
        assert len(errors) == 1
        assert errors[0].startswith(f"{name}: ")
        assert message in errors[0]
