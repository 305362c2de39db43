"""Where a session's engine work runs: the shared batching scheduler, or inline (the baseline).

``BatchedWork`` turns each ``EngineRequest`` into a scheduler job on a *lane* — one per engine,
window class and urgency — so a batch always holds requests of one model and one input shape:

===================================  ========  =========  ==========  =====================
lane                                 priority  max batch  max wait    under load
===================================  ========  =========  ==========  =====================
VAD (every frame's speech decision)  0         64         4 ms        never dropped
Smart Turn                           0         16         3 ms        never dropped
decodes a decision needs             1         8          5 ms        never dropped
live partial of a stale transcript   1         4          5 ms        never dropped
live partials                        3         8          50 ms       shed when stale,
                                                                      superseded by newer
===================================  ========  =========  ==========  =====================

Workers: one takes only urgent lanes (priority <= 1), one takes anything, and one more takes only
VAD and Smart Turn, so those few-millisecond steps never wait behind a 0.2 s Whisper decode. A
partial starts only while no urgent decode runs (``best_effort_alone``): on two cores a partial
beside a decision's decode would take half its core. Measured with ``bench load`` (40 s per
stream, continuous speech, 8 / 10 / 12 streams), Update lag p95: without the quick worker
0.61 / 1.44 / 3.15 s; with it 0.34 / 0.51 / 1.18 s; partials alone 0.19 / 0.34 / 0.70 s (with ~10 %
more partials shed); partials shed at 0.12 s and batched by at most 4, 0.10 / 0.20 / 0.39 s.

Partials are best-effort: a newer partial of the same stream replaces a queued older one, and a
partial that waited longer than ``PARTIAL_MAX_AGE_S`` is shed (the session then simply keeps its
last words), so the partial cadence falls with load instead of the decisions getting late.

``InlineWork`` runs every request of a session at once on the executor, one session at a time, as
the server did before the scheduler: the baseline ``turnscribe bench load`` compares against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Protocol

from turnscribe.core.work import EngineRequest, EngineResult, WorkKind
from turnscribe.engines.cputime import thread_cpu_s
from turnscribe.engines.windows import window_seconds
from turnscribe.runtime.driver import run_requests
from turnscribe.runtime.metrics import Metrics
from turnscribe.runtime.scheduler import Batch, Dropped, Job, LaneConfig, WorkerPool
from turnscribe.types.engine import SAMPLE_RATE, AsrRequest, Engines

# A partial is applied 240 ms after it is asked for (the session's partial_slack_s), and the stream
# waits for it then: one that has waited this long in the queue would come back late and stall the
# stream, so it is shed instead (the stream's cadence then stretches, core/decodes.py).
PARTIAL_MAX_AGE_S = 0.15
# A partial lane waits this long to gather several streams' partials into one call: the decoder's
# steps cost about the same for 4 rows as for 1 (they read the whole vocabulary projection), so
# tiny.en decodes a batch of 4 at about half the CPU per partial of 4 decoded alone.
PARTIAL_GATHER_S = 0.05
# VAD asks are a few ms apart across streams: a few ms gathers them (one ONNX call per chunk
# position for all of them, ~40 instead of ~80 us per chunk); a frame's decision waits that long.
VAD_GATHER_S = 0.004
QUICK_PRIORITY = 0   # VAD and Smart Turn: a few ms each, on a worker of their own
URGENT_PRIORITY = 1

# called on the event loop, as a loop callback: it must not raise (asyncio would only print the
# exception, and the stream would never hear of it; the server's Stream.deliver guards itself)
Deliver = Callable[[EngineResult | BaseException], None]


class Work(Protocol):
    @property
    def stalled(self) -> int:
        """Engine calls given up on that still hold a thread (the server reports itself unready)."""
        ...

    def longest_stall_s(self) -> float:
        """Seconds the oldest of those calls has run (a call that never returns: restart the process)."""
        ...

    def submit(self, requests: Sequence[EngineRequest], deliver: Deliver) -> None: ...

    def cancel(self, stream_id: str, seqs: Collection[int] | None = None) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Lane:
    """What may share a batch: one engine, one input shape (window class), one urgency. Frozen and
    hashable: the scheduler keys its queues on it. VAD and Smart Turn have one lane each."""

    kind: WorkKind
    role: str = ""          # ASR: "final", "partial" or "multi" (flux-general-multi's model)
    window_s: float = 0.0   # ASR: the padded window class the audio is decoded in
    urgent: bool = False    # ASR: a decision waits for it (or its stream's words are stale)
    short: bool = False     # ASR: a short (partial) window

    @property
    def engine(self) -> str:
        """The metrics label: ``vad``, ``turn`` or ``asr_<role>``."""
        return f"asr_{self.role}" if self.kind is WorkKind.ASR else self.kind.value


def lane_of(req: EngineRequest) -> Lane:
    if req.kind is not WorkKind.ASR:
        return Lane(req.kind)
    assert isinstance(req.payload, AsrRequest)
    asr = req.payload
    role = "multi" if req.multilingual else ("final" if asr.final else "partial")
    window = window_seconds(len(asr.audio) / SAMPLE_RATE, short=asr.short_window, final=asr.final)
    return Lane(WorkKind.ASR, role, window, urgent=req.urgent, short=asr.short_window)


def lane_config(lane: Hashable) -> LaneConfig:
    assert isinstance(lane, Lane)
    if lane.kind is WorkKind.VAD:
        return LaneConfig(priority=QUICK_PRIORITY, max_batch=64, max_wait_s=VAD_GATHER_S, capacity=8192)
    if lane.kind is WorkKind.TURN:
        return LaneConfig(priority=QUICK_PRIORITY, max_batch=16, max_wait_s=0.003, capacity=2048)
    if lane.urgent and lane.short:  # a live partial that may not be shed (its stream's words are stale)
        return LaneConfig(priority=URGENT_PRIORITY, max_batch=4, max_wait_s=0.005, capacity=2048)
    if lane.urgent:  # a decode a decision waits for
        return LaneConfig(priority=URGENT_PRIORITY, max_batch=8, max_wait_s=0.005, capacity=2048)
    return LaneConfig(priority=3, max_batch=8, max_wait_s=PARTIAL_GATHER_S, capacity=1024, droppable=True,
                      max_age_s=PARTIAL_MAX_AGE_S)


def _engine_label(lane: Hashable) -> str:
    assert isinstance(lane, Lane)
    return lane.engine


class BatchedWork:
    """One ``WorkerPool`` for every stream; results come back on the event loop."""

    def __init__(self, engines: Engines, loop: asyncio.AbstractEventLoop, *, threads: int,
                 metrics: Metrics, stall_s: float | None = None) -> None:
        """``stall_s``: an engine call running longer fails its streams (Error + 1011) and its
        worker is replaced (runtime/scheduler/pool.py)."""
        self._engines = engines
        self._loop = loop
        self._metrics = metrics
        # one worker is kept for urgent work (VAD, Smart Turn, decisions' decodes), so partials use
        # at most the other core(s) and never delay a decision by a whole partial batch
        self._pool: WorkerPool[EngineRequest, EngineResult] = WorkerPool(
            lane_config, self._run, threads=threads, on_batch=self._observe,
            reserved=1 if threads > 1 else 0, reserved_priority=URGENT_PRIORITY,
            quick=1, quick_priority=QUICK_PRIORITY, best_effort_alone=True, stall_s=stall_s)

    @property
    def stalled(self) -> int:
        """Engine calls given up on that still hold a thread (the server reports itself unready)."""
        return self._pool.stalled

    def longest_stall_s(self) -> float:
        return self._pool.longest_stall_s()

    def _run(self, batch: Batch[EngineRequest]) -> Sequence[EngineResult]:
        cpu = thread_cpu_s()
        try:
            return run_requests(self._engines, [j.payload for j in batch.jobs])
        finally:
            self._metrics.add_engine_cpu(_engine_label(batch.lane), thread_cpu_s() - cpu)

    def _observe(self, batch: Batch[EngineRequest], seconds: float) -> None:
        label = _engine_label(batch.lane)
        self._metrics.observe_batch(label, len(batch.jobs), seconds)
        depth = sum(n for lane, n in self._pool.depths().items() if _engine_label(lane) == label)
        self._metrics.set_queue_depth(label, depth)

    def submit(self, requests: Sequence[EngineRequest], deliver: Deliver) -> None:
        loop = self._loop

        def done(job: Job[EngineRequest], outcome: EngineResult | Dropped | BaseException) -> None:
            if isinstance(outcome, Dropped):
                self._metrics.job_dropped(_engine_label(job.lane), outcome.reason)
                value: EngineResult | BaseException = job.payload.answer(None)
            else:
                value = outcome
            loop.call_soon_threadsafe(deliver, value)

        for req in requests:
            lane = lane_of(req)
            key = (req.stream_id, "partial") if not req.urgent else None
            self._pool.submit(Job(lane, req.stream_id, req.generation, req, supersede_key=key, tag=req.seq),
                              done)

    def cancel(self, stream_id: str, seqs: Collection[int] | None = None) -> None:
        """Drop the stream's queued work: all of it, or the requests ``seqs`` (abandoned by it)."""
        self._pool.cancel(stream_id, tags=None if seqs is None else set(seqs))

    def close(self) -> None:
        self._pool.close(timeout=5.0)


