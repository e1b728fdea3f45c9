"""The benchmark run: where each target is, the interleaved plan of runs, one run with its probes,
the deploy timings, and the results folder."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tests.bench import report
from tests.bench.pgbench import WORKLOADS, Endpoint, Outcome, parse_run, pgbench_argv
from tests.bench.probes import CpuMeter, ServerConnections


@dataclass(frozen=True)
class Place:
    """Where a command runs: a container (podman exec), or this machine when container is None."""

    container: str | None = None

    def argv(self, argv: Sequence[str], env_names: Sequence[str] = (), stdin: bool = False) -> list[str]:
        if self.container is None:
            return list(argv)
        # -e NAME without a value: podman takes the value from its own environment, so a password
        # never appears on a command line.
        env = [arg for name in env_names for arg in ("-e", name)]
        return ["podman", "exec", *(["--interactive"] if stdin else []), *env, self.container, *argv]


@dataclass(frozen=True)
class Target:
    name: str
    place: Place  # where pgbench runs
    endpoint: Endpoint
    password: str | None
    poolers: tuple[str, ...] = ()  # containers whose PgBouncer the target goes through
    description: str = ""


@dataclass
class Setup:
    """Everything a run needs to know about the hosts."""

    database: str
    targets: list[Target]
    db_place: Place
    # How a superuser's client program runs on the PostgreSQL host: a prefix (runuser ...) and the
    # connection options that follow the program's name.
    admin_prefix: list[str]
    admin_options: list[str]
    containers: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (id, cgroup)
    sweep: Callable[[int], Target] | None = None  # the sweep's target for a pool size

    def available(self) -> set[str]:
        """The target names a plan can use here ("sweep" when a sweep target exists)."""
        return {t.name for t in self.targets} | ({"sweep"} if self.sweep else set())


ALL_CLIENTS = (1, 40, 200, 1000)


@dataclass(frozen=True)
class Plan:
    # workload -> (the targets that run it, the client counts they run it at)
    workloads: dict[str, tuple[tuple[str, ...], tuple[int, ...]]]
    repeats: int
    warmup: int
    seconds: int  # measured seconds after the warm-up
    sweep_sizes: tuple[int, ...] = ()
    sweep_clients: int = 1000
    sweep_workloads: tuple[str, ...] = ()

    def runs(self, available: set[str]) -> list[tuple[str, str, int, int, int | None]]:
        """(workload, target, clients, repeat, pool size) in order: for each workload and client
        count the targets one after the other, the whole round repeated, so no target gets the
        quieter half of the run."""
        order = []
        for workload, (targets, clients_list) in self.workloads.items():
            for clients in clients_list:
                for repeat in range(1, self.repeats + 1):
                    order += [(workload, t, clients, repeat, None) for t in targets if t in available]
        if "sweep" in available:
            for workload in self.sweep_workloads:
                for repeat in range(1, self.repeats + 1):
                    order += [
                        (workload, "sweep", self.sweep_clients, repeat, size) for size in self.sweep_sizes
                    ]
        return order


# Every workload runs at every client count; select-only on every target, the others on the
# targets their question needs (prepared statements through a second process, read-write and new
# connections through the central hop), which keeps the whole run near 15 minutes here. The sweep
# is read-write: select-only barely depends on the pool size.
FULL_PLAN = Plan(
    workloads={
        "select": (("direct", "per_host_tcp", "per_host_socket", "per_host_2proc", "central"), ALL_CLIENTS),
        "select_prepared": (("direct", "per_host_tcp", "per_host_2proc"), ALL_CLIENTS),
        "tpcb": (("direct", "per_host_tcp", "central"), ALL_CLIENTS),
        "connect": (("direct", "per_host_tcp", "central"), ALL_CLIENTS),
    },
    repeats=3,
    warmup=1,
    seconds=3,
    sweep_sizes=(5, 10, 20, 40, 80),
    sweep_clients=1000,
    sweep_workloads=("tpcb",),
)


# The cost of watching: select-only at 40 clients through app1's PgBouncer, with its exporter
# stopped, then running and scraped every 15 s (the monitoring hosts' interval), interleaved. Each
# run is long enough to hold three scrapes.
WATCH_TARGET, WATCH_WORKLOAD, WATCH_CLIENTS = "per_host_tcp", "select", 40
# Four rounds: the order alternates (stopped first, then scraped first), so a drift over the runs
# weighs on both states alike.
WATCH_INTERVAL, WATCH_SECONDS, WATCH_REPEATS = 15, 45, 4
WATCH_STATES = ("exporter stopped", "scraped every 15 s")
WATCH_EXPORTER = "pgbouncer-exporter@1.service"
WATCH_METRICS_URL = "http://127.0.0.1:9127/metrics"


def log(message: str) -> None:
    print(message, flush=True)


def run_once(
    setup: Setup,
    target: Target,
    workload: str,
    clients: int,
    plan: Plan,
    meter: CpuMeter,
    tag: str,
) -> tuple[Outcome, dict[str, object]]:
    """One bounded pgbench run with its probes; returns its outcome and the probes' figures."""
    seconds = plan.warmup + plan.seconds
    argv = pgbench_argv(WORKLOADS[workload], target.endpoint, clients, seconds)
    # The run's own application_name: PgBouncer sets it on each server connection it links to one
    # of the run's clients, so the sampler counts this run's server connections and no idle ones
    # left from an earlier run.
    env = dict(os.environ, PGAPPNAME=tag)
    env_names = ["PGAPPNAME"]
    if target.password is not None:
        env["PGPASSWORD"] = target.password
        env_names.append("PGPASSWORD")
    sampler = ServerConnections(admin_argv(setup, "psql", stdin=True), setup.database, tag)
    sampler.start()
    before = meter.snapshot()
    # Connecting 1,000 clients takes a while; anything past this bound is a hang, stopped here.
    limit = seconds + 60 + clients // 10
    try:
        done = subprocess.run(
            target.place.argv(argv, env_names),
            env=env,
            capture_output=True,
            text=True,
            timeout=limit,
            check=False,
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        if target.place.container:
            subprocess.run(target.place.argv(["pkill", "-x", "pgbench"]), check=False)
        returncode = 124
        output = f"pgbench: error: stopped after {limit} s\n" + str(expired.stdout or "")
    after = meter.snapshot()
    sampler.stop()
    outcome = parse_run(returncode, output, plan.warmup)
    machine, containers, pgbouncer, busiest = CpuMeter.cores(before, after, target.poolers)
    db_container = setup.db_place.container
    probes = {
        "server_connections": sampler.peak_total,
        "server_active": sampler.peak_active,
        "machine_cores": round(machine, 3),
        "pgbouncer_cores": None if pgbouncer is None else round(pgbouncer, 3),
        "pgbouncer_busiest_process_cores": None if busiest is None else round(busiest, 3),
        "postgresql_cores": _rounded(containers.get(db_container)) if db_container else None,
        "client_host_cores": _rounded(containers.get(target.place.container))
        if target.place.container
        else None,
        "seconds": round(after.at - before.at, 2),
    }
    return outcome, probes


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def run_record(
    outcome: Outcome,
    probes: dict[str, object],
    *,
    phase: str,
    workload: str,
    target: str,
    clients: int,
    pool_size: int | None,
    repeat: int,
    status: str | None = None,
    message: str | None = None,
) -> report.Run:
    """One run as runs.csv holds it, its figures rounded; ``status`` and ``message`` replace the
    outcome's when the run is judged on more than pgbench's own result."""
    return report.Run(
        phase=phase,
        workload=workload,
        target=target,
        clients=clients,
        pool_size=pool_size,
        repeat=repeat,
        status=outcome.status if status is None else status,
        tps=None if outcome.tps is None else round(outcome.tps, 1),
        latency_ms=None if outcome.latency_ms is None else round(outcome.latency_ms, 4),
        transactions=outcome.transactions,
        failed=outcome.failed,
        message=outcome.message if message is None else message,
        **probes,  # type: ignore[arg-type]
    )


def run_plan(setup: Setup, plan: Plan, progress: Callable[[str], None] = log) -> list[report.Run]:
    targets = {t.name: t for t in setup.targets}
    order = plan.runs(setup.available())
    meter = CpuMeter(setup.containers)
    runs: list[report.Run] = []
    refused: set[tuple[str, str, int]] = set()
    started = time.monotonic()
    for index, (workload, target_name, clients, repeat, pool_size) in enumerate(order, 1):
        if (workload, target_name, clients) in refused:
            # PostgreSQL's refusal is the result; it does not change when asked again.
            continue
        target = setup.sweep(pool_size) if pool_size is not None and setup.sweep else targets[target_name]
        outcome, probes = run_once(setup, target, workload, clients, plan, meter, f"bench run {index}")
        run = run_record(
            outcome,
            probes,
            phase="sweep" if pool_size is not None else "matrix",
            workload=workload,
            target=target.name,
            clients=clients,
            pool_size=pool_size,
            repeat=repeat,
        )
        runs.append(run)
        if outcome.status == "refused":
            refused.add((workload, target_name, clients))
        elapsed = time.monotonic() - started
        eta = elapsed / index * (len(order) - index)
        figure = f"{run.tps:.0f} tps, {run.latency_ms:.3f} ms" if run.tps is not None else run.status
        size = f" pool_size {pool_size}" if pool_size is not None else ""
        progress(
            f"[{index}/{len(order)} {elapsed:.0f}s, ~{eta:.0f}s left] {workload} {target.name}{size} "
            f"{clients} clients #{repeat}: {figure}, {run.server_connections} server connections"
        )
    return runs


def _scraper_argv(url: str, interval: int, scrapes: int) -> list[str]:
    """A bounded loop that GETs ``url`` ``scrapes`` times, ``interval`` seconds apart, as Prometheus
    would, and prints how many scrapes answered 200."""
    code = (
        "import time, urllib.request\n"
        "ok = 0\n"
        f"for n in range({scrapes}):\n"
        "    try:\n"
        f"        with urllib.request.urlopen({url!r}, timeout=10) as r:\n"
        "            r.read(); ok += r.status == 200\n"
        "    except OSError:\n"
        "        pass\n"
        f"    if n < {scrapes - 1}: time.sleep({interval})\n"
        "print(ok)\n"
    )
    return ["python3", "-c", code]


def watching_runs(
    setup: Setup,
    repeats: int = WATCH_REPEATS,
    seconds: int = WATCH_SECONDS,
    progress: Callable[[str], None] = log,
) -> list[report.Run]:
    """The same pooled run with the exporter of app1's PgBouncer stopped and with it scraped, in
    turn, the order alternating round by round (A B, B A, ...); the exporter is left running, as
    deployed."""
    target = {t.name: t for t in setup.targets}[WATCH_TARGET]
    place = target.place
    plan = Plan(workloads={}, repeats=1, warmup=1, seconds=seconds)
    meter = CpuMeter(setup.containers)
    runs: list[report.Run] = []
    scrapes = seconds // WATCH_INTERVAL + 1
    try:
        for repeat in range(1, repeats + 1):
            for state in WATCH_STATES if repeat % 2 else WATCH_STATES[::-1]:
                scraped = state != WATCH_STATES[0]
                action = "start" if scraped else "stop"
                subprocess.run(place.argv(["systemctl", action, WATCH_EXPORTER]), check=True, timeout=60)
                scraper = None
                if scraped:
                    time.sleep(2)  # the exporter's first login
                    scraper = subprocess.Popen(
                        place.argv(_scraper_argv(WATCH_METRICS_URL, WATCH_INTERVAL, scrapes)),
                        stdout=subprocess.PIPE,
                        text=True,
                    )
                tag = f"bench watching {repeat} {action}"
                outcome, probes = run_once(setup, target, WATCH_WORKLOAD, WATCH_CLIENTS, plan, meter, tag)
                answered = None
                if scraper is not None:
                    out, _ = scraper.communicate(timeout=scrapes * WATCH_INTERVAL + 60)
                    answered = int(out.strip() or 0)
                status, message = outcome.status, outcome.message
                if scraped and answered != scrapes:
                    # The state this run was meant to measure did not hold.
                    status, message = (
                        "failed",
                        f"only {answered} of {scrapes} scrapes answered {message}".strip(),
                    )
                run = run_record(
                    outcome,
                    probes,
                    phase="watching",
                    workload=WATCH_WORKLOAD,
                    target=f"{WATCH_TARGET}, {state}",
                    clients=WATCH_CLIENTS,
                    pool_size=None,
                    repeat=repeat,
                    status=status,
                    message=message,
                )
                runs.append(run)
                figure = f"{run.tps:.0f} tps" if run.tps is not None else run.status
                progress(f"[watching #{repeat}] {state}: {figure}")
    finally:
        subprocess.run(place.argv(["systemctl", "start", WATCH_EXPORTER]), check=False, timeout=60)
    return runs


# --- the bench containers --------------------------------------------------------------------

DB, APP1, APP2, POOL1, POOL2 = (f"pgbt-bench-{n}" for n in ("db", "app1", "app2", "pool1", "pool2"))
CONTAINERS = (DB, APP1, APP2, POOL1, POOL2)
SECRETS = "tests/bench/inventory/group_vars/all/secrets.yml"


def _inspect(container: str) -> dict:
    out = subprocess.run(["podman", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def _address(info: dict) -> str:
    networks = info["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]


def _secrets() -> dict[str, str]:
    import yaml

    with open(SECRETS, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def container_setup(database: str = "bench") -> Setup:
    """The bench scenario's targets, addressed the way the inventory derives them."""
    infos = {name: _inspect(name) for name in CONTAINERS}
    secrets = _secrets()
    password = secrets["bench_password"]
    db_address = _address(infos[DB])
    # The VIP is .100 of the network (tests/bench/inventory/group_vars/all/main.yml).
    vip = re.sub(r"\.\d+$", ".100", db_address)
    app1, app2 = Place(APP1), Place(APP2)

    def target(
        name: str,
        place: Place,
        host: str,
        port: int,
        poolers: tuple[str, ...],
        description: str = "",
        db: str = database,
    ) -> Target:
        return Target(name, place, Endpoint(host, port, db, "bench"), password, poolers, description)

    targets = [
        target("direct", app1, db_address, 5432, (), "app1 to PostgreSQL"),
        target(
            "per_host_tcp", app1, "127.0.0.1", 6432, (APP1,), "app1's PgBouncer (1 process) on 127.0.0.1:6432"
        ),
        target(
            "per_host_socket",
            app1,
            "/var/run/postgresql",
            6432,
            (APP1,),
            "app1's PgBouncer (1 process) on its unix socket",
        ),
        target(
            "per_host_2proc",
            app2,
            "127.0.0.1",
            6432,
            (APP2,),
            "app2's PgBouncer (2 processes, so_reuseport) on 127.0.0.1:6432",
        ),
        target(
            "central",
            app1,
            vip,
            6432,
            (POOL1, POOL2),
            "app1 to the VIP: HAProxy, then PgBouncer on pool1 or pool2",
        ),
    ]

    def sweep(size: int) -> Target:
        # per_host_tcp, on the sweep's database entry of that pool size.
        return target("per_host_tcp", app1, "127.0.0.1", 6432, (APP1,), db=f"bench_pool{size}")

    return Setup(
        database=database,
        targets=targets,
        db_place=Place(DB),
        admin_prefix=["runuser", "-u", "postgres", "--"],
        admin_options=[],
        containers={name: (info["Id"], info["State"]["CgroupPath"]) for name, info in infos.items()},
        sweep=sweep,
    )


def prepare_data(setup: Setup, scale: int, roles: Sequence[str]) -> None:
    """pgbench's tables in the benchmark database, owned by the superuser, usable by `roles`."""
    init = admin_argv(setup, "pgbench", "--initialize", f"--scale={scale}", "--quiet", setup.database)
    subprocess.run(init, check=True, capture_output=True, text=True)
    quoted = ", ".join('"' + r.replace('"', '""') + '"' for r in roles)
    grant = f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {quoted};"
    subprocess.run(
        admin_argv(setup, "psql", "-XAtq", "-v", "ON_ERROR_STOP=1", "-d", setup.database, "-c", grant),
        check=True,
        capture_output=True,
        text=True,
    )


def admin_argv(setup: Setup, program: str, *args: str, stdin: bool = False) -> list[str]:
    """A superuser's `program` (psql, pgbench) against the PostgreSQL host."""
    return setup.db_place.argv([*setup.admin_prefix, program, *setup.admin_options, *args], stdin=stdin)


# --- deploy timings --------------------------------------------------------------------------

_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def timed(step: str, argv: Sequence[str], log_path: str) -> dict[str, object]:
    """Run one deploy step, its output to log_path; seconds, hosts and changed tasks from the recap."""
    started = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as handle:
        done = subprocess.run(argv, stdout=handle, stderr=subprocess.STDOUT, check=False, timeout=1800)
    seconds = time.monotonic() - started
    with open(log_path, encoding="utf-8") as handle:
        recap = _RECAP.findall(handle.read())
    if done.returncode != 0:
        raise SystemExit(f"{step} failed (exit {done.returncode}); see {log_path}")
    return {
        "step": step,
        "seconds": round(seconds, 1),
        "hosts": len(recap) or "",
        "changed": sum(int(r[2]) for r in recap) if recap else "",
    }


def deploy_timings(scenario: str, inventory: str, directory: str) -> list[dict[str, object]]:
    """From no containers: create them (test bed), deploy cold, re-run (idempotent), check mode."""
    subprocess.run(["molecule", "destroy", "-s", scenario], capture_output=True, check=False, timeout=600)
    rows = [
        timed(
            "containers and test-bed packages (molecule create)",
            ["molecule", "create", "-s", scenario],
            f"{directory}/{scenario}-create.log",
        )
    ]
    playbook = ["ansible-playbook", "-i", inventory, "site.yml"]
    rows.append(timed("site.yml, cold", playbook, f"{directory}/{scenario}-deploy-cold.log"))
    rows.append(timed("site.yml, re-run (idempotent)", playbook, f"{directory}/{scenario}-deploy-rerun.log"))
    rows.append(timed("site.yml --check", [*playbook, "--check"], f"{directory}/{scenario}-deploy-check.log"))
    if rows[2]["changed"] not in (0, ""):
        raise SystemExit(
            f"the re-run changed {rows[2]['changed']} tasks; see {directory}/{scenario}-deploy-rerun.log"
        )
    return rows


# --- context and the results folder ----------------------------------------------------------


def results_directory(root: str, suffix: str = "") -> str:
    """results/<date><suffix>, or results/<date><suffix>-2 ... when that day's is there already."""
    day = datetime.date.today().isoformat() + suffix
    candidate, n = os.path.join(root, day), 1
    while os.path.exists(candidate):
        n += 1
        candidate = os.path.join(root, f"{day}-{n}")
    os.makedirs(candidate)
    return candidate


def _first_line(argv: Sequence[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine() -> str:
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
        model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "?")
    with open("/proc/meminfo", encoding="ascii") as handle:
        memory_gib = int(handle.readline().split()[1]) / 1024 / 1024
    return f"{os.cpu_count()} cores ({model}), {memory_gib:.0f} GiB, Linux {platform.release()}"


def machine_context(setup: Setup, plan: Plan) -> dict[str, object]:
    context: dict[str, object] = {
        "date": datetime.date.today().isoformat(),
        "machine": machine(),
        "method": (
            f"pgbench, {plan.warmup} s warm-up discarded then {plan.seconds} s measured per run "
            f"(progress every second), {plan.repeats} repeats interleaved target by target "
            "(A B C A B C ...), median and spread (max - min) reported; a refused run is not repeated"
        ),
        "placement": (
            "every container shares the machine's cores (no pinning): pgbench runs on the application "
            "host it measures, next to that host's PgBouncer, and competes with PgBouncer and PostgreSQL "
            "for the same cores, as an application does on a per-host deployment"
        ),
    }
    for target in setup.targets:
        context[f"target {target.name}"] = (
            target.description or f"{target.endpoint.host}:{target.endpoint.port}"
        )
    place = setup.targets[0].place if setup.targets else Place()
    context["pgbench"] = _first_line(place.argv(["pgbench", "--version"]))
    context["postgresql"] = _first_line(
        admin_argv(setup, "psql", "-XAtq", "-d", "postgres", "-c", "SELECT version()")
    )
    pgbouncer = _first_line(place.argv(["pgbouncer", "--version"])) if place.container else ""
    if pgbouncer:
        context["pgbouncer"] = pgbouncer
    context["command"] = " ".join(shlex.quote(a) for a in sys.argv) if sys.argv else ""
    return context


def write_report(
    directory: str,
    runs: Sequence[report.Run],
    context: dict[str, object],
    deploy: Sequence[dict[str, object]],
) -> list[str]:
    """The raw numbers (runs.csv, context.json, deploy.json), then the report rendered from them."""
    report.write_runs(os.path.join(directory, "runs.csv"), runs)
    with open(os.path.join(directory, "deploy.json"), "w", encoding="utf-8") as handle:
        json.dump(list(deploy), handle, indent=1)
    with open(os.path.join(directory, "context.json"), "w", encoding="utf-8") as handle:
        json.dump(context, handle, indent=1)
    return rebuild_report(directory)


def rebuild_report(directory: str) -> list[str]:
    """report.md and the plots from a results folder's raw numbers alone."""
    with open(os.path.join(directory, "context.json"), encoding="utf-8") as handle:
        context = json.load(handle)
    with open(os.path.join(directory, "deploy.json"), encoding="utf-8") as handle:
        deploy = json.load(handle)
    runs_csv = os.path.join(directory, "runs.csv")
    cells = report.summarize(report.read_runs(runs_csv))
    summary = os.path.join(directory, "report.md")
    with open(summary, "w", encoding="utf-8") as handle:
        handle.write(report.markdown(cells, report.headlines(cells), context, deploy))
    return [runs_csv, summary, *report.plots(cells, directory)]
