"""The reload-or-restart decision of the pgbouncer_process module: running SHOW CONFIG rows
against the values the file gives, with SHOW CONFIG's changeable column deciding."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules.pgbouncer_process import differences


def row(value: str, default: str = "", changeable: str = "yes") -> dict[str, str]:
    return {"value": value, "default": default, "changeable": changeable}


RUNNING = {
    "default_pool_size": row("30", "20"),
    "listen_backlog": row("128", "128", "no"),
    "unix_socket_mode": row("511", "0777", "no"),
    "verbose": row("0", ""),
    "conffile": row("/etc/pgbouncer/pgbouncer-1.ini", ""),
    "pool_mode": row("transaction", "session"),
}
EXPECTED = {"default_pool_size": "30", "pool_mode": "transaction"}


@pytest.mark.parametrize(
    ("running", "expected", "result"),
    [
        pytest.param(RUNNING, EXPECTED, ([], []), id="running as the file says: nothing to do"),
        pytest.param(
            RUNNING,
            {**EXPECTED, "default_pool_size": "31"},
            ([], ["default_pool_size"]),
            id="reloadable key differs",
        ),
        pytest.param(
            RUNNING,
            {**EXPECTED, "listen_backlog": "256"},
            (["listen_backlog"], []),
            id="restart-only key differs",
        ),
        pytest.param(
            {**RUNNING, "listen_backlog": row("256", "128", "no")},
            EXPECTED,
            (["listen_backlog"], []),
            id="a key the file no longer sets is not back at its default",
        ),
        pytest.param(
            {**RUNNING, "verbose": row("2", "")},
            EXPECTED,
            ([], ["verbose"]),
            id="an empty default column means 0 for an integer",
        ),
        pytest.param(
            {**RUNNING, "unix_socket_mode": row("448", "0777", "no")},
            EXPECTED,
            (["unix_socket_mode"], []),
            id="an octal default column is compared as the number it is",
        ),
        pytest.param(
            RUNNING,
            {**EXPECTED, "default_pool_size": "31", "listen_backlog": "256"},
            (["listen_backlog"], ["default_pool_size"]),
            id="both kinds at once",
        ),
    ],
)
def test_differences(running, expected, result):
    assert differences(running, expected, {"conffile"}) == result


def test_conffile_is_ignored_only_when_asked():
    assert differences(RUNNING, EXPECTED, set()) == ([], ["conffile"])
