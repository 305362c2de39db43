"""Worker threads that take batches from a ``Batcher`` and run them, delivering one outcome per job.

The invariants this module owns:

* Every submitted job's ``done`` is called exactly once: with its result, with ``Dropped(reason)`` if it will
  never run (superseded, shed, cancelled, closed), or with the exception its batch raised. Submitters can
  therefore wait on ``done`` without a timeout of their own. A job already running when it is cancelled or
  the pool closes still gets its real result.
* The lock guards only the batcher and the callback table; it is never held while the runner or a ``done``
  callback runs, so batches run in parallel and callbacks may submit or cancel freely.
* Idle workers sleep on a condition until the batcher's next deadline (no polling); a submit wakes one, and
  a worker that takes a batch while work remains wakes another, so a queued job never waits on a sleeping
  worker that has a stale deadline. With a fake clock, time passing is invisible to the waits: call
  ``kick()`` after advancing it.
* Workers may be limited to lanes up to a priority (reserved and quick workers), and best-effort lanes
  may be held back while an urgent batch runs (``best_effort_alone``); stale best-effort jobs are still
  shed on time, since every wait honours every lane's expiry.
* A failing runner or callback never kills a worker: runner errors go to that batch's jobs, callback errors
  are logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from .batcher import Batch, Batcher, Job, LaneConfig

P = TypeVar("P")
R = TypeVar("R")

log = logging.getLogger("turnscribe.scheduler")

CLOSED = "closed"


@dataclass(frozen=True)
class Dropped:
    """The outcome of a job that will never run."""

    reason: str


Done: TypeAlias = Callable[[Job[P], R | Dropped | BaseException], None]
_Outcome: TypeAlias = tuple[Job[P], Done[P, R], R | Dropped | BaseException]


class WorkerPool(Generic[P, R]):
    def __init__(
        self,
        lanes: Callable[[Hashable], LaneConfig],
        runner: Callable[[Batch[P]], Sequence[R]],
        *,
        threads: int = 2,
        clock: Callable[[], float] = time.monotonic,
        on_batch: Callable[[Batch[P], float], None] | None = None,
        reserved: int = 0,
        reserved_priority: int = 0,
        quick: int = 0,
        quick_priority: int = 0,
        best_effort_alone: bool = False,
    ) -> None:
        """``reserved`` of the ``threads`` workers only take lanes of priority <= ``reserved_priority``:
        urgent work always finds a worker that is not busy with best-effort work. ``quick`` more
        workers (beyond ``threads``) only take lanes of priority <= ``quick_priority``: short,
        frequent work (a VAD step, a turn score) never queues behind a long decode, whichever
        workers those hold."""
        if threads < 1:
            raise ValueError("threads must be at least 1")
        if not 0 <= reserved < threads:
            raise ValueError("reserved workers must leave at least one general worker")
        if quick < 0:
            raise ValueError("quick workers must not be negative")
        self._batcher: Batcher[P] = Batcher(lanes, clock=clock)
        self._runner = runner
        self._clock = clock
        self._on_batch = on_batch
        self._cond = threading.Condition()
        self._done: dict[Job[P], Done[P, R]] = {}
        self._closed = False
        self._reserved_priority = reserved_priority
        self._best_effort_alone = best_effort_alone
        self._urgent_running = 0
        self._quick_priority = quick_priority if quick else None
        limits = [reserved_priority if i < reserved else None for i in range(threads)] + [quick_priority] * quick
        self._workers = [
            threading.Thread(target=self._work, args=(limit,), name=f"turnscribe-scheduler-{i}", daemon=True)
            for i, limit in enumerate(limits)
        ]
        for worker in self._workers:
            worker.start()

    def submit(self, job: Job[P], done: Done[P, R]) -> None:
        """Queues ``job``; raises ``Overloaded`` (and never calls ``done``) if its lane refuses it."""
        dropped: list[_Outcome[P, R]]
        with self._cond:
            if self._closed:
                dropped = [(job, done, Dropped(CLOSED))]
            else:
                self._batcher.submit(job)
                self._done[job] = done
                dropped = self._take_dropped()
                self._cond.notify_all()  # a reserved worker may not take this job: wake every worker
        self._deliver(dropped)

    def cancel(self, stream_id: str, below_generation: int | None = None,
               tags: Collection[object] | None = None) -> None:
        """Drops that stream's queued jobs (all, those of older generations, or those tagged with
        one of ``tags``); running ones finish."""
        with self._cond:
            self._batcher.cancel(stream_id, below_generation=below_generation, tags=tags)
            dropped = self._take_dropped()
        self._deliver(dropped)

    def depths(self) -> dict[Hashable, int]:
        with self._cond:
            return self._batcher.depths()

    def kick(self) -> None:
        """Wakes the workers to re-read the clock (for tests that advance a fake one)."""
        with self._cond:
            self._cond.notify_all()

    def close(self, timeout: float | None = None) -> None:
        """Stops the workers after their running batches; queued jobs get ``Dropped("closed")``."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._batcher.drop_all(CLOSED)
            dropped = self._take_dropped()
            self._cond.notify_all()
        self._deliver(dropped)
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    def __enter__(self) -> WorkerPool[P, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _work(self, max_priority: int | None) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    limit = max_priority
                    if limit is None and self._best_effort_alone and self._urgent_running:
                        limit = self._reserved_priority
                    batch = self._batcher.next_batch(max_priority=limit)
                    dropped = self._take_dropped()
                    if batch is not None or dropped:
                        break
                    deadline = self._batcher.next_deadline(max_priority=limit)
                    self._cond.wait(None if deadline is None else max(0.0, deadline - self._clock()))
                callbacks = [self._done.pop(job) for job in batch.jobs] if batch is not None else []
                # a decode holding a core (quick work is too short to count)
                priority = self._batcher.priority_of(batch.lane) if batch is not None else None
                heavy = (priority is not None and priority <= self._reserved_priority
                         and not (self._quick_priority is not None and priority <= self._quick_priority))
                self._urgent_running += heavy
                if batch is not None and len(self._batcher):
                    self._cond.notify_all()
            self._deliver(dropped)
            if batch is not None:
                try:
                    self._run(batch, callbacks)
                finally:
                    if heavy:
                        with self._cond:
                            self._urgent_running -= 1
                            self._cond.notify_all()  # best-effort work may start now

    def _run(self, batch: Batch[P], callbacks: list[Done[P, R]]) -> None:
        started = time.perf_counter()
        outcomes: Sequence[R | BaseException]
        try:
            outcomes = self._runner(batch)
            if len(outcomes) != len(batch.jobs):
                raise RuntimeError(f"runner returned {len(outcomes)} results for {len(batch.jobs)} jobs")
        except BaseException as exc:  # noqa: BLE001 - every job must hear how its batch ended
            outcomes = [exc] * len(batch.jobs)
        if self._on_batch is not None:
            try:
                self._on_batch(batch, time.perf_counter() - started)
            except Exception:
                log.exception("scheduler on_batch hook failed")
        self._deliver(list(zip(batch.jobs, callbacks, outcomes)))

    def _take_dropped(self) -> list[_Outcome[P, R]]:
        return [(job, self._done.pop(job), Dropped(reason)) for job, reason in self._batcher.drain_dropped()]

    def _deliver(self, outcomes: Sequence[_Outcome[P, R]]) -> None:
        for job, done, outcome in outcomes:
            try:
                done(job, outcome)
            except Exception:
                log.exception("scheduler done callback failed (stream %s)", job.stream_id)
