"""What sets each PgBouncer process of a host apart: its unix socket directory, pidfile and
peer_id, and the [peers] every process holds (the host's own processes and, in a peered group,
the other hosts')."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.pgbouncer_role import role_default
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.plugin_utils.value_checks import (
    ConfigError,
    as_list,
    integer,
)

MAX_PROCESSES = 16
# Processes after the first put their unix socket (and every process its pidfile) here; the
# systemd template unit creates it as RuntimeDirectory=pgbouncer-%i.
PROCESS_RUN_DIR = "/run/pgbouncer-{process}"
# PgBouncer's documented upper bound for peer_id (its parser takes up to 65535).
MAX_PEER_ID = 16383


def process_settings(
    processes: object,
    socket_dir: object,
    port: object,
    process: int,
    peer_id_base: object = 0,
    remote_peers: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The [pgbouncer] keys and [peers] that set process ``process`` of ``processes`` apart.

    Every process listens on the same port with so_reuseport; each has its own unix socket
    directory (the first keeps pgbouncer_unix_socket_dir, so clients of the socket find it where
    they always did), pidfile and peer_id (``peer_id_base`` + its number), and all share one
    [peers] list, so a cancel request the kernel hands to another process is forwarded to the
    one that holds the query.

    ``remote_peers`` are the other hosts of a peered group ({"host", "port", "peer_id_base",
    "processes"}): their processes are reached at the host's address, where so_reuseport may hand
    the cancel to another of its processes, which forwards it once more over its unix socket
    (PgBouncer's cancel key allows three forwards).
    """
    count = integer(processes, "pgbouncer_processes")
    if not 1 <= count <= MAX_PROCESSES:
        raise ConfigError(f"pgbouncer_processes: {count} is not between 1 and {MAX_PROCESSES}")
    if not 1 <= process <= count:
        raise ConfigError(f"process {process} is not one of the {count} processes")
    base = integer(peer_id_base, "pgbouncer_peer_id_base")

    def socket_of(number: int) -> object:
        return socket_dir if number == 1 else PROCESS_RUN_DIR.format(process=number)

    owners: dict[int, str] = {}
    peers: dict[int, dict[str, object]] = {}

    def add_peers(
        first: int, how_many: int, owner: str, endpoint: Callable[[int], dict[str, object]]
    ) -> None:
        for number in range(1, how_many + 1):
            peer_id = first + number
            if not 1 <= peer_id <= MAX_PEER_ID:
                raise ConfigError(f"{owner}: peer_id {peer_id} is not between 1 and {MAX_PEER_ID}")
            if peer_id in owners:
                raise ConfigError(f"{owner}: peer_id {peer_id} is also {owners[peer_id]}'s")
            owners[peer_id] = owner
            peers[peer_id] = endpoint(number)

    add_peers(base, count, "pgbouncer_peer_id_base", lambda number: {"host": socket_of(number), "port": port})
    for index, remote in enumerate(remote_peers):
        where = f"pgbouncer_remote_peers[{index}]"
        if not isinstance(remote, Mapping):
            raise ConfigError(f"{where}: must be a mapping with host, port, peer_id_base and processes")
        add_peers(
            integer(remote.get("peer_id_base", 0), f"{where}.peer_id_base"),
            integer(remote.get("processes", 1), f"{where}.processes"),
            f"{where} ({remote.get('host')})",
            lambda _number, remote=remote: {"host": remote.get("host"), "port": remote.get("port", port)},
        )
    return {
        "unix_socket_dir": socket_of(process),
        "pidfile": PROCESS_RUN_DIR.format(process=process) + "/pgbouncer.pid",
        "so_reuseport": "1",
        "peer_id": str(base + process),
        "peers": dict(sorted(peers.items())),
    }


def process_settings_of(inputs: Mapping[str, Any], process: int) -> dict[str, Any]:
    """process_settings for process ``process`` of the role variables ``inputs``."""
    return process_settings(
        inputs.get("pgbouncer_processes", role_default("pgbouncer_processes")),
        inputs.get("pgbouncer_unix_socket_dir", role_default("pgbouncer_unix_socket_dir")),
        inputs.get("pgbouncer_listen_port", role_default("pgbouncer_listen_port")),
        process,
        inputs.get("pgbouncer_peer_id_base", 0),
        as_list(inputs.get("pgbouncer_remote_peers")),
    )
