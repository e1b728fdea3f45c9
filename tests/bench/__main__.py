"""make bench: deploy the benchmark's hosts with site.yml, run the plan, write the report.

python -m tests.bench                 the whole run (about 15 minutes here)
python -m tests.bench --reuse --keep  against hosts already deployed, and leave them up
python -m tests.bench --deploy-only lab tests/lab/inventory
                                      deploy timings of another scenario (from no containers)
python -m tests.bench --reuse --keep --watching-only
                                      only the cost of watching (exporter stopped, then scraped)
python -m tests.bench --fleet 1,5,10,20
                                      deploy timings at fleet size (tests/bench/fleet.py)
python -m tests.bench --soak [--minutes 15] [--reuse] [--keep]
                                      the soak of a 2-process per_host pooler (tests/bench/soak.py)
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import time

from tests.bench import fleet, harness, soak

SCENARIO, INVENTORY = "bench", "tests/bench/inventory"


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="tests/bench/results", help="where the dated results folder goes")
    parser.add_argument("--reuse", action="store_true", help="measure the hosts as they are: no (re)deploy")
    parser.add_argument("--keep", action="store_true", help="leave the containers up afterwards")
    parser.add_argument("--repeats", type=int, default=harness.FULL_PLAN.repeats)
    parser.add_argument(
        "--seconds", type=int, default=harness.FULL_PLAN.seconds, help="measured seconds per run"
    )
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    parser.add_argument("--deploy-only", nargs=2, metavar=("SCENARIO", "INVENTORY"))
    parser.add_argument(
        "--watching-only", action="store_true", help="only the runs with the exporter stopped, then scraped"
    )
    parser.add_argument(
        "--rebuild", metavar="DIRECTORY", help="rewrite a results folder's report from its raw numbers"
    )
    parser.add_argument("--fleet", metavar="SIZES", help="pooler host counts, comma-separated (1 to 20)")
    parser.add_argument(
        "--soak", action="store_true", help="the soak instead of the runs (tests/bench/soak.py)"
    )
    parser.add_argument("--minutes", type=float, default=15.0, help="the soak's length")
    args = parser.parse_args()
    if args.rebuild:
        harness.log("written: " + ", ".join(harness.rebuild_report(args.rebuild)))
        return

    started = time.monotonic()
    if args.fleet:
        directory = harness.results_directory(args.out, "-fleet")
        harness.log(f"== results: {directory}")
        rows = fleet.fleet_timings(directory, [int(size) for size in args.fleet.split(",")])
        written = fleet.fleet_report(rows, directory, harness.machine())
        harness.log(f"== written in {time.monotonic() - started:.0f} s: " + ", ".join(written))
        return
    if args.soak:
        run_soak(args, started)
        return
    suffix = f"-deploy-{args.deploy_only[0]}" if args.deploy_only else ""
    directory = harness.results_directory(args.out, suffix)
    harness.log(f"== results: {directory}")
    if args.deploy_only:
        scenario, inventory = args.deploy_only
        rows = harness.deploy_timings(scenario, inventory, directory)
        for row in rows:
            harness.log(f"{row['step']}: {row['seconds']} s, {row['hosts']} hosts, changed {row['changed']}")
        harness.write_report(
            directory, [], {"date": directory.rsplit("/", 1)[-1], "scenario": scenario}, rows
        )
        return

    plan = dataclasses.replace(harness.FULL_PLAN, repeats=args.repeats, seconds=args.seconds)
    deploy: list[dict[str, object]] = []
    try:
        if not args.reuse:
            harness.log("== deploy: containers, then site.yml cold, re-run and --check (timed)")
            deploy = harness.deploy_timings(SCENARIO, INVENTORY, directory)
            for row in deploy:
                harness.log(f"   {row['step']}: {row['seconds']} s, changed {row['changed']}")
        setup = harness.container_setup()
        harness.log(f"== data: pgbench --initialize --scale={args.scale}")
        harness.prepare_data(setup, args.scale, ["bench"])
        runs = []
        if not args.watching_only:
            harness.log(f"== runs: {len(plan.runs(setup.available()))} planned")
            runs = harness.run_plan(setup, plan)
        harness.log(
            f"== watching: {harness.WATCH_REPEATS} x {len(harness.WATCH_STATES)} runs of {harness.WATCH_SECONDS} s"
        )
        runs += harness.watching_runs(setup)
        # The method line describes the runs the report holds.
        measured = (
            dataclasses.replace(plan, seconds=harness.WATCH_SECONDS, repeats=harness.WATCH_REPEATS)
            if args.watching_only
            else plan
        )
        context = harness.machine_context(setup, measured)
        written = harness.write_report(directory, runs, context, deploy)
    finally:
        if not args.keep:
            subprocess.run(
                ["molecule", "destroy", "-s", SCENARIO], capture_output=True, check=False, timeout=600
            )
    harness.log("")
    with open(f"{directory}/report.md", encoding="utf-8") as handle:
        text = handle.read()
    heading = "## Cost of watching" if args.watching_only else "## Headline ratios"
    start = text.index(heading)
    end = text.find("\n## ", start + 5)
    harness.log(text[start : end if end != -1 else len(text)])
    harness.log(f"== written in {time.monotonic() - started:.0f} s: " + ", ".join(written))


def run_soak(args: argparse.Namespace, started: float) -> None:
    """Deploy the bench's hosts (unless --reuse), soak app2, write the results, remove the hosts."""
    directory = harness.results_directory(args.out, "-soak")
    harness.log(f"== results: {directory}")
    try:
        if not args.reuse:
            harness.log("== deploy: containers, then site.yml")
            subprocess.run(
                ["molecule", "destroy", "-s", SCENARIO], capture_output=True, check=False, timeout=600
            )
            harness.timed(
                "molecule create", ["molecule", "create", "-s", SCENARIO], f"{directory}/create.log"
            )
            harness.timed(
                # The database host and app2 only: the soak uses no other.
                "site.yml",
                [
                    "ansible-playbook",
                    "-i",
                    INVENTORY,
                    "--limit",
                    f"pgbouncer_postgresql:{harness.APP2}",
                    "site.yml",
                ],
                f"{directory}/deploy.log",
            )
        setup = harness.container_setup()
        harness.prepare_data(setup, args.scale, ["bench"])
        harness.log(f"== soak: {args.minutes:g} minutes through {harness.APP2}")
        samples, rounds, cancels, restart = soak.soak(args.minutes, directory)
        written = soak.write(directory, samples, rounds, cancels, restart, args.minutes)
    finally:
        if not args.keep:
            subprocess.run(
                ["molecule", "destroy", "-s", SCENARIO], capture_output=True, check=False, timeout=600
            )
    with open(f"{directory}/soak.md", encoding="utf-8") as handle:
        text = handle.read()
    harness.log(text)
    harness.log(f"== written in {time.monotonic() - started:.0f} s: " + ", ".join(written))
    if "**Held.**" not in text:
        raise SystemExit("the soak broke a bound: see " + f"{directory}/soak.md")


if __name__ == "__main__":
    main()
