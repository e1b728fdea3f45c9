"""The haproxy_server module without HAProxy: `show stat` parsing (lines as HAProxy 3.0.11 of
Debian 13 prints them), the name check that keeps a value from adding a runtime API command, the
drain/ready decisions, the one-command-per-connection socket client against a stand-in socket,
and the module's flow (check mode, refusal, waiting) against a stand-in HAProxy.

The real HAProxy is driven by tests/integration/test_haproxy_server.py."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.pgbouncer_toolkit.pgbouncer.plugins.modules import haproxy_server as hs

# `show stat` of HAProxy 3.0.11 (Debian 13): a frontend, a leastconn backend with servers a
# (UP), b (DRAIN 1/2, just moved from maint to drain), c (DOWN, nothing listening) and d (no
# check), and the backend's own row. Copied from the runtime API, unchanged.
HEADER = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,srid,sess_other,h1sess,h2sess,h3sess,req_other,h1req,h2req,h3req,proto,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h3_data,h3_headers,h3_cancel_push,h3_push_promise,h3_max_push_id,h3_goaway,h3_settings,h3_no_error,h3_general_protocol_error,h3_internal_error,h3_stream_creation_error,h3_closed_critical_stream,h3_frame_unexpected,h3_frame_error,h3_excessive_load,h3_id_error,h3_settings_error,h3_missing_settings,h3_request_rejected,h3_request_cancelled,h3_request_incomplete,h3_message_error,h3_connect_error,h3_version_fallback,pack_decompression_failed,qpack_encoder_stream_error,qpack_decoder_stream_error,quic_rxbuf_full,quic_dropped_pkt,quic_dropped_pkt_bufoverrun,quic_dropped_parsing_pkt,quic_socket_full,quic_sendto_err,quic_sendto_err_unknwn,quic_sent_pkt,quic_lost_pkt,quic_too_short_dgram,quic_retry_sent,quic_retry_validated,quic_retry_error,quic_half_open_conn,quic_hdshk_fail,quic_stless_rst_sent,quic_conn_migration_done,quic_transp_err_no_error,quic_transp_err_internal_error,quic_transp_err_connection_refused,quic_transp_err_flow_control_error,quic_transp_err_stream_limit_error,quic_transp_err_stream_state_error,quic_transp_err_final_size_error,quic_transp_err_frame_encoding_error,quic_transp_err_transport_parameter_error,quic_transp_err_connection_id_limit,quic_transp_err_protocol_violation_error,quic_transp_err_invalid_token,quic_transp_err_application_error,quic_transp_err_crypto_buffer_exceeded,quic_transp_err_key_update_error,quic_transp_err_aead_limit_reached,quic_transp_err_no_viable_path,quic_transp_err_crypto_error,quic_transp_err_unknown_error,quic_data_blocked,quic_stream_data_blocked,quic_streams_blocked_bidi,quic_streams_blocked_uni,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"
FRONTEND_ROW = "pgbouncer_in,FRONTEND,,,0,0,9984,0,0,0,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,0,,,,,,,,,,,0,0,0,,,0,0,0,0,,,,,,,,,,,,,,,,,,,,,tcp,,0,0,0,,0,0,0,,,,,,,,,,,0,,,,,,,,,,0,0,0,0,0,0,0,0,,-,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
SERVER_ROWS = {
    "a": "pgbouncer,a,0,0,0,0,,0,0,0,,0,,0,0,0,0,UP,1,1,0,0,0,1,0,,1,3,1,,0,,2,0,,0,L4OK,,0,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer4 check passed,,2,2,3,,,,127.0.0.1:7001,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,0,,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
    "b": "pgbouncer,b,0,0,0,0,,0,0,0,,0,,0,0,0,0,DRAIN 1/2,1,1,0,0,1,0,0,,1,3,2,,0,,2,0,,0,L4OK,,0,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,Layer4 check passed,,2,2,2,,,,127.0.0.1:7002,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,0,,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
    "c": "pgbouncer,c,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,1,1,,1,3,3,,0,,2,0,,0,L4CON,,0,,,,,,,,,,,0,0,,,,,-1,Connection refused,,0,0,0,0,,,,Layer4 connection problem,,2,2,0,,,,127.0.0.1:7003,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,1,1,,,,0,,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
    "d": "pgbouncer,d,0,0,0,0,,0,0,0,,0,,0,0,0,0,no check,1,1,0,,,1,,,1,3,4,,0,,2,0,,0,,,,,,,,,,,,,,0,0,,,,,-1,,,0,0,0,0,,,,,,,,,,,,127.0.0.1:7001,,tcp,,,,,,,,0,0,0,,,0,,0,0,0,0,0,0,0,0,0,1,,,,0,,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,",
}
BACKEND_ROW = "pgbouncer,BACKEND,0,0,0,0,999,0,0,0,0,0,,0,0,0,0,UP,2,2,0,,0,1,0,,1,3,0,,0,,1,0,,0,,,,,,,,,,,,,,0,0,0,0,0,0,-1,,,0,0,0,0,,,,,,,,,,,,,,tcp,leastconn,,,,,,,0,0,0,,,,,0,0,0,0,0,,,,,2,0,0,0,,,,,,,,,,,-,0,0,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
REAL_SHOW_STAT = "\n".join([HEADER, FRONTEND_ROW, *SERVER_ROWS.values(), BACKEND_ROW]) + "\n\n"
COLUMNS = HEADER[2:].split(",")


def server_line(name: str, status: str, scur: int = 0, backend: str = "pgbouncer") -> str:
    """A real server line of the capture above with its name, status and scur replaced."""
    values = SERVER_ROWS["a"].split(",")
    for column, value in (("pxname", backend), ("svname", name), ("status", status), ("scur", str(scur))):
        values[COLUMNS.index(column)] = value
    return ",".join(values)


def show_stat(servers: dict[str, tuple[str, int]], extra: list[str] | None = None) -> str:
    """`show stat` text with the frontend, ``servers`` ({name: (status, scur)}) and the backend."""
    lines = [server_line(name, status, scur) for name, (status, scur) in servers.items()]
    return "\n".join([HEADER, FRONTEND_ROW, *lines, *(extra or []), BACKEND_ROW]) + "\n\n"


# ------------------------------------------------------------------------------------------------
# parse_stat


def test_parse_stat_reads_every_row_of_real_output():
    rows = hs.parse_stat(REAL_SHOW_STAT)
    assert [(row["pxname"], row["svname"]) for row in rows] == [
        ("pgbouncer_in", "FRONTEND"),
        ("pgbouncer", "a"),
        ("pgbouncer", "b"),
        ("pgbouncer", "c"),
        ("pgbouncer", "d"),
        ("pgbouncer", "BACKEND"),
    ]
    by_name = {row["svname"]: row for row in rows}
    assert {name: by_name[name]["status"] for name in "abcd"} == {
        "a": "UP",
        "b": "DRAIN 1/2",
        "c": "DOWN",
        "d": "no check",
    }
    assert by_name["c"]["last_chk"] == "Connection refused"
    assert by_name["a"]["addr"] == "127.0.0.1:7001"
    assert by_name["a"]["type"] == "2" and by_name["BACKEND"]["type"] == "1"
    assert all("" not in row and len(row) == len(COLUMNS) - 1 for row in rows)  # trailing comma


def test_parse_stat_keeps_columns_aligned_across_a_quoted_comma():
    values = server_line("e", "DOWN", 2).split(",")
    values[COLUMNS.index("last_chk")] = '"Connection refused, at step 1 of tcp-check"'
    row = hs.parse_stat(show_stat({}, [",".join(values)]))[1]
    assert row["last_chk"] == "Connection refused, at step 1 of tcp-check"
    assert (row["svname"], row["status"], row["scur"], row["addr"]) == ("e", "DOWN", "2", "127.0.0.1:7001")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("", id="nothing"),
        pytest.param("Permission denied\n\n", id="permission denied"),
        pytest.param("Unknown command: 'show sta'\n\n", id="unknown command"),
        pytest.param("pxname,svname,status\npgbouncer,a,UP\n", id="no header marker"),
    ],
)
def test_parse_stat_refuses_what_is_not_show_stat(answer):
    with pytest.raises(hs.RuntimeApiError, match="CSV header"):
        hs.parse_stat(answer)


# ------------------------------------------------------------------------------------------------
# Names


@pytest.mark.parametrize(
    "value",
    ["a", "pgb1", "PgB_1", "pgb-1.example.org", "10.0.0.21:6432", "x" * 64],
)
def test_haproxy_names_are_accepted(value):
    assert hs.name_error("server", value) is None
    assert hs.set_state_command("pgbouncer", value, "drain") == f"set server pgbouncer/{value} state drain"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("x" * 65, id="65 characters"),
        pytest.param("a\nset server pgbouncer/b state maint", id="newline"),
        pytest.param("a\r", id="carriage return"),
        pytest.param("a b", id="space"),
        pytest.param("a;show info", id="semicolon"),
        pytest.param("a/b", id="slash"),
        pytest.param("a\tb", id="tab"),
        pytest.param("é", id="non-ascii"),
        pytest.param("a\x00", id="nul"),
        pytest.param(None, id="not a string"),
    ],
)
@pytest.mark.parametrize("parameter", ["backend", "server"])
def test_other_names_are_refused_naming_the_parameter(parameter, value):
    error = hs.name_error(parameter, value)
    assert error is not None and error.startswith(f"{parameter}: ")
    names = {"backend": "pgbouncer", "server": "a", parameter: value}
    with pytest.raises(ValueError, match=f"^{parameter}: "):
        hs.set_state_command(names["backend"], names["server"], "drain")


@pytest.mark.parametrize("state", ["drain", "ready"])
def test_set_state_command_takes_drain_and_ready(state):
    assert hs.set_state_command("pgbouncer", "a", state) == f"set server pgbouncer/a state {state}"


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("maint", id="maint (would cut the sessions)"),
        pytest.param("MAINT", id="a status, not a state"),
        pytest.param("DRAIN", id="upper case"),
        pytest.param("", id="empty"),
        pytest.param("drain\nshutdown sessions server pgbouncer/a", id="a second command"),
        pytest.param("ready;show info", id="semicolon"),
    ],
)
def test_set_state_command_refuses_any_other_state(state):
    with pytest.raises(ValueError) as raised:
        hs.set_state_command("pgbouncer", "a", state)
    assert str(raised.value) == f"state: {state!r} is neither drain nor ready"


@pytest.mark.parametrize("command", ["show stat\nshow info", "show stat;show info", "show stat\r"])
def test_runtime_command_sends_one_command_only(command):
    with pytest.raises(ValueError, match="more than one command"):
        hs.runtime_command("/nonexistent/admin.sock", command)


# ------------------------------------------------------------------------------------------------
# Decisions


def test_find_server_takes_the_server_row_of_the_backend():
    rows = hs.parse_stat(REAL_SHOW_STAT)
    assert hs.find_server(rows, "pgbouncer", "c")["status"] == "DOWN"


@pytest.mark.parametrize(
    ("backend", "server", "message"),
    [
        pytest.param("pgbouncer2", "a", "backend 'pgbouncer2' is not in", id="no such backend"),
        pytest.param("pgbouncer", "e", "has no server 'e' (its servers: a, b, c, d)", id="no such server"),
        pytest.param("pgbouncer", "BACKEND", "has no server 'BACKEND'", id="the backend's own row"),
        pytest.param("pgbouncer_in", "FRONTEND", "has no server 'FRONTEND'", id="a frontend"),
    ],
)
def test_find_server_names_what_is_missing(backend, server, message):
    with pytest.raises(LookupError) as raised:
        hs.find_server(hs.parse_stat(REAL_SHOW_STAT), backend, server)
    assert message in str(raised.value)


STATUSES = [
    # status, needs drain, needs ready, drained, in maintenance, serving, confirmed up
    ("UP", True, False, False, False, True, True),
    # one failed check from DOWN, or just out of maintenance and not checked yet: ready is sent
    ("UP 1/2", True, True, False, False, True, False),
    # a drained server whose check failed (its PgBouncer restarting) shows DOWN, not DRAIN
    ("DOWN", True, True, False, False, False, False),
    ("DOWN 1/2", True, True, False, False, False, False),
    ("no check", True, False, False, False, True, True),
    ("NOLB", True, True, False, False, False, False),
    ("DRAIN", False, True, True, False, False, False),
    ("DRAIN 1/2", False, True, True, False, False, False),
    ("DRAIN (agent)", False, True, True, False, False, False),
    ("MAINT", True, True, False, True, False, False),
    ("MAINT (via pgbouncer/a)", True, True, False, True, False, False),
    ("MAINT (resolution)", True, True, False, True, False, False),
    ("", True, True, False, False, False, False),
]


@pytest.mark.parametrize(
    ("status", "drain", "ready", "drained", "maintenance", "serving", "confirmed"), STATUSES
)
def test_status_decisions(status, drain, ready, drained, maintenance, serving, confirmed):
    assert hs.needs_command("drain", status) is drain
    assert hs.needs_command("ready", status) is ready
    assert hs.is_drained(status) is drained
    assert hs.in_maintenance(status) is maintenance
    assert hs.is_serving(status) is serving
    assert hs.is_confirmed_up(status) is confirmed


@pytest.mark.parametrize(
    ("servers", "refused"),
    [
        pytest.param({"a": "UP", "b": "UP"}, False, id="the other is up"),
        pytest.param({"a": "UP", "b": "UP 1/2"}, False, id="the other is up, one check failed"),
        pytest.param({"a": "UP", "b": "no check"}, False, id="the other has no check"),
        pytest.param({"a": "UP", "b": "MAINT", "c": "UP"}, False, id="a third is up"),
        pytest.param({"a": "UP", "b": "DRAIN", "c": "UP 1/2"}, False, id="a third is up, one check failed"),
        pytest.param({"a": "UP", "b": "MAINT"}, True, id="the other is in maintenance"),
        pytest.param({"a": "UP", "b": "DRAIN"}, True, id="the other is drained"),
        pytest.param({"a": "UP", "b": "DRAIN 1/2"}, True, id="the other is drained, one check failed"),
        pytest.param({"a": "UP", "b": "DOWN", "c": "DRAIN"}, True, id="the others are down or drained"),
        pytest.param({"a": "UP", "b": "DOWN 1/2"}, True, id="the other is coming up"),
        pytest.param({"a": "UP"}, True, id="alone in its backend"),
        pytest.param({"a": "DOWN", "b": "MAINT"}, True, id="itself down"),
    ],
)
def test_drain_refusal_needs_another_server_up(servers, refused):
    other_backend = server_line("z", "UP", backend="other")
    rows = hs.parse_stat(show_stat({name: (status, 0) for name, status in servers.items()}, [other_backend]))
    refusal = hs.drain_refusal(rows, "pgbouncer", "a")
    if refused:
        assert refusal is not None
        assert refusal.startswith("draining a would leave backend pgbouncer with no server up")
        for name, status in servers.items():
            if name != "a":
                assert f"{name} {status}" in refusal
    else:
        assert refusal is None


@pytest.mark.parametrize(("scur", "sessions"), [("0", 0), ("17", 17), ("", 0)])
def test_sessions_reads_scur(scur, sessions):
    assert hs.sessions({"scur": scur}) == sessions


def test_sessions_refuses_a_non_number():
    with pytest.raises(hs.RuntimeApiError, match="scur"):
        hs.sessions({"scur": "many"})


# ------------------------------------------------------------------------------------------------
# The socket client and the module's flow, against a stand-in runtime API


class FakeHAProxy:
    """A unix socket answering one command per connection as HAProxy's runtime API does.

    ``servers`` is {name: [status, scur]}; a status or scur given as a list is a sequence shown
    one `show stat` after the other (its last value stays).
    """

    def __init__(self, path: str, servers: dict[str, list[Any]], after_ready: Any = "UP"):
        self.path = path
        self.servers = servers
        self.after_ready = after_ready
        self.commands: list[str] = []
        self.stat_fails_after_set = False
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    @staticmethod
    def current(value: Any) -> Any:
        if isinstance(value, list):
            return value.pop(0) if len(value) > 1 else value[0]
        return value

    def answer(self, command: str) -> str:
        self.commands.append(command)
        if command == "show stat" and self.set_commands() and self.stat_fails_after_set:
            return "Permission denied\n\n"
        if command == "show stat":
            shown = {
                name: (self.current(status), self.current(scur))
                for name, (status, scur) in self.servers.items()
            }
            return show_stat(shown)
        words = command.split()
        if len(words) == 5 and words[:2] == ["set", "server"] and words[3] == "state":
            name = words[2].split("/", 1)[1]
            if name not in self.servers:
                return "No such server.\n\n"
            statuses = {"drain": "DRAIN", "maint": "MAINT", "ready": self.after_ready}
            if words[4] not in statuses:
                return "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"
            self.servers[name][0] = statuses[words[4]]
            return "\n"
        return "Unknown command.\n\n"

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(self.answer(data.decode().rstrip("\n")).encode())

    def close(self) -> None:
        self.listener.close()

    def set_commands(self) -> list[str]:
        return [command for command in self.commands if command.startswith("set ")]


@pytest.fixture
def socket_dir() -> Iterator[str]:
    """A short directory for unix sockets (their paths are limited to 107 bytes)."""
    path = tempfile.mkdtemp(prefix="pgbt-hx-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def haproxy(socket_dir: str) -> Iterator[Any]:
    made: list[FakeHAProxy] = []

    def make(servers: dict[str, list[Any]], after_ready: Any = "UP") -> FakeHAProxy:
        fake = FakeHAProxy(os.path.join(socket_dir, f"admin{len(made)}.sock"), servers, after_ready)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.close()


def test_runtime_command_uses_one_connection_per_command(haproxy):
    fake = haproxy({"a": ["UP", 0]})
    assert hs.runtime_command(fake.path, "set server pgbouncer/a state drain") == "\n"
    assert hs.parse_stat(hs.runtime_command(fake.path, "show stat"))[1]["status"] == "DRAIN"
    assert fake.commands == ["set server pgbouncer/a state drain", "show stat"]


def test_runtime_command_says_when_the_socket_cannot_be_reached(socket_dir):
    with pytest.raises(hs.RuntimeApiError, match=r"cannot reach HAProxy's runtime API at .*/missing\.sock"):
        hs.runtime_command(os.path.join(socket_dir, "missing.sock"), "show stat")


def test_runtime_command_times_out_on_a_silent_socket(socket_dir):
    path = os.path.join(socket_dir, "silent.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)  # accepted by the kernel, never answered
        with pytest.raises(hs.RuntimeApiError, match=r"did not answer `show stat` in 0\.3s"):
            hs.runtime_command(path, "show stat", timeout=0.3)


class Failed(Exception):
    pass


class FakeModule:
    """What run() uses of AnsibleModule."""

    def __init__(self, params: dict[str, Any], check_mode: bool = False):
        self.params = {
            "socket": "/run/haproxy/admin.sock",
            "backend": "pgbouncer",
            "wait_timeout": 60,
            "require_other_up": True,
            **params,
        }
        self.check_mode = check_mode
        self.warnings: list[str] = []

    def warn(self, warning: str) -> None:
        self.warnings.append(warning)

    def fail_json(self, **result: Any) -> None:
        raise Failed(result)


def run(fake: FakeHAProxy, check_mode: bool = False, **params: Any) -> tuple[dict[str, Any], FakeModule]:
    module = FakeModule({"socket": fake.path, **params}, check_mode)
    return hs.run(module), module  # type: ignore[arg-type]


def failure(fake: FakeHAProxy, check_mode: bool = False, **params: Any) -> dict[str, Any]:
    module = FakeModule({"socket": fake.path, **params}, check_mode)
    with pytest.raises(Failed) as raised:
        hs.run(module)  # type: ignore[arg-type]
    return raised.value.args[0]


@pytest.mark.parametrize("before", ["UP", "UP 1/2", "no check", "DOWN", "MAINT"])
def test_drain_sends_one_command_and_waits_for_the_sessions(haproxy, before):
    fake = haproxy({"a": [before, [3, 3, 1, 0]], "b": ["UP", 2]})
    result, module = run(fake, server="a", state="drain", wait_timeout=10)
    assert fake.set_commands() == ["set server pgbouncer/a state drain"]
    assert result["changed"] is True
    assert (result["status_before"], result["status_after"], result["sessions_left"]) == (before, "DRAIN", 0)
    assert 0.3 <= result["waited"] < 5  # three polls 0.2s apart
    assert module.warnings == []
    assert fake.servers["b"][0] == "UP"  # the other server is not touched


def test_drain_warns_but_does_not_fail_when_sessions_stay(haproxy):
    fake = haproxy({"a": ["UP", 2], "b": ["UP", 0]})
    result, module = run(fake, server="a", state="drain", wait_timeout=1)
    assert result["changed"] is True
    assert (result["status_after"], result["sessions_left"]) == ("DRAIN", 2)
    assert 1 <= result["waited"] < 3
    assert module.warnings == ["pgbouncer/a is drained but still has 2 session(s) after 1s"]


@pytest.mark.parametrize("before", ["DRAIN", "DRAIN 1/2", "DRAIN (agent)"])
def test_drain_of_a_drained_server_changes_nothing(haproxy, before):
    fake = haproxy({"a": [before, 0], "b": ["DOWN", 0]})  # not refused: nothing would change
    result, module = run(fake, server="a", state="drain")
    assert result["changed"] is False and fake.set_commands() == []
    assert (result["status_before"], result["status_after"], result["sessions_left"]) == (before, before, 0)
    assert module.warnings == []


@pytest.mark.parametrize("other", ["MAINT", "DRAIN", "DRAIN 1/2", "DOWN", "DOWN 1/2", "NOLB"])
def test_drain_is_refused_before_anything_is_sent(haproxy, other):
    fake = haproxy({"a": ["UP", 1], "b": [other, 0]})
    result = failure(fake, server="a", state="drain", wait_timeout=1)  # a wrong drain does not wait long
    assert result["msg"] == f"draining a would leave backend pgbouncer with no server up (b {other})"
    assert result["changed"] is False and fake.set_commands() == []
    assert (result["status_before"], result["sessions_left"]) == ("UP", 1)


def test_drain_without_require_other_up_drains_the_last_server(haproxy):
    fake = haproxy({"a": ["UP", 0], "b": ["DRAIN", 0]})
    result, _module = run(fake, server="a", state="drain", require_other_up=False)
    assert result["changed"] is True and fake.set_commands() == ["set server pgbouncer/a state drain"]
    assert result["status_after"] == "DRAIN"


def test_ready_is_not_refused_when_no_other_server_is_up(haproxy):
    fake = haproxy({"a": ["DRAIN", 0], "b": ["MAINT", 0]})
    result, _module = run(fake, server="a", state="ready", wait_timeout=5)
    assert fake.set_commands() == ["set server pgbouncer/a state ready"]
    assert (result["changed"], result["status_after"]) == (True, "UP")


@pytest.mark.parametrize(
    ("state", "before", "changed"),
    [
        ("drain", "UP", True),
        ("drain", "MAINT", True),
        ("drain", "DRAIN", False),
        ("ready", "DRAIN", True),
        ("ready", "MAINT", True),
        ("ready", "DOWN", True),
        ("ready", "UP 1/2", True),
        ("ready", "UP", False),
        ("ready", "no check", False),
    ],
)
def test_check_mode_sends_nothing_and_does_not_wait(haproxy, state, before, changed):
    fake = haproxy({"a": [before, 4], "b": ["UP", 0]})
    result, _module = run(fake, check_mode=True, server="a", state=state, wait_timeout=30)
    assert result == {
        "changed": changed,
        "status_before": before,
        "status_after": before,
        "sessions_left": 4,
        "waited": 0.0,
    }
    assert fake.commands == ["show stat"]


@pytest.mark.parametrize(
    "before",
    [
        pytest.param("DRAIN", id="drained"),
        pytest.param("DRAIN 1/2", id="drained, one check failed"),
        # a drained server whose check failed while its PgBouncer restarted
        pytest.param("DOWN", id="drained and down"),
        pytest.param("DOWN 1/2", id="drained and coming up"),
        pytest.param("MAINT", id="in maintenance"),
        pytest.param("UP 1/2", id="up, one check failed"),
    ],
)
def test_ready_is_sent_and_waits_for_the_first_check_to_pass(haproxy, before):
    fake = haproxy({"a": [before, 0], "b": ["UP", 0]}, after_ready=["UP 1/2", "UP 1/2", "UP"])
    result, module = run(fake, server="a", state="ready", wait_timeout=10)
    assert fake.set_commands() == ["set server pgbouncer/a state ready"]
    assert (result["changed"], result["status_before"], result["status_after"]) == (True, before, "UP")
    assert 0.2 <= result["waited"] < 5  # two polls saw UP 1/2
    assert module.warnings == []


def test_ready_fails_with_the_last_status_when_the_server_stays_down(haproxy):
    fake = haproxy({"a": ["DRAIN", 0], "b": ["UP", 0]}, after_ready=["UP 1/2", "DOWN"])
    result = failure(fake, server="a", state="ready", wait_timeout=1)
    assert result["msg"] == "pgbouncer/a is not up after 1s: its status is 'DOWN'"
    assert result["changed"] is True and result["status_after"] == "DOWN"
    assert fake.set_commands() == ["set server pgbouncer/a state ready"]


@pytest.mark.parametrize("before", ["UP", "no check"])
def test_ready_of_an_up_server_changes_nothing(haproxy, before):
    fake = haproxy({"a": [before, 0], "b": ["UP", 0]})
    result, _module = run(fake, server="a", state="ready", wait_timeout=0)
    assert result["changed"] is False and fake.set_commands() == []
    assert result["status_after"] == before


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param({"server": "a\nset server pgbouncer/b state maint"}, "server: ", id="newline"),
        pytest.param({"server": "a", "backend": "pgbouncer;show info"}, "backend: ", id="semicolon"),
        pytest.param({"server": "a", "wait_timeout": -1}, "wait_timeout: ", id="negative wait"),
        pytest.param({"server": "a", "wait_timeout": 86401}, "wait_timeout: ", id="over a day"),
    ],
)
def test_bad_parameters_fail_before_the_socket_is_used(haproxy, params, message):
    fake = haproxy({"a": ["UP", 0], "b": ["UP", 0]})
    result = failure(fake, state="drain", **params)
    assert result["msg"].startswith(message)
    assert fake.commands == []


def test_a_missing_server_fails_naming_it(haproxy):
    fake = haproxy({"a": ["UP", 0], "b": ["UP", 0]})
    module = FakeModule({"socket": fake.path, "server": "c", "state": "drain"})
    with pytest.raises(LookupError, match="backend 'pgbouncer' has no server 'c' \\(its servers: a, b\\)"):
        hs.run(module)  # type: ignore[arg-type]
    assert fake.set_commands() == []


def test_a_refused_command_fails(haproxy):
    fake = haproxy({"a": ["UP", 0], "b": ["UP", 0]})
    with pytest.raises(hs.RuntimeApiError, match=r"was refused: No such server\.$"):
        hs.Server(fake.path, "pgbouncer", "c").set_state("drain")


def test_maint_is_never_sent(haproxy):
    fake = haproxy({"a": ["UP", 0], "b": ["UP", 0]})
    with pytest.raises(ValueError, match=r"^state: 'maint' is neither drain nor ready$"):
        hs.Server(fake.path, "pgbouncer", "a").set_state("maint")
    assert fake.commands == []
    assert fake.servers["a"][0] == "UP"


def test_a_failure_after_the_command_was_sent_reports_the_change(haproxy):
    fake = haproxy({"a": ["UP", 0], "b": ["UP", 0]})
    fake.stat_fails_after_set = True
    result = failure(fake, server="a", state="drain")
    assert result["msg"].startswith("pgbouncer/a after `state drain`: `show stat` did not answer")
    assert result["changed"] is True and fake.set_commands() == ["set server pgbouncer/a state drain"]
