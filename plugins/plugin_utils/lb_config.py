"""HAProxy and keepalived in front of the central PgBouncer hosts, as the pgbouncer_lb role
models them.

``lb_config`` checks every inventory value that reaches haproxy.cfg or keepalived.conf and
derives what the templates render (the router id, this host's priority, its VRRP peers, the
HAProxy servers). Nothing is escaped: every value is an integer, an IP address in the canonical
form addresses.py gives (no zone id, never the input), or text matched in full against a pattern
that holds no whitespace, quote, comment or brace character of either file's syntax, so no
inventory value can add a line or a directive to them. Every error names the variable (or the
host and its variable) it comes from and never holds the VRRP password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.addresses import (
    AddressError,
    parse_address,
    parse_interface,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import role_default
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.scrape_auth import (
    scrape_credential_errors,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.tls_files import TLS_FILES
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    collect,
    integer,
)

# Linux interface names: 1 to 15 bytes (IFNAMSIZ - 1), no whitespace, '/' or ':'. Narrowed to
# what real names use, so nothing of keepalived's syntax (quotes, '#', '!', '$', '@', '~', braces)
# can appear.
INTERFACE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}")
# HAProxy's proxy and server names: letters, digits, '-', '_', '.' and ':' (its invalid_char()).
SERVER_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# A system user name useradd takes without --badname.
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# VRRPv2 PASS authentication: keepalived keeps 8 bytes; none of its syntax characters.
AUTH_PASS = re.compile(r"[A-Za-z0-9._+=:,/-]{1,8}")
# An HAProxy time with its unit: a bare number would be read as milliseconds.
TIME = re.compile(r"([0-9]{1,10})(us|ms|s|m|h|d)")
TIME_UNITS_MS = {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
# HAProxy refuses a time above 2^31 - 1 ms ("timer overflow").
TIME_MAX_MS = 2**31 - 1

ROUTER_ID_RANGE = (1, 255)
# 255 belongs to the owner of the address (the VIP is nobody's own address here).
PRIORITY_RANGE = (1, 254)
PRIORITY_FIRST, PRIORITY_STEP = 200, 10
WILDCARDS = frozenset({"*", "0.0.0.0", "::"})

# name: (min ms, max ms)
TIMES: dict[str, tuple[int, int]] = {
    "pgbouncer_lb_timeout_connect": (10, 300_000),
    "pgbouncer_lb_timeout_client": (1000, TIME_MAX_MS),
    "pgbouncer_lb_timeout_server": (1000, TIME_MAX_MS),
    "pgbouncer_lb_timeout_tunnel": (1000, TIME_MAX_MS),
    "pgbouncer_lb_timeout_check": (10, 300_000),
    "pgbouncer_lb_check_interval": (100, 3_600_000),
}
# name: (min, max)
INTEGERS: dict[str, tuple[int, int]] = {
    "pgbouncer_lb_port": (1, 65535),
    "pgbouncer_lb_maxconn": (1, 1_000_000),
    "pgbouncer_lb_check_fall": (1, 100),
    "pgbouncer_lb_check_rise": (1, 100),
    "pgbouncer_lb_advert_int": (1, 255),
    "pgbouncer_lb_track_interval": (1, 3600),
    "pgbouncer_lb_track_fall": (1, 100),
    "pgbouncer_lb_track_rise": (1, 100),
    "pgbouncer_lb_metrics_port": (1, 65535),
}


def as_time(value: object, where: str, low_ms: int, high_ms: int) -> str:
    """An HAProxy time with its unit (``30m``, ``2s``, ``500ms``), within the bounds."""
    text = value if isinstance(value, str) else None
    match = TIME.fullmatch(text) if text is not None else None
    if match is None:
        raise ConfigError(
            f"{where}: {value!r} must be a number with a unit, us, ms, s, m, h or d "
            "(HAProxy reads a bare number as milliseconds)"
        )
    milliseconds = int(match.group(1)) * TIME_UNITS_MS[match.group(2)]
    if not low_ms <= milliseconds <= high_ms:
        raise ConfigError(f"{where}: {value} is out of range ({low_ms} ms to {high_ms} ms)")
    return str(text)


def as_bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false, got {value!r}")
    return value


def as_address(value: object, where: str, *, ipv4_only: bool = False) -> str:
    """One IP address (a host prefix, /32 or /128, is allowed and dropped: pgbouncer_address
    may carry one for pg_hba.conf)."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be an IP address, got {type(value).__name__}")
    try:
        interface = parse_interface(value)
    except AddressError as exc:
        raise ConfigError(f"{where}: {value!r} is not an IP address ({exc})") from None
    if interface.network.prefixlen != interface.max_prefixlen:
        raise ConfigError(f"{where}: {value!r} is a network, not one address")
    if ipv4_only and interface.version != 4:
        raise ConfigError(f"{where}: {value!r} is not an IPv4 address (the VIP and VRRP are IPv4 here)")
    address = interface.ip
    if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local:
        raise ConfigError(f"{where}: {value!r} cannot be a host's address (unspecified, loopback, ...)")
    return str(address)


