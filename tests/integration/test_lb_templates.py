"""haproxy.cfg and keepalived.conf of the pgbouncer_lb role, rendered through ansible-playbook (the
role's validate.yml, then its templates, values from an inventory with both groups) on the
controller, then:

- checked by the real `haproxy -c` (HAProxy 3.0.11) and `keepalived -t` (keepalived 2.3.3) of
  Debian 13 in a throwaway podman container (no network), where the script user and the track
  script exist as the role creates them; a line smuggled into either file makes its check fail;
- run there (marked `container` like the rest): two real PgBouncers, HAProxy and keepalived with
  the rendered files, in the container's own network namespace. HAProxy binds the VIP before any
  interface holds it (ip_nonlocal_bind), keepalived takes the VIP, clients reach a PgBouncer
  through it, a frozen PgBouncer is marked down and its client's session cut, and once HAProxy
  stops the track script fails and keepalived gives the VIP up;
- values that try to add a directive are refused by validate.yml, by name, before anything is
  rendered.

The container tests need the base image tests/lab/build-image.sh builds; they add HAProxy,
keepalived and PgBouncer to it from Debian's archive once per base image
(localhost/pgbouncer-toolkit-lb:<base image id>).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml

from tests.integration.containers import derived_image, podman, start_container
from tests.playbooks import BIN, ansible_env

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "pgbouncer_lb"
DRIVER = Path(__file__).with_name("lb") / "driver.py"
METRICS_DRIVER = Path(__file__).with_name("lb") / "metrics_driver.py"
LB_REPOSITORY = "localhost/pgbouncer-toolkit-lb"
CONTAINER_LIFETIME = 600  # the container's own `sleep`: it ends even if the finalizer never runs
TRACK_SCRIPT = "/usr/local/sbin/pgbouncer-lb-haproxy-listening"  # the role's vars/main.yml
SCRIPT_USER = "keepalived_script"
# Where the pgbouncer_tls role puts the host's files (plugin_utils/tls_files.py); the container
# gets a CA and a certificate for the lb host's address and the VIP there.
TLS_CA = "/etc/ssl/pgbouncer-toolkit/ca.crt"
INTERFACE = "pgblb0"
VIP = "10.0.0.100"
ADDRESSES = {"lb1": "10.0.0.11", "lb2": "10.0.0.12", "pgb1": "10.0.0.21", "pgb2": "10.0.0.22"}
AUTH_PASS = "Pa.ss-8"
METRICS_PASSWORD = "lb-metrics-test-password"
METRICS = {"pgbouncer_lb_metrics": True, "pgbouncer_lb_metrics_scrape_password": METRICS_PASSWORD}
CONFIGS = ("haproxy.cfg", "keepalived.conf")

# Every value the role's defaults leave to the inventory, and the VRRP password.
GROUP_VARS: dict[str, Any] = {
    "pgbouncer_lb_virtual_ip": VIP,
    "pgbouncer_lb_interface": INTERFACE,
    "pgbouncer_lb_auth_pass": AUTH_PASS,
}
# Checks fast enough for the behaviour test to see them within seconds.
FAST: dict[str, Any] = {
    "pgbouncer_lb_check_interval": "500ms",
    "pgbouncer_lb_timeout_check": "500ms",
    "pgbouncer_lb_check_fall": 2,
    "pgbouncer_lb_check_rise": 1,
    "pgbouncer_lb_track_interval": 1,
    "pgbouncer_lb_track_fall": 1,
    "pgbouncer_lb_track_rise": 1,
}


def inventory_text(host_vars: dict[str, dict[str, Any]]) -> str:
    """Two lb hosts (both played by the controller) and two central hosts (never contacted)."""
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}

    def host(name: str) -> dict[str, Any]:
        extra = local if name.startswith("lb") else {}
        return {"pgbouncer_address": ADDRESSES[name], **extra, **host_vars.get(name, {})}

    inventory = {
        "all": {
            "children": {
                "pgbouncer_lb": {"hosts": {name: host(name) for name in ("lb1", "lb2")}},
                "pgbouncer_central": {"hosts": {name: host(name) for name in ("pgb1", "pgb2")}},
            }
        }
    }
    return yaml.safe_dump(inventory, allow_unicode=True)


def render(
    tmp_path: Path, group_vars: dict[str, Any], host_vars: dict[str, dict[str, Any]] | None = None
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """validate.yml, then both templates into <tmp>/out/<lb host>/, through ansible-playbook."""
    inventory, out = tmp_path / "inventory", tmp_path / "out"
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(inventory_text(host_vars or {}))
    (inventory / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars, allow_unicode=True))
    playbook = f"""\
