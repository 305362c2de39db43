"""Run a session's engine work at once, on the calling thread: tests, evaluation, file replay,
and the server's ``--scheduler inline`` baseline (each stream calling the models itself).

``run_requests`` is also what the scheduler's workers call for one batch: it groups requests by
engine and makes one batched call per engine.

``drive`` is the one in-process client: it feeds a stream's bytes to an ``InlineSession`` the way
a WebSocket client would send them (frames, control messages between them, ``CloseStream``), for
``turnscribe transcribe`` and every ``turnscribe eval``. ``RealTimeSchedule`` is the real-time
pacing it shares with the WebSocket sender (``turnscribe.client.sender``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

from turnscribe.core.eot import Cues
from turnscribe.core.session import Session, TurnPolicy
from turnscribe.core.work import EngineRequest, EngineResult, Value
from turnscribe.types.engine import AsrEngine, AsrRequest, Engines, TurnRequest, VadRequest
from turnscribe.wire.events import Event
from turnscribe.wire.messages import CLOSE_STREAM
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


def frames_of(data: bytes, frame_bytes: int) -> list[bytes]:
    """``data`` cut into wire frames of ``frame_bytes`` (the last one may be shorter)."""
    return [data[i:i + frame_bytes] for i in range(0, len(data), frame_bytes)]


class RealTimeSchedule:
    """Audio no faster than real time: the frame that starts ``s`` seconds into the stream is due
    ``s`` seconds after the schedule began (an absolute schedule, so a late frame does not push the
    ones after it back)."""

    def __init__(self, bytes_per_second: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.bytes_per_second = bytes_per_second
        self.clock = clock
        self.started_at = clock()
        self.sent_bytes = 0

    @property
    def audio_s(self) -> float:
        """Seconds of audio sent so far."""
        return self.sent_bytes / self.bytes_per_second

    def due_in(self) -> float:
        """Seconds until the next frame is due; negative when it is late by that much."""
        return self.started_at + self.audio_s - self.clock()

    def advance(self, nbytes: int) -> float:
        """Count a frame of ``nbytes`` as sent; returns the seconds of audio it held."""
        self.sent_bytes += nbytes
        return nbytes / self.bytes_per_second


def drive(session: InlineSession, frames: Iterable[bytes], *, on_events: Callable[[list[Event]], None],
          actions: Sequence[tuple[int, str]] = (), close: bool = True, realtime_bytes_per_second: float | None = None,
          on_fed: Callable[[int], None] | None = None) -> None:
    """Feed a stream to ``session`` as a client sends it, handing every batch of wire events to
    ``on_events`` in the order a server would send them.

    Args:
        frames: the stream's bytes, one WebSocket frame each.
        actions: (byte offset, text message): each text goes in before the first frame that starts
            at or after its offset; those past the end go in after the last frame.
        close: end with ``CloseStream`` (False: the stream just stops, as a vanished client's does).
        realtime_bytes_per_second: pace the frames at real time for this byte rate (None: as fast
            as the engines answer; the session decides on the audio clock either way).
        on_fed: called with each frame's size once it is in.

    Stops reading ``frames`` as soon as the session closes (an ``Error``): it would ignore the rest.
    """
    pending = sorted(actions)
    schedule = RealTimeSchedule(realtime_bytes_per_second) if realtime_bytes_per_second else None
    offset = 0
    on_events(session.events_to_send())
    for frame in frames:
        while pending and pending[0][0] <= offset:
            session.receive_text(pending.pop(0)[1])
        if schedule is not None:
            time.sleep(max(0.0, schedule.due_in()))
            schedule.advance(len(frame))
        session.receive_audio(frame)
        offset += len(frame)
        if on_fed is not None:
            on_fed(len(frame))
        on_events(session.events_to_send())
        if session.closed:
            return
    for _, text in pending:
        session.receive_text(text)
    if close:
        session.receive_text(CLOSE_STREAM)
    on_events(session.events_to_send())
