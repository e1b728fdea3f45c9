"""Checks of the monitoring role's thresholds: each goes into PromQL, so each must be exactly a
number or a duration, never text that could add to an expression."""

from __future__ import annotations

import re
from collections.abc import Mapping

_DURATION = re.compile(r"[1-9][0-9]{0,5}(ms|s|m|h|d)")


def threshold_errors(thresholds: Mapping[str, object]) -> list[str]:
    """[] or one message per variable of ``thresholds`` (name: value) that cannot be used.

    Names ending in _for are durations, _ratio shares above 0 and at most 1, the others counts
    or seconds (whole numbers, 0 or more).
    """
    errors: list[str] = []
    for name, value in thresholds.items():
        text = str(value)
        if name.endswith("_for"):
            if not isinstance(value, str) or not _DURATION.fullmatch(text):
                errors.append(f"{name}: {value!r} is not a Prometheus duration such as 30s, 1m or 5m")
        elif name.endswith("_ratio"):
            try:
                share = float(text) if not isinstance(value, bool) else -1.0
            except ValueError:
                share = -1.0
            if not 0 < share <= 1:
                errors.append(f"{name}: {value!r} is not a share above 0 and at most 1 (0.8 is 80 %)")
        elif isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,9}", text):
            errors.append(f"{name}: {value!r} is not a whole number of 0 or more")
    return errors