- name: Render the pgbouncer_lb files on the controller
  hosts: pgbouncer_lb
  gather_facts: false
  # As site.yml's plays: one host's bad input stops every host.
  any_errors_fatal: true
  tasks:
    - name: Check the inputs as the role does
      ansible.builtin.import_role:
        name: pgbouncer_toolkit.pgbouncer.pgbouncer_lb
        tasks_from: validate.yml
    - name: Render the role's templates
      ansible.builtin.template:
        src: {json.dumps(str(ROLE / "templates") + "/{{ item }}.j2")}
        dest: {json.dumps(str(out) + "/{{ inventory_hostname }}/{{ item }}")}
        mode: "0600"
      loop: {json.dumps(list(CONFIGS))}
"""
    for host in ("lb1", "lb2"):
        (out / host).mkdir(parents=True, exist_ok=True)
    (tmp_path / "playbook.yml").write_text(playbook)
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", str(inventory), str(tmp_path / "playbook.yml")],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result, out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files with the role's defaults."""
    result, out = render(tmp_path_factory.mktemp("lb-defaults"), GROUP_VARS)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def rendered_fast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files with fast checks, for the behaviour test."""
    result, out = render(tmp_path_factory.mktemp("lb-fast"), {**GROUP_VARS, **FAST})
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def rendered_metrics(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files with HAProxy's metrics on (as when there are monitoring hosts)."""
    result, out = render(tmp_path_factory.mktemp("lb-metrics"), {**GROUP_VARS, **METRICS})
    assert result.returncode == 0, result.stdout + result.stderr
    assert METRICS_PASSWORD not in result.stdout + result.stderr
    return out


