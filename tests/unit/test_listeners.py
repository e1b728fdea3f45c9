"""Finding a process's listening sockets from /proc/net/tcp{,6} (module_utils/listeners.py); the
closing itself runs on the hosts (molecule verify rolling_restart_under_load.yml)."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.filter.pgbouncer import pid_changes
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils import listeners

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
TCP = HEADER + (
    # 127.0.0.1:6432 listening (0x1920 = 6432), twice (so_reuseport)
    "   0: 0100007F:1920 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 111 1 0\n"
    "   1: 0100007F:1920 00000000:0000 0A 00000000:00000000 00:00000000 00000000   102        0 222 1 0\n"
    # an established connection to 6432: not a listener
    "   2: 0100007F:1920 0100007F:D431 01 00000000:00000000 00:00000000 00000000   102        0 333 1 0\n"
    # PostgreSQL on 5432 (0x1538)
    "   3: 00000000:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000   104        0 444 1 0\n"
)
TCP6 = HEADER + (
    "   0: 00000000000000000000000001000000:1920 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000   102        0 555 1 0\n"
)


@pytest.mark.parametrize(
    ("port", "expected"), [(6432, {"111", "222", "555"}), (5432, {"444"}), (7000, set())]
)
def test_listening_inodes(tmp_path, port, expected):
    (tmp_path / "tcp").write_text(TCP)
    (tmp_path / "tcp6").write_text(TCP6)
    assert listeners.listening_inodes(port, (str(tmp_path / "tcp"), str(tmp_path / "tcp6"))) == expected


def test_listening_inodes_without_ipv6(tmp_path):
    (tmp_path / "tcp").write_text(TCP)
    assert listeners.listening_inodes(6432, (str(tmp_path / "tcp"), str(tmp_path / "missing"))) == {
        "111",
        "222",
    }


@pytest.mark.parametrize(
    ("result", "line"),
    [
        (
            {"__pgbouncer_process": 1, "pid_before": 10, "pid_after": 20, "listeners_closed": 1},
            "1: 10 -> 20 (1 listener(s) closed first)",
        ),
        ({"__pgbouncer_process": 2, "pid_before": 11, "pid_after": 11, "listeners_closed": 0}, "2: 11 -> 11"),
        (
            {"__pgbouncer_process": 3, "pid_before": 12, "pid_after": 30, "listeners_closed": -1},
            "3: 12 -> 30",
        ),
    ],
)
def test_pid_changes_say_when_listeners_were_closed_first(result, line):
    assert pid_changes({"results": [result, {"skipped": True}]}) == [line]
