"""Turns, driven frame by frame by hand (no Session): starts, noise, ends, eager ends and resumes,
ForceEndTurn, and the tick cadence. Engine answers are scripted per request."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from core_parts import words

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.framing import FRAME
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.turn import Turns
from turnscribe.core.waits import Step
from turnscribe.core.work import EngineRequest
from turnscribe.types.engine import AsrRequest, AsrResult, TurnRequest, Word
from turnscribe.wire.events import Event, TurnEvent, TurnInfo, Warning
from turnscribe.wire.params import ListenParams, Thresholds

CHUNK = 512
HELLO = words(("Hello", 0.5, 0.9), ("there.", 0.9, 1.3))


class Rig:
    """One stream's Turns with hand-fed frames; ASR answers ``said`` (words within the window),
    Smart Turn answers ``p_complete``."""

    def __init__(self, params: ListenParams | None = None, policy: TurnPolicy | None = None,
                 said: tuple[Word, ...] = HELLO, p_complete: float = 0.95) -> None:
        self.work = WorkLedger("t")
        pol = policy or TurnPolicy()
        self.act = SpeechActivity(pol.activity, CHUNK)
        self.events: list[Event] = []
        self.turns = Turns(params or ListenParams(), pol, self.work, self.act, self.events)
        self.said, self.p_complete = said, p_complete
        self.asked: list[EngineRequest] = []

    def answer(self, req: EngineRequest) -> AsrResult | float:
        if isinstance(req.payload, TurnRequest):
            return self.p_complete
        assert isinstance(req.payload, AsrRequest)
        end = req.payload.offset + len(req.payload.audio) / 16000
        return AsrResult(words=tuple(w for w in self.said if w.end <= end + 1e-6))

    def run(self, step: Step[None]) -> None:
        while True:
            try:
                next(step)
            except StopIteration:
                return
            for req in self.work.take_requests():
                self.asked.append(req)
                self.work.file(req.answer(self.answer(req)))

    def frames(self, seconds: float, *, speech: bool, between: Callable[[], None] | None = None) -> None:
        for _ in range(round(seconds / 0.08)):
            t = (self.act.received + np.arange(FRAME)) / 16000
            self.act.push((0.2 * np.sin(2 * np.pi * 220 * t) if speech else np.zeros(FRAME)).astype(np.float32))
            self.act.advance(FRAME)
            done = self.act.clock // CHUNK - self.act.vad_requested // CHUNK
            self.act.vad_answered(np.full(done, 0.9 if speech else 0.1, dtype=np.float32))
            self.act.vad_asked(self.act.clock // CHUNK * CHUNK)
            if self.act.apply_vad(turn_active=self.turns.active):
                self.turns.on_speech()
            self.run(self.turns.frame())
            if between is not None:
                between()

    def infos(self) -> list[TurnInfo]:
        return [e for e in self.events if isinstance(e, TurnInfo)]

    def names(self) -> list[str]:
        return [e.event.value for e in self.infos() if e.event is not TurnEvent.UPDATE]


def test_a_turn_starts_with_words_and_ends_in_the_pause_after_it():
    rig = Rig()
    rig.frames(0.48, speech=False)
    rig.frames(0.96, speech=True)
    rig.frames(1.2, speech=False)
    assert rig.names() == ["StartOfTurn", "EndOfTurn"]
    start, end = (e for e in rig.infos() if e.event is not TurnEvent.UPDATE)
    assert start.words and end.transcript == "Hello there."
    assert rig.turns.machine.turn_index == 1 and rig.work.generation == 1
    assert any(isinstance(r.payload, TurnRequest) for r in rig.asked), "Smart Turn was asked in the pause"


def test_one_turninfo_per_tick_and_an_end_replaces_its_ticks_update():
    rig = Rig()
    rig.frames(0.48, speech=False)
    rig.frames(0.96, speech=True)
    rig.frames(1.2, speech=False)
    ends = [e.audio_window_end for e in rig.infos()]
    assert len(ends) == len(set(ends))
    ticks = [round(t / 0.24, 6) for t in ends if abs(t / 0.24 - round(t / 0.24)) < 1e-6]
    assert len(ticks) == len(ends) - 1, "only the EndOfTurn is off-tick, and its tick sends no Update"


def test_speech_without_words_starts_no_turn():
    rig = Rig(said=())
    rig.frames(0.24, speech=False)
    rig.frames(0.48, speech=True)
    rig.frames(1.44, speech=False)
    assert any(isinstance(r.payload, AsrRequest) for r in rig.asked), "a start was attempted"
    assert rig.names() == [] and rig.turns.transcriber.transcript is None
    assert all(e.transcript == "" and e.end_of_turn_confidence == 0 for e in rig.infos())


def test_eager_end_then_resume_then_end():
    said = words(("I", 0.5, 0.6), ("want", 0.6, 0.9), ("that.", 0.9, 1.2), ("The", 1.9, 2.1), ("blue", 2.1, 2.3),
                 ("one.", 2.3, 2.6))
    th = Thresholds(eot_threshold=0.99, eager_eot_threshold=0.3, eot_timeout_ms=1500)
    rig = Rig(ListenParams(thresholds=th), said=said)
    rig.frames(0.48, speech=False)
    rig.frames(0.8, speech=True)   # 0.48 .. 1.28
    rig.frames(0.56, speech=False)
    rig.frames(1.2, speech=True)   # 1.84 .. 3.04
    rig.frames(2.0, speech=False)
    assert rig.names() == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed", "EagerEndOfTurn", "EndOfTurn"]
    eager, end = [e for e in rig.infos() if e.event in (TurnEvent.EAGER_END_OF_TURN, TurnEvent.END_OF_TURN)][-2:]
    assert end.transcript == eager.transcript == "I want that. The blue one."


def test_force_end_ends_an_active_turn_and_warns_otherwise():
    rig = Rig()
    rig.run(rig.turns.force_end())
    assert isinstance(rig.events[-1], Warning)
    rig.frames(0.48, speech=False)
    rig.frames(0.72, speech=True)
    rig.run(rig.turns.force_end())
    end = rig.infos()[-1]
    assert end.event is TurnEvent.END_OF_TURN and end.trigger is not None and end.trigger.value == "manual"
    assert not rig.turns.active


def test_the_final_tick_reports_the_turns_text_without_ending_it():
    rig = Rig()
    rig.frames(0.48, speech=False)
    rig.frames(0.96, speech=True)
    rig.run(rig.turns.tick(final=True))
    last = rig.infos()[-1]
    assert last.event is TurnEvent.UPDATE and last.transcript == "Hello there." and rig.turns.active
