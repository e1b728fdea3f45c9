"""Filters of the pgbouncer_lb role (module_utils/lb_config): the inputs checked, the model the
haproxy.cfg and keepalived.conf templates render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import lb_config


def lb_errors(inputs: Mapping[str, Any], hostvars: Mapping[str, Any], host: str) -> list[str]:
    """[] or every reason the lb host ``host`` cannot render its files, each naming its variable."""
    return lb_config.lb_errors(inputs, hostvars, str(host))


def lb_model(inputs: Mapping[str, Any], hostvars: Mapping[str, Any], host: str) -> dict[str, Any]:
    """The checked and derived values the templates render (fails with the errors, if any)."""
    try:
        return lb_config.lb_model(inputs, hostvars, str(host))
    except lb_config.LbConfigError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    """HAProxy and keepalived filters."""

    def filters(self) -> dict[str, object]:
        return {"lb_errors": lb_errors, "lb_model": lb_model}
