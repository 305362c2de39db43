"""The load bench's statistics and its service-level objective: lag percentiles, whether a step
passes, the most streams served within it, and the ladder of stream counts ``--find-max`` climbs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DEFAULT_LADDER_LIMIT = 64


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def lag_summary(values: Sequence[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "max": max(values) if values else None}


@dataclass(frozen=True)
class Slo:
    update_p95_s: float = 0.3
    eot_p95_s: float = 0.15

    def check(self, step: Mapping[str, Any]) -> list[str]:
        """Why a step fails the SLO (empty: it passes). Refusals are not failures."""
        why = []
        up = step["update_lag"]
        eot = step["eot_lag"]
        if not up["count"]:
            why.append("no Update lag measured")
        elif up["p95"] > self.update_p95_s:
            why.append(f"Update p95 {up['p95']:.3f}s > {self.update_p95_s}s")
        if eot["count"] and eot["p95"] > self.eot_p95_s:
            why.append(f"EndOfTurn p95 {eot['p95']:.3f}s > {self.eot_p95_s}s")
        if step["errors"]:
            why.append(f"{step['errors']} error(s)")
        if step["abnormal_closes"]:
            why.append(f"{step['abnormal_closes']} abnormal close(s)")
        return why


def max_within_slo(steps: Iterable[Mapping[str, Any]]) -> int:
    """The most streams that were admitted and served within the SLO at a passing step (a step
    where the server refused some at the handshake counts only the admitted ones)."""
    return max((int(s["streams"]) - int(s.get("refusals") or 0) for s in steps if s["pass"]), default=0)


def find_max_ladder(limit: int = DEFAULT_LADDER_LIMIT) -> list[int]:
    """1, 2, 4, 8, then +4 up to 32, then +8: the N tried by ``--find-max``."""
    out = [1, 2, 4, 8]
    while out[-1] < limit:
        out.append(out[-1] + (4 if out[-1] < 32 else 8))
    return [n for n in out if n <= limit]

