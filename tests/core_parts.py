"""Helpers for the unit tests of the core's parts (tests/core): a session's parts wired together by
hand over audio whose speech the test decides, and running a part of the decision step by hand."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcriber import Transcriber
from turnscribe.core.waits import Step, Wait
from turnscribe.core.work import EngineRequest, EngineResult
from turnscribe.types.engine import AsrResult, Word
from turnscribe.wire.params import ListenParams

CHUNK = 512  # 32 ms


class Parts:
    def __init__(self, policy: TurnPolicy | None = None) -> None:
        self.policy = policy or TurnPolicy()
        self.params = ListenParams()
        self.work = WorkLedger("t")
        self.activity = SpeechActivity(self.policy.activity, CHUNK)
        self.transcriber = Transcriber(self.policy.window)

    def audio(self, seconds: float, *, speech: bool) -> None:
        """Push and decide on ``seconds`` of audio (a whole number of chunks), speech or not."""
        n = round(seconds * 16000 / CHUNK)
        t = np.arange(n * CHUNK) / 16000
        self.activity.push((np.sin(2 * np.pi * 220 * t) * (0.2 if speech else 0.0)).astype(np.float32))
        self.activity.vad_answered(np.full(n, 0.9 if speech else 0.1, dtype=np.float32))
        self.activity.advance(n * CHUNK)
        self.activity.apply_vad(turn_active=self.transcriber.active)

    def answer(self, request: EngineRequest, value: AsrResult | float) -> None:
        assert self.work.file(EngineResult("t", request.generation, request.seq, value))


def words(*spec: tuple[str, float, float]) -> tuple[Word, ...]:
    return tuple(Word(t, a, b, 0.9) for t, a, b in spec)

T = TypeVar("T")


class Waiting(Exception):
    def __init__(self, wait: Wait) -> None:
        super().__init__(wait)
        self.wait = wait


def finish(step: Step[T]) -> T:
    """Run ``step`` to its end; raises ``Waiting`` with the wait if it needs what is not there
    (call again with the same generator, once the answer is in, to resume it where it waited)."""
    try:
        wait = next(step)
    except StopIteration as done:
        return done.value
    raise Waiting(wait)
