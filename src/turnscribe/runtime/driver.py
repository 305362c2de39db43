"""Run a session's engine work at once, on the calling thread: tests, evaluation, file replay,
and the server's ``--scheduler inline`` baseline (each stream calling the models itself).

``run_requests`` is also what the scheduler's workers call for one batch: it groups requests by
engine and makes one batched call per engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnscribe.core.eot import Cues
from turnscribe.core.session import Session, TurnPolicy
from turnscribe.core.work import EngineRequest, EngineResult, Value
from turnscribe.types.engine import AsrEngine, AsrRequest, Engines, TurnRequest, VadRequest
from turnscribe.wire.events import Event
from turnscribe.wire.params import ListenParams


def run_requests(engines: Engines, requests: Sequence[EngineRequest]) -> list[EngineResult]:
    """Answer every request (one batched call per engine); results in request order."""
    values: list[Value | None] = [None] * len(requests)
    vad = [i for i, r in enumerate(requests) if isinstance(r.payload, VadRequest)]
    if vad:
        probs = engines.vad.process([requests[i].payload for i in vad])  # type: ignore[misc]
        for i, p in zip(vad, probs, strict=True):
            values[i] = p
    asr_groups: dict[int, tuple[AsrEngine, list[int]]] = {}
    for i, r in enumerate(requests):
        if isinstance(r.payload, AsrRequest):
            engine = engines.asr_for(r.multilingual)
            asr_groups.setdefault(id(engine), (engine, []))[1].append(i)
    for engine, idx in asr_groups.values():
        batch = [requests[i].payload for i in idx]
        for i, res in zip(idx, engine.transcribe(batch), strict=True):  # type: ignore[arg-type]
            values[i] = res
    turn = [i for i, r in enumerate(requests) if isinstance(r.payload, TurnRequest)]
    if turn:
        scores = engines.turn.score([requests[i].payload for i in turn])  # type: ignore[misc]
        for i, score in zip(turn, scores, strict=True):
            values[i] = float(score)
    return [r.answer(v) for r, v in zip(requests, values, strict=True)]


class InlineSession:
    """A ``Session`` whose work is done synchronously inside every call (same surface as the
    session, plus the engines): after each input, every request is answered at once."""

    def __init__(self, params: ListenParams, engines: Engines, *, policy: TurnPolicy | None = None,
                 stream_id: str = "inline") -> None:
        self.engines = engines
        self.session = Session(params, vad_state=engines.vad.new_state(), vad_chunk=engines.vad.chunk_samples,
                               policy=policy, stream_id=stream_id)
        self.work_batches = 0

    # the session's surface -------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self.session.closed

    @property
    def now(self) -> float:
        return self.session.now

    @property
    def params(self) -> ListenParams:
        return self.session.params

    @property
    def policy(self) -> TurnPolicy:
        return self.session.policy

    @property
    def trace(self) -> list[tuple[float, Cues]]:
        return self.session.trace

    def events_to_send(self) -> list[Event]:
        return self.session.events_to_send()

    def receive_audio(self, data: bytes) -> None:
        self.session.receive_audio(data)
        self._work()

    def receive_text(self, text: str) -> None:
        self.session.receive_text(text)
        self._work()

    def receive_eof(self) -> None:
        self.session.receive_eof()
        self._work()

    def _work(self) -> None:
        while True:
            self.session.take_abandoned()  # every answer is already in: nothing queued to drop
            work = self.session.pending_work()
            if not work:
                return
            self.work_batches += 1
            for res in run_requests(self.engines, work):
                self.session.deliver(res)
