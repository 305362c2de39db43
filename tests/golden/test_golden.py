"""Golden traces: every case's wire messages, through the in-process driver with the real models,
equal the committed fixture line for line (golden_cases.py says what the cases are and when the
fixture may be regenerated)."""

from __future__ import annotations

import json

import pytest
from golden_cases import CASES, Case, run_case, trace_path

pytestmark = pytest.mark.model


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_golden_trace(case: Case, shared, real_engines) -> None:
    want = trace_path(case).read_text(encoding="utf-8").splitlines()
    got = run_case(case, shared, real_engines)
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        assert a == b, f"message {i} differs:\n got  {a}\n want {b}"
    assert len(got) == len(want)


def test_the_cases_cover_the_protocol() -> None:
    """The fixture holds what it is meant to: turn events of every kind, control-message answers,
    both models, and no Error."""
    kinds: set[str] = set()
    events: set[str] = set()
    for case in CASES:
        for line in trace_path(case).read_text(encoding="utf-8").splitlines():
            doc = json.loads(line)
            kinds.add(doc["type"])
            if doc["type"] == "TurnInfo":
                events.add(doc["event"])
    assert {"Connected", "TurnInfo", "ConfigureSuccess", "ConfigureFailure", "Warning"} <= kinds
    assert "Error" not in kinds
    assert {"Update", "StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EndOfTurn"} <= events
