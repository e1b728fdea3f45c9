"""Filters of the pgbouncer_lb role (plugin_utils/lb_config): the inputs checked, the model the
haproxy.cfg and keepalived.conf templates render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils import lb_config
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_exporter import (
    bcrypt_hash,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import ConfigError

# HAProxy checks a basic-auth password with crypt(3) in its event loop, on every request, without
# a cache: a cost of 12 would stall that thread's connections for a quarter of a second per
# scrape (measured: 270 ms). Cost 5 takes 2 ms; the hash is in a file only root and haproxy read.
HAPROXY_BCRYPT_COST = 5


def lb_errors(inputs: Mapping[str, Any], hostvars: Mapping[str, Any], host: str) -> list[str]:
    """[] or every reason the lb host ``host`` cannot render its files, each naming its variable."""
    return lb_config.lb_errors(inputs, hostvars, str(host))


def lb_model(inputs: Mapping[str, Any], hostvars: Mapping[str, Any], host: str) -> dict[str, Any]:
    """The checked and derived values the templates render (fails with the errors, if any)."""
    try:
        model = lb_config.lb_model(inputs, hostvars, str(host))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None
    metrics = model["metrics"]
    if metrics:
        password = metrics.pop("scrape_password")
        metrics["password_hash"] = bcrypt_hash(
            password, f"{host}\0{metrics['scrape_user']}", cost=HAPROXY_BCRYPT_COST
        )
    return model


def lb_metrics_endpoints(inputs: Mapping[str, Any], hostvars: Mapping[str, Any], host: str) -> dict[str, Any]:
    """Where the monitoring hosts scrape this lb host ({} without pgbouncer_lb_metrics); no secret."""
    try:
        return lb_config.metrics_endpoints(lb_config.lb_model(inputs, hostvars, str(host)))
    except ConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """HAProxy and keepalived filters."""

    def filters(self) -> dict[str, object]:
        return {"lb_errors": lb_errors, "lb_model": lb_model, "lb_metrics_endpoints": lb_metrics_endpoints}