def derived_router_id(virtual_ip: str) -> int:
    """The VRRP router id for ``virtual_ip``: its last octet (0 becomes 255), so two VIPs of one
    /24 never share an id, and anyone reading the inventory can tell the id."""
    return int(parse_address(virtual_ip).packed[-1]) or 255


def derived_priority(index: int) -> int:
    """The priority of the ``index``-th host of the lb group: 200, 190, 180, ..."""
    return PRIORITY_FIRST - PRIORITY_STEP * index


def host_address(host: str, variables: Mapping[str, Any]) -> str:
    """The address others reach ``host`` at: its ``pgbouncer_address``, else its default IPv4
    address from the gathered facts."""
    configured = variables.get("pgbouncer_address")
    if configured:
        return as_address(configured, f"{host}: pgbouncer_address")
    facts = variables.get("ansible_facts") or {}
    gathered = (facts.get("default_ipv4") or {}).get("address")
    if not gathered:
        raise ConfigError(
            f"{host}: no address; set pgbouncer_address on the host or gather its facts (default_ipv4)"
        )
    return as_address(gathered, f"{host}: default IPv4 address")


def _host_list(value: object, where: str, hostvars: Mapping[str, Any], minimum: int) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ConfigError(f"{where}: must be a list of inventory host names")
    hosts = list(value)
    if len(hosts) < minimum:
        group = "pgbouncer_lb" if where == "pgbouncer_lb_peer_hosts" else "pgbouncer_central"
        raise ConfigError(
            f"{where}: has {len(hosts)} host(s), needs at least {minimum} (the {group} group by default)"
        )
    for host in hosts:
        if not isinstance(host, str) or host not in hostvars:
            raise ConfigError(f"{where}: {host!r} is not a host of the inventory")
    duplicates = sorted({host for host in hosts if hosts.count(host) > 1})
    if duplicates:
        raise ConfigError(f"{where}: {', '.join(duplicates)} listed twice")
    return hosts


def _listen_addresses(variables: Mapping[str, Any]) -> list[str] | None:
    """The central host's pgbouncer_listen_addr when the inventory sets it (a list or the
    comma-separated form), addresses in canonical form to compare with the host's, else None.
    (Items that are no address are compared as given; the pgbouncer role refuses them by name.)"""
    value = variables.get("pgbouncer_listen_addr")
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return [_canonical_or_given(str(item).strip()) for item in items]


def _canonical_or_given(text: str) -> str:
    try:
        return str(parse_address(text))
    except AddressError:
        return text