def directives(text: str) -> list[str]:
    """The file's lines without comments and blank lines, whitespace collapsed."""
    return [
        " ".join(line.split())
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


# ------------------------------------------------------------------------------------------------
# What the files say (no container)


@pytest.mark.parametrize(
    ("host", "priority", "source", "peer"), [("lb1", 200, "lb1", "lb2"), ("lb2", 190, "lb2", "lb1")]
)
def test_keepalived_conf_holds_the_derived_values(rendered, host, priority, source, peer):
    lines = directives((rendered / host / "keepalived.conf").read_text())
    for expected in (
        "enable_script_security",
        f"script_user {SCRIPT_USER}",
        f'script "{TRACK_SCRIPT} {VIP} 6432"',
        "init_fail",
        "state BACKUP",
        f"interface {INTERFACE}",
        "virtual_router_id 100",  # the VIP's last octet
        f"priority {priority}",  # the host's position in the group
        "nopreempt",
        f"unicast_src_ip {ADDRESSES[source]}",
        "check_unicast_src",  # adverts from an address that is not a peer are dropped
        ADDRESSES[peer],
        "auth_type PASS",
        f"auth_pass {AUTH_PASS}",
        f"{VIP}/32 dev {INTERFACE}",
        "pgbouncer_lb_haproxy",
    ):
        assert expected in lines, (expected, lines)
    assert not any(line.startswith("weight") for line in lines)  # FAULT, not a lowered priority


def test_haproxy_cfg_holds_the_servers_and_long_timeouts(rendered):
    text = (rendered / "lb1" / "haproxy.cfg").read_text()
    assert text == (rendered / "lb2" / "haproxy.cfg").read_text()  # the same on every lb host
    lines = directives(text)
    for expected in (
        "stats socket /run/pgbouncer-lb/admin.sock mode 600 level admin expose-fd listeners",
        "mode tcp",
        "timeout client 30m",
        "timeout server 30m",
        "timeout tunnel 30m",
        f"bind {VIP}:6432",
        "balance leastconn",
        "tcp-check send-binary 0000000804d2162f",
        "default-server inter 2s fall 3 rise 2 on-marked-down shutdown-sessions",
        "server pgb1 10.0.0.21:6432 check",
        "server pgb2 10.0.0.22:6432 check",
    ):
        assert expected in lines, (expected, lines)


def test_haproxy_cfg_serves_metrics_only_when_asked(rendered, rendered_metrics):
    assert "prometheus-exporter" not in (rendered / "lb1" / "haproxy.cfg").read_text()
    text = (rendered_metrics / "lb1" / "haproxy.cfg").read_text()
    lines = directives(text)
    for expected in (
        f'bind {ADDRESSES["lb1"]}:8405 ssl crt "/etc/ssl/pgbouncer-toolkit/host.crt" ssl-min-ver TLSv1.2',
        f'bind {VIP}:8405 ssl crt "/etc/ssl/pgbouncer-toolkit/host.crt" ssl-min-ver TLSv1.2',
        "http-request use-service prometheus-exporter if { path /metrics }",
    ):
        assert expected in lines, (expected, lines)
    assert METRICS_PASSWORD not in text
    user_line = next(line for line in lines if line.startswith("user prometheus password "))
    password_hash = user_line.split()[-1]
    assert bcrypt.checkpw(METRICS_PASSWORD.encode(), password_hash.encode())
    assert password_hash.startswith("$2b$05$")  # cheap enough for HAProxy's event loop
    assert not bcrypt.checkpw(b"another password", password_hash.encode())
    # Each host its own salt; the same on every run (idempotent).
    assert password_hash not in (rendered_metrics / "lb2" / "haproxy.cfg").read_text()


# ------------------------------------------------------------------------------------------------
# Refused before rendering

HOSTILE = [
    pytest.param(
        {"pgbouncer_lb_interface": "eth0\n    virtual_router_id 1"},
        {},
        "pgbouncer_lb_interface:",
        id="interface",
    ),
    pytest.param(
        {"pgbouncer_lb_interface": 'eth0" notify "/bin/sh'},
        {},
        "pgbouncer_lb_interface:",
        id="interface quote",
    ),
    pytest.param(
        {"pgbouncer_lb_timeout_client": "30m\n    option transparent"},
        {},
        "pgbouncer_lb_timeout_client:",
        id="timeout",
    ),
    pytest.param(
        {"pgbouncer_lb_check_interval": "2s fall 100"}, {}, "pgbouncer_lb_check_interval:", id="same line"
    ),
    pytest.param(
        {"pgbouncer_lb_virtual_ip": "10.0.0.100:22\n    bind *:22"}, {}, "pgbouncer_lb_virtual_ip:", id="vip"
    ),
    pytest.param(
        {"pgbouncer_lb_script_user": "root\n}\nglobal_defs {\n    script_user root"},
        {},
        "pgbouncer_lb_script_user:",
        id="script user",
    ),
    pytest.param(
        {
            "pgbouncer_lb_auth_pass": "x\n    }\n    notify_master /tmp/evil\n    authentication {\n        auth_pass x"
        },
        {},
        "pgbouncer_lb_auth_pass:",
        id="auth pass",
    ),
    pytest.param(
        {},
        {"pgb1": {"pgbouncer_address": "10.0.0.21:6432 check\n    server evil 10.6.6.6:22"}},
        "pgb1: pgbouncer_address:",
        id="backend address",
    ),
    pytest.param({}, {"lb1": {"pgbouncer_lb_priority": 255}}, "pgbouncer_lb_priority:", id="priority"),
    pytest.param(
        {**METRICS, "pgbouncer_lb_metrics_scrape_user": "prometheus insecure-password x\n    user evil"},
        {},
        "pgbouncer_lb_metrics_scrape_user:",
        id="scrape user",
    ),
    pytest.param(
        {**METRICS, "pgbouncer_lb_metrics_scrape_password": METRICS_PASSWORD + "\n    user evil"},
        {},
        "pgbouncer_lb_metrics_scrape_password:",
        id="scrape password",
    ),
    pytest.param(
        {"pgbouncer_lb_metrics": True}, {}, "pgbouncer_lb_metrics_scrape_password: required", id="no password"
    ),
    pytest.param(
        {**METRICS, "pgbouncer_lb_metrics_port": 6432}, {}, "pgbouncer_lb_metrics_port:", id="metrics port"
    ),
]


@pytest.mark.parametrize(("group_vars", "host_vars", "message"), HOSTILE)
def test_values_that_would_add_a_directive_are_refused_before_rendering(
    tmp_path, group_vars, host_vars, message
):
    result, out = render(tmp_path, {**GROUP_VARS, **group_vars}, host_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert message in output, output
    assert not any(path.is_file() for path in out.rglob("*")), "a file was rendered"
    assert "notify_master" not in output and AUTH_PASS not in output  # the password never shows
    assert METRICS_PASSWORD not in output


# ------------------------------------------------------------------------------------------------
# The container


@pytest.fixture(scope="module")
def container(request: pytest.FixtureRequest) -> str:
    """No network but its own namespace: the lb host's address on a veth interface, the central
    hosts' on loopback, ip_nonlocal_bind on, the script user and the track script as the role
    installs them; removed at the end."""
    image = derived_image(
        LB_REPOSITORY, ["haproxy", "keepalived", "pgbouncer", "iproute2"], "HAProxy and keepalived"
    )
    name = start_container(
        request,
        image,
        "pgbt-lb",
        CONTAINER_LIFETIME,
        "--sysctl",
        "net.ipv4.ip_nonlocal_bind=1",
        "--cap-add",
        "NET_ADMIN,NET_RAW,NET_BROADCAST",
    )
    podman("cp", str(ROLE / "files" / "pgbouncer-lb-haproxy-listening"), f"{name}:{TRACK_SCRIPT}")
    setup = f"""set -eu
ip link add {INTERFACE} type veth peer name {INTERFACE}p
ip link set {INTERFACE} up
ip link set {INTERFACE}p up
ip addr add {ADDRESSES["lb1"]}/24 dev {INTERFACE}
ip addr add {ADDRESSES["pgb1"]}/32 dev lo
ip addr add {ADDRESSES["pgb2"]}/32 dev lo
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin {SCRIPT_USER}
chown root:root {TRACK_SCRIPT}
chmod 0755 {TRACK_SCRIPT}
mkdir -p /etc/ssl/pgbouncer-toolkit/private
cd /etc/ssl/pgbouncer-toolkit
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=test-ca \
  -keyout /tmp/ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=lb1 \
  -keyout private/host.key -out /tmp/host.csr 2>/dev/null
printf 'subjectAltName=IP:{ADDRESSES["lb1"]},IP:{VIP}\n' > /tmp/san.ext
openssl x509 -req -in /tmp/host.csr -CA ca.crt -CAkey /tmp/ca.key -CAcreateserial -days 1 \
  -extfile /tmp/san.ext -out host.crt 2>/dev/null
"""
    podman("exec", name, "sh", "-c", setup)
    return name


def check_in_container(container: str, config: str, text: str) -> subprocess.CompletedProcess[bytes]:
    """The role's `validate:` command on ``text``, in the container."""
    path = f"/tmp/check-{uuid.uuid4().hex[:8]}-{config}"
    podman("exec", "-i", container, "sh", "-c", f"cat > {path}", stdin=text.encode())
    command = ["haproxy", "-c", "-f", path] if config == "haproxy.cfg" else ["keepalived", "-t", "-f", path]
    return podman("exec", container, *command, check=False)


@pytest.mark.container
@pytest.mark.parametrize("host", ["lb1", "lb2"])
@pytest.mark.parametrize("config", CONFIGS)
def test_rendered_files_pass_haproxy_and_keepalived_checks(container, rendered, rendered_fast, host, config):
    for out in (rendered, rendered_fast):
        done = check_in_container(container, config, (out / host / config).read_text())
        output = (done.stdout + done.stderr).decode(errors="replace")
        assert done.returncode == 0, output
        assert "WARNING" not in output and "ALERT" not in output, output


@pytest.mark.container
def test_rendered_metrics_config_passes_haproxy_check(container, rendered_metrics):
    done = check_in_container(
        container, "haproxy.cfg", (rendered_metrics / "lb1" / "haproxy.cfg").read_text()
    )
    output = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, output
    assert "WARNING" not in output and "ALERT" not in output, output


@pytest.mark.container
def test_metrics_need_tls_and_the_login_and_vip_answers_without(container, rendered_metrics):
    podman("cp", str(rendered_metrics / "lb1" / "haproxy.cfg"), f"{container}:/tmp/metrics-haproxy.cfg")
    podman("cp", str(METRICS_DRIVER), f"{container}:/tmp/lb-metrics-driver.py")
    # The VIP on this host, as keepalived would put it (the failover test takes it away again).
    podman("exec", container, "ip", "addr", "replace", f"{VIP}/32", "dev", INTERFACE)
    try:
        done = podman(
            "exec",
            container,
            "python3",
            "/tmp/lb-metrics-driver.py",
            "/tmp/metrics-haproxy.cfg",
            ADDRESSES["lb1"],
            VIP,
            "8405",
            TLS_CA,
            "prometheus",
            METRICS_PASSWORD,
            timeout=90,
            check=False,
        )
    finally:
        podman("exec", container, "ip", "addr", "del", f"{VIP}/32", "dev", INTERFACE, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    seen = json.loads(done.stdout)
    log = seen.pop("haproxy_log")
    assert seen["metrics_without_login"] == 401, log
    assert seen["metrics_wrong_password"] == 401, log
    assert seen["metrics_status"] == 200, log
    states = {
        (match["server"], match["state"])
        for line in seen["server_status_lines"]
        if (
            match := re.match(
                r'haproxy_server_status\{proxy="pgbouncer",server="(?P<server>[^"]+)",state="(?P<state>[A-Z]+)"\} 1$',
                line,
            )
        )
    }
    # The series the rules read: one per server and state, 1 for the state it is in.
    assert states == {("pgb1", "DOWN"), ("pgb2", "DOWN")}, seen["server_status_lines"]
    assert (seen["vip_status"], seen["vip_body"]) == (200, "pgbouncer_lb_vip_held 1\n")
    assert seen["vip_on_own_address"] == 401  # /vip answers without a login only on the VIP
    assert seen["other_path"] == 403
    assert seen["plain_http"] != 200


# What an unchecked value would have added: the validators refuse it, so a broken file never
# replaces the live one (keepalived -t exits 5 on any error or warning).
SMUGGLED = [
    pytest.param(
        "haproxy.cfg", "timeout client 30m", "timeout client 30m\n    bogus_directive", id="haproxy"
    ),
    pytest.param(
        "keepalived.conf",
        f"interface {INTERFACE}",
        f"interface {INTERFACE}\n    bogus_directive",
        id="keepalived",
    ),
    pytest.param(
        "keepalived.conf", "virtual_router_id 100", "virtual_router_id 256", id="keepalived vrid 256"
    ),
    pytest.param(
        "keepalived.conf", f"script_user {SCRIPT_USER}", "script_user nobody_here", id="no such user"
    ),
]


@pytest.mark.container
@pytest.mark.parametrize(("config", "line", "replacement"), SMUGGLED)
def test_the_validate_commands_refuse_a_broken_file(container, rendered, config, line, replacement):
    text = (rendered / "lb1" / config).read_text()
    assert line in text
    done = check_in_container(container, config, text.replace(line, replacement, 1))
    assert done.returncode != 0, (done.stdout + done.stderr).decode(errors="replace")


@pytest.mark.container
def test_vip_failover_pieces_work_with_real_haproxy_keepalived_and_pgbouncer(container, rendered_fast):
    for config, target in (
        ("haproxy.cfg", "/etc/haproxy/haproxy.cfg"),
        ("keepalived.conf", "/etc/keepalived/keepalived.conf"),
    ):
        podman("cp", str(rendered_fast / "lb1" / config), f"{container}:{target}")
    podman("cp", str(DRIVER), f"{container}:/tmp/lb-driver.py")
    backends = [f"{ADDRESSES[name]}:6432" for name in ("pgb1", "pgb2")]
    done = podman(
        "exec",
        container,
        "python3",
        "/tmp/lb-driver.py",
        VIP,
        "6432",
        *backends,
        TRACK_SCRIPT,
        SCRIPT_USER,
        INTERFACE,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    seen = json.loads(done.stdout)
    log = seen.pop("keepalived_log")

    assert seen["haproxy_listening"], "the track script never saw HAProxy on the VIP"
    assert seen["vip_held_before_keepalived"] is False  # HAProxy bound it anyway (ip_nonlocal_bind)
    assert seen["servers_up"] == {"pgb1": "UP", "pgb2": "UP"}  # PgBouncer answers the SSLRequest check
    assert seen["vip_taken"], log
    assert seen["client_answers"] == ["N", "N"]  # PgBouncer's answer, through the VIP
    assert seen["frozen_marked_down"], seen
    assert sorted(seen["clients_closed"]) == [False, True], seen  # only the frozen one's client is cut
    assert seen["new_client_answer"] == "N"  # new clients go to the other one
    assert seen["thawed_marked_up"], seen
    assert seen["track_script_after_haproxy_stopped"] == 1
    assert seen["vip_released"], log
    assert re.search(r"Entering FAULT STATE", log), log
    assert "SECURITY VIOLATION" not in log and "unsafe" not in log.lower(), log


# ------------------------------------------------------------------------------------------------
# The example inventories of the central topology derive, on each of their lb hosts played by the
# controller, the values their comments promise.

EXAMPLES = ROOT / "inventory.example"


@pytest.mark.parametrize("example", ["central", "hybrid"])
def test_example_inventory_derives_what_its_comments_promise(tmp_path, example):
    playbook = """\
- name: Check the lb inputs of the example inventory
  hosts: pgbouncer_lb
  gather_facts: false
  any_errors_fatal: true
  tasks:
    - name: Check the inputs as the role does
      ansible.builtin.import_role:
        name: pgbouncer_toolkit.pgbouncer.pgbouncer_lb
        tasks_from: validate.yml
    - name: The derived values are the ones the example's comments promise
      ansible.builtin.assert:
        that:
          - __pgbouncer_lb_model.virtual_ip == '10.0.0.100'
          - __pgbouncer_lb_model.virtual_router_id == 100
          - __pgbouncer_lb_model.priority == (200 if inventory_hostname == groups['pgbouncer_lb'][0] else 190)
          - __pgbouncer_lb_model.servers | map(attribute='endpoint') | list == ['10.0.0.21:6432', '10.0.0.22:6432']
        quiet: true
"""
    (tmp_path / "playbook.yml").write_text(playbook)
    result = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            str(EXAMPLES / example),
            str(tmp_path / "playbook.yml"),
            # The example's hosts are stand-ins: the controller plays them; no facts, so the
            # interface is named.
            "-e",
            "ansible_connection=local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            "pgbouncer_lb_interface=eth0",
        ],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert output.count("failed=0") == 2 and "chg-me-1" not in output, output
