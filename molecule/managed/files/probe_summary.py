"""Test bed only: sum up a probe log (switchover_rehearsed.yml). Each line: START END ok ADDRESS, or
START END fail MESSAGE (times in seconds since the epoch). Argument: the moment the switch-over was
over (the name moved, or the playbook ended), same clock. Prints JSON: probes, failed, the window
from the first failed probe's start to the last one's end, the longest probe, the addresses that
answered in the order they first did, and, of the probes started after that moment, how many
reached each address."""

from __future__ import annotations

import json
import sys


def summary(lines: list[str], moved_at: float) -> dict[str, object]:
    probes, failures, addresses, longest = 0, [], [], 0.0
    after: dict[str, int] = {}
    for line in lines:
        parts = line.split(maxsplit=3)
        if len(parts) < 3 or parts[2] not in ("ok", "fail"):
            continue
        start, end = float(parts[0]), float(parts[1])
        probes += 1
        longest = max(longest, end - start)
        text = parts[3].strip() if len(parts) > 3 else ""
        if parts[2] == "fail":
            failures.append((start, end, text))
            continue
        if text not in addresses:
            addresses.append(text)
        if start > moved_at:
            after[text] = after.get(text, 0) + 1
    return {
        "probes": probes,
        "failed": len(failures),
        "failed_window": round(failures[-1][1] - failures[0][0], 2) if failures else 0.0,
        "longest": round(longest, 2),
        "addresses": addresses,
        "after": after,
        "errors": sorted({message[:120] for _start, _end, message in failures})[:5],
    }


if __name__ == "__main__":
    print(json.dumps(summary(sys.stdin.read().splitlines(), float(sys.argv[1]))))