class InlineWork:
    """Each session's requests run together on the executor, as soon as it asks (no sharing)."""

    def __init__(self, engines: Engines, loop: asyncio.AbstractEventLoop, executor: Executor,
                 metrics: Metrics) -> None:
        self._engines = engines
        self._loop = loop
        self._executor = executor
        self._metrics = metrics

    def _run(self, requests: Sequence[EngineRequest]) -> list[EngineResult]:
        t0, cpu = time.perf_counter(), thread_cpu_s()
        try:
            return run_requests(self._engines, requests)
        finally:
            self._metrics.observe_batch("inline", len(requests), time.perf_counter() - t0)
            self._metrics.add_engine_cpu("inline", thread_cpu_s() - cpu)

    def submit(self, requests: Sequence[EngineRequest], deliver: Deliver) -> None:
        fut = self._loop.run_in_executor(self._executor, self._run, list(requests))

        def finished(f: asyncio.Future[list[EngineResult]]) -> None:
            if f.cancelled():
                return
            exc = f.exception()
            if exc is not None:
                deliver(exc)
                return
            for res in f.result():
                deliver(res)

        fut.add_done_callback(finished)

    stalled = 0  # calls run on the executor unwatched: none is ever given up on

    def longest_stall_s(self) -> float:
        return 0.0

    def cancel(self, stream_id: str, seqs: Collection[int] | None = None) -> None:
        pass

    def close(self) -> None:
        pass
