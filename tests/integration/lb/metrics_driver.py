"""Runs inside the throwaway lb container (tests/integration/test_lb_templates.py): HAProxy with the
haproxy.cfg the pgbouncer_lb role rendered with metrics on, then what each request to its metrics
frontend got, printed as one JSON object. Python 3 standard library only; every wait is bounded.

argv: the config file, the host's address, the VIP, the metrics port, the CA file, the scrape user
and its password (the test's own, not a secret). Nothing runs on the backends: their servers go DOWN.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request


def fetch(url: str, context: ssl.SSLContext, credentials: tuple[str, str] | None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def main() -> None:
    config, address, vip, port, ca_file, user, password = sys.argv[1:8]
    os.makedirs("/run/pgbouncer-lb", mode=0o700, exist_ok=True)  # the runtime API socket's
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", config], stderr=subprocess.PIPE)
    context = ssl.create_default_context(cafile=ca_file)
    # The test's throwaway CA carries no key usage; the host name is still verified.
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    seen: dict[str, object] = {}
    try:
        own = f"https://{address}:{port}"
        at_vip = f"https://{vip}:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                fetch(f"{own}/metrics", context, None)
                break
            except OSError:
                time.sleep(0.2)
        # The backends have nothing listening: wait until the checks mark them down.
        time.sleep(3)
        seen["metrics_without_login"] = fetch(f"{own}/metrics", context, None)[0]
        seen["metrics_wrong_password"] = fetch(f"{own}/metrics", context, (user, password + "x"))[0]
        status, body = fetch(f"{own}/metrics", context, (user, password))
        seen["metrics_status"] = status
        seen["server_status_lines"] = [
            line for line in body.splitlines() if line.startswith("haproxy_server_status{")
        ]
        seen["vip_status"], seen["vip_body"] = fetch(f"{at_vip}/vip", context, None)
        seen["vip_on_own_address"] = fetch(f"{own}/vip", context, None)[0]
        seen["other_path"] = fetch(f"{own}/stats", context, (user, password))[0]
        try:
            plain = urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5)
            seen["plain_http"] = plain.status
        except (urllib.error.URLError, OSError) as exc:
            seen["plain_http"] = type(exc).__name__
    finally:
        haproxy.terminate()
        try:
            _, stderr = haproxy.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            haproxy.kill()
            _, stderr = haproxy.communicate()
        seen["haproxy_log"] = stderr.decode(errors="replace")[-4000:]
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