def lb_config(
    inputs: Mapping[str, Any], hostvars: Mapping[str, Mapping[str, Any]], host: str
) -> tuple[list[str], dict[str, Any] | None]:
    """(errors, model) for the lb host ``host``: every problem at once, each by name; the model
    (what the templates render) only when there is none."""
    errors: list[str] = []

    virtual_ip = collect(
        errors, as_address, inputs.get("pgbouncer_lb_virtual_ip"), "pgbouncer_lb_virtual_ip", ipv4_only=True
    )
    peers = collect(
        errors, _host_list, inputs.get("pgbouncer_lb_peer_hosts"), "pgbouncer_lb_peer_hosts", hostvars, 2
    )
    backends = collect(
        errors,
        _host_list,
        inputs.get("pgbouncer_lb_backend_hosts"),
        "pgbouncer_lb_backend_hosts",
        hostvars,
        1,
    )
    if peers is not None and host not in peers:
        errors.append(f"pgbouncer_lb_peer_hosts: {host}, the host this runs on, is not in the list")

    peer_addresses: dict[str, str] = {}
    for peer in peers or []:
        address = collect(errors, host_address, peer, hostvars[peer])
        if address is not None and parse_address(address).version != 4:
            errors.append(f"{peer}: address {address} is not IPv4 (VRRP advertisements go over IPv4 here)")
        elif address is not None:
            peer_addresses[peer] = address
    seen: dict[str, str] = {}
    for peer, address in peer_addresses.items():
        if address in seen:
            errors.append(f"{peer}: address {address} is also the address of {seen[address]}")
        seen[address] = peer

    port = collect(
        errors, integer, inputs.get("pgbouncer_lb_port"), "pgbouncer_lb_port", *INTEGERS["pgbouncer_lb_port"]
    )
    servers = []
    for backend in backends or []:
        variables = hostvars[backend]
        where = f"{backend}: "
        if not SERVER_NAME.fullmatch(backend):
            errors.append(
                f"{where}the inventory name {backend!r} cannot be an HAProxy server name "
                "(letters, digits, '-', '_', '.', ':'; at most 64)"
            )
            continue
        address = collect(errors, host_address, backend, variables)
        backend_port = collect(
            errors,
            integer,
            variables.get("pgbouncer_listen_port", role_default("pgbouncer_listen_port")),
            f"{where}pgbouncer_listen_port",
            1,
            65535,
        )
        if address is None or backend_port is None:
            continue
        listen = _listen_addresses(variables)
        if listen is not None and address not in listen and not WILDCARDS & set(listen):
            errors.append(
                f"{where}pgbouncer_listen_addr {listen} does not hold {address}, the address HAProxy "
                "connects to (add it, or set pgbouncer_address to one it listens on)"
            )
        if listen is not None and backend in (peers or []) and backend_port == port:
            taken = sorted((WILDCARDS | {virtual_ip}) & set(listen))
            if taken:
                errors.append(
                    f"{where}pgbouncer_listen_addr {listen} holds {', '.join(taken)} on port {port}, where "
                    "HAProxy binds the VIP on this host too (list the host's own address instead)"
                )
        servers.append({"name": backend, "address": address, "port": backend_port})
    endpoints = [(server["address"], server["port"]) for server in servers]
    for server in servers:
        if endpoints.count((server["address"], server["port"])) > 1:
            errors.append(f"{server['name']}: {server['address']}:{server['port']} is also another backend's")

    if virtual_ip is not None:
        owners = [peer for peer, address in peer_addresses.items() if address == virtual_ip]
        owners += [server["name"] for server in servers if server["address"] == virtual_ip]
        if owners:
            errors.append(
                f"pgbouncer_lb_virtual_ip: {virtual_ip} is the address of {', '.join(sorted(set(owners)))}; "
                "the VIP must be an address no host owns"
            )

    interface = inputs.get("pgbouncer_lb_interface")
    if interface in (None, ""):
        errors.append(
            "pgbouncer_lb_interface: empty, and the host's facts name no default IPv4 route; set it "
            "to the interface the VIP goes on"
        )
    elif not isinstance(interface, str) or not INTERFACE.fullmatch(interface) or interface in (".", ".."):
        errors.append(
            f"pgbouncer_lb_interface: {interface!r} is not an interface name (1 to 15 letters, digits, "
            "'_', '.', '-'; no whitespace or quotes)"
        )
        interface = None

    router_id = collect(
        errors,
        integer,
        inputs.get("pgbouncer_lb_virtual_router_id"),
        "pgbouncer_lb_virtual_router_id",
        0,
        255,
    )
    if router_id == 0 and virtual_ip is not None:
        router_id = derived_router_id(virtual_ip)

    priority = collect(errors, integer, inputs.get("pgbouncer_lb_priority"), "pgbouncer_lb_priority", 0, 254)
    if priority == 0 and peers is not None and host in peers:
        index = peers.index(host)
        if derived_priority(index) < PRIORITY_RANGE[0]:
            errors.append(
                f"pgbouncer_lb_priority: {host} is host {index + 1} of pgbouncer_lb_peer_hosts, past "
                "the derived priorities (200, 190, ...); set it on the host"
            )
        else:
            priority = derived_priority(index)

    preempt = collect(errors, as_bool, inputs.get("pgbouncer_lb_preempt"), "pgbouncer_lb_preempt")
    numbers = {
        name: collect(errors, integer, inputs.get(name), name, low, high)
        for name, (low, high) in INTEGERS.items()
        if name != "pgbouncer_lb_port"
    }
    times = {
        name: collect(errors, as_time, inputs.get(name), name, low, high)
        for name, (low, high) in TIMES.items()
    }

    metrics = _metrics(errors, inputs, port, numbers["pgbouncer_lb_metrics_port"])

    auth_pass = inputs.get("pgbouncer_lb_auth_pass")
    if auth_pass is None:
        auth_pass = ""
    if not isinstance(auth_pass, str) or (auth_pass and not AUTH_PASS.fullmatch(auth_pass)):
        # Never the value: it is a secret.
        errors.append(
            "pgbouncer_lb_auth_pass: must be empty (no VRRP authentication) or 1 to 8 characters from "
            "letters, digits and . _ + = : , / - (keepalived keeps 8)"
        )
    script_user = inputs.get("pgbouncer_lb_script_user")
    if not isinstance(script_user, str) or not USER_NAME.fullmatch(script_user) or script_user == "root":
        errors.append(
            f"pgbouncer_lb_script_user: {script_user!r} must be a system user name other than root "
            "(lower-case letters, digits, '_', '-'; at most 32)"
        )

    if errors:
        return errors, None
    return [], {
        "virtual_ip": virtual_ip,
        "interface": interface,
        "virtual_router_id": router_id,
        "priority": priority,
        "preempt": preempt,
        "port": port,
        "maxconn": numbers["pgbouncer_lb_maxconn"],
        "timeouts": {
            name.removeprefix("pgbouncer_lb_timeout_"): times[name] for name in TIMES if "timeout" in name
        },
        "check": {
            "interval": times["pgbouncer_lb_check_interval"],
            "fall": numbers["pgbouncer_lb_check_fall"],
            "rise": numbers["pgbouncer_lb_check_rise"],
        },
        "servers": [
            {**server, "endpoint": endpoint(server["address"], server["port"])} for server in servers
        ],
        "src_ip": peer_addresses[host],
        "unicast_peers": [address for peer, address in peer_addresses.items() if peer != host],
        "advert_int": numbers["pgbouncer_lb_advert_int"],
        "track": {
            "interval": numbers["pgbouncer_lb_track_interval"],
            "fall": numbers["pgbouncer_lb_track_fall"],
            "rise": numbers["pgbouncer_lb_track_rise"],
        },
        "auth_pass": auth_pass,
        "script_user": script_user,
        "metrics": metrics,
    }


