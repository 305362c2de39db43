"""Which scheduler lane each engine request goes to, and each lane's config and metrics label
(the table in runtime/lanes.py)."""

from __future__ import annotations

import numpy as np

from turnscribe.core.work import EngineRequest, Payload, WorkKind
from turnscribe.runtime.lanes import (
    PARTIAL_GATHER_S,
    PARTIAL_MAX_AGE_S,
    VAD_GATHER_S,
    Lane,
    lane_config,
    lane_of,
)
from turnscribe.types.engine import AsrRequest, TurnRequest, VadRequest


def request(payload: Payload, *, urgent: bool = True, multilingual: bool = False) -> EngineRequest:
    return EngineRequest("s", 0, 1, payload, urgent=urgent, multilingual=multilingual)


def asr(seconds: float, **kw: object) -> AsrRequest:
    return AsrRequest(np.zeros(int(seconds * 16000), np.float32), **kw)  # type: ignore[arg-type]


def test_vad_and_smart_turn_have_one_quick_lane_each() -> None:
    vad = lane_of(request(VadRequest(None, np.zeros(512, np.float32))))
    turn = lane_of(request(TurnRequest(np.zeros(1600, np.float32)), urgent=False))
    assert (vad, turn) == (Lane(WorkKind.VAD), Lane(WorkKind.TURN))
    assert (vad.engine, turn.engine) == ("vad", "turn")
    c = lane_config(vad)
    assert (c.priority, c.max_batch, c.max_wait_s, c.droppable) == (0, 64, VAD_GATHER_S, False)
    c = lane_config(turn)
    assert (c.priority, c.max_batch, c.max_wait_s, c.droppable) == (0, 16, 0.003, False)


def test_asr_lanes_by_role_window_and_urgency() -> None:
    final = lane_of(request(asr(2.0, final=True)))
    assert (final.kind, final.role, final.urgent, final.short, final.engine) == (
        WorkKind.ASR, "final", True, False, "asr_final")
    c = lane_config(final)
    assert (c.priority, c.max_batch, c.droppable) == (1, 8, False)

    partial = lane_of(request(asr(2.0, short_window=True), urgent=False))
    assert (partial.role, partial.short, partial.engine) == ("partial", True, "asr_partial")
    c = lane_config(partial)
    assert (c.priority, c.max_batch, c.max_wait_s, c.droppable, c.max_age_s) == (
        3, 8, PARTIAL_GATHER_S, True, PARTIAL_MAX_AGE_S)

    stale = lane_of(request(asr(2.0, short_window=True), urgent=True))  # its words are stale: not shed
    c = lane_config(stale)
    assert (c.priority, c.max_batch, c.droppable) == (1, 4, False)

    assert lane_of(request(asr(2.0, final=True), multilingual=True)).engine == "asr_multi"


def test_one_lane_per_window_class() -> None:
    a, b = lane_of(request(asr(2.0, final=True))), lane_of(request(asr(2.01, final=True)))
    longer = lane_of(request(asr(14.0, final=True)))  # past the 10 s minimum window
    assert a == b and hash(a) == hash(b) and len({a, b, longer}) == 2
    assert longer.window_s > a.window_s


def test_live_partials_share_coarser_window_classes_than_decisions_decodes() -> None:
    from turnscribe.engines.windows import window_seconds

    assert [window_seconds(d, short=True) for d in (0.5, 3.0, 3.1, 5.0, 5.5)] == [4.0, 4.0, 6.0, 6.0, 8.0]
    assert [window_seconds(d) for d in (3.0, 9.5, 12.0, 40.0)] == [10.0, 11.0, 13.0, 30.0]
    assert lane_of(request(asr(3.2, short_window=True))) == lane_of(request(asr(4.9, short_window=True)))
