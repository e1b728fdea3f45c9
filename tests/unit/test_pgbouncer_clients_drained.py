"""Waiting for a retired login's clients to leave (modules/pgbouncer_clients_drained): the wait ends
when every process has none, and a timeout names the role, the process and how many are left."""

from __future__ import annotations

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.module_utils.pgbouncer_console import (
    ConsoleError,
)
from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules import (
    pgbouncer_clients_drained as module,
)

PARAMS = {
    "socket_dirs": ["/run/p1", "/run/p2"],
    "port": 6432,
    "users": ["app", "app"],
    "service_user": "postgres",
}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.mark.parametrize(
    ("reads", "timeout", "waited"),
    [
        ([{"/run/p1": {"app": 0}, "/run/p2": {"app": 0}}], 0, 0.0),
        (
            [{"/run/p1": {"app": 2}, "/run/p2": {"app": 0}}, {"/run/p1": {"app": 0}, "/run/p2": {"app": 0}}],
            10,
            1.0,
        ),
    ],
)
def test_the_wait_ends_when_no_process_has_a_client_of_the_role(monkeypatch, reads, timeout, waited):
    clock, answers = Clock(), iter(reads)
    seen = []

    def fake(socket_dirs, port, users, service_user):
        seen.append(users)
        return next(answers)

    monkeypatch.setattr(module, "clients_by_process", fake)
    result = module.wait_drained({**PARAMS, "timeout": timeout}, clock=clock, sleep=clock.sleep)
    assert result == {"clients": {"app": 0}, "waited": waited}
    assert seen[0] == ["app"]  # each role once


def test_a_timeout_names_the_role_the_process_and_the_count(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(
        module, "clients_by_process", lambda *args: {"/run/p1": {"app": 0}, "/run/p2": {"app": 3}}
    )
    with pytest.raises(ConsoleError, match=r"after 5 s clients still log in as: 'app' \(3 on /run/p2\)"):
        module.wait_drained({**PARAMS, "timeout": 5}, clock=clock, sleep=clock.sleep)
