"""Engine work the session asks for, and the answers it takes back (sans-I/O).

The session never calls a model. It queues ``EngineRequest``s (``Session.pending_work``); whoever
drives it (the server's scheduler, or ``engines.inline`` in tests and evaluation) runs them, in any
batches, and hands back one ``EngineResult`` per request (``Session.deliver``). Each request is
tagged with its stream, a *generation* (bumped at every turn end, so a late answer about an ended
turn is recognised and dropped) and a per-stream sequence number.

``urgent`` requests gate a decision (VAD, Smart Turn, the decode at a pause or turn start): the
session's decision clock waits for them. Best-effort requests (live partials while the user
speaks) may be dropped by the scheduler under load: their result's ``value`` is then ``None``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turnscribe.types.engine import AsrRequest, AsrResult, TurnRequest, VadRequest


class WorkKind(enum.Enum):
    VAD = "vad"
    ASR = "asr"
    TURN = "turn"


Payload = VadRequest | AsrRequest | TurnRequest
Value = npt.NDArray[np.float32] | AsrResult | float


@dataclass(frozen=True, slots=True)
class EngineRequest:
    stream_id: str
    generation: int
    seq: int
    payload: Payload
    urgent: bool = True
    multilingual: bool = False   # ASR only: the stream is flux-general-multi

    @property
    def kind(self) -> WorkKind:
        if isinstance(self.payload, VadRequest):
            return WorkKind.VAD
        if isinstance(self.payload, AsrRequest):
            return WorkKind.ASR
        return WorkKind.TURN

    def answer(self, value: Value | None) -> EngineResult:
        return EngineResult(self.stream_id, self.generation, self.seq, value)


@dataclass(frozen=True, slots=True)
class EngineResult:
    """``value``: VAD probabilities per chunk, an ``AsrResult``, a Smart Turn probability, or
    ``None`` when the scheduler dropped a best-effort request."""

    stream_id: str
    generation: int
    seq: int
    value: Value | None