def _metrics(errors: list[str], inputs: Mapping[str, Any], port: int | None, metrics_port: int | None) -> Any:
    """HAProxy's /metrics frontend when pgbouncer_lb_metrics is on: {"port", "scrape_user",
    "scrape_password"}, else None. It is scraped from the monitoring hosts, so always over TLS
    with basic auth: the password is required."""
    enabled = collect(errors, as_bool, inputs.get("pgbouncer_lb_metrics"), "pgbouncer_lb_metrics")
    if not enabled:
        return None
    if metrics_port is not None and metrics_port == port:
        errors.append(f"pgbouncer_lb_metrics_port: {metrics_port} is pgbouncer_lb_port too")
    user = inputs.get("pgbouncer_lb_metrics_scrape_user")
    password = inputs.get("pgbouncer_lb_metrics_scrape_password")
    errors += scrape_credential_errors(
        "pgbouncer_lb_metrics",
        user,
        password,
        "with pgbouncer_lb_metrics (Prometheus scrapes HAProxy over TLS with basic auth)",
    )
    return {
        "port": metrics_port,
        "scrape_user": user,
        "scrape_password": password,
        "cert_file": TLS_FILES["cert"],
        "key_file": TLS_FILES["key"],
    }


def metrics_endpoints(model: Mapping[str, Any]) -> dict[str, Any]:
    """What the monitoring hosts scrape on this lb host (no secret): its /metrics at its own
    address, and /vip at the VIP, which answers only where the VIP is; {} without metrics."""
    metrics = model.get("metrics")
    if not metrics:
        return {}
    return {
        "tls": True,
        "scrape_user": metrics["scrape_user"],
        "targets": [{"process": "", "target": endpoint(model["src_ip"], metrics["port"])}],
        "vip_target": endpoint(model["virtual_ip"], metrics["port"]),
        # The names its certificate must carry: Prometheus verifies both.
        "names": [model["src_ip"], model["virtual_ip"]],
    }


def endpoint(address: str, port: int) -> str:
    """``address:port`` as HAProxy reads it (an IPv6 address in brackets)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def lb_errors(inputs: Mapping[str, Any], hostvars: Mapping[str, Mapping[str, Any]], host: str) -> list[str]:
    """Every problem with the inputs, each naming its variable; [] when they can be rendered."""
    return lb_config(inputs, hostvars, host)[0]


def lb_model(
    inputs: Mapping[str, Any], hostvars: Mapping[str, Mapping[str, Any]], host: str
) -> dict[str, Any]:
    """What the templates render; raises ConfigError with every problem when there is one."""
    errors, model = lb_config(inputs, hostvars, host)
    if model is None:
        raise ConfigError("; ".join(errors))
    return model
