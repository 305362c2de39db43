"""Worker threads that take batches from a ``Batcher`` and run them, delivering one outcome per job.

The invariants this module owns:

* Every submitted job's ``done`` is called exactly once: with its result, with ``Dropped(reason)`` if it will
  never run (superseded, shed, cancelled, closed), or with the exception its batch raised. Submitters can
  therefore wait on ``done`` without a timeout of their own. A job already running when it is cancelled or
  the pool closes still gets its real result.
* The lock guards only the batcher and the callback table; it is never held while the runner or a ``done``
  callback runs, so batches run in parallel and callbacks may submit or cancel freely.
* Idle workers sleep, each on a condition of its own, until the batcher's next deadline for the lanes it
  may take (no polling). A submit wakes one idle worker that may take the job's lane (the most specialised:
  a VAD step wakes the quick worker, not every worker), and a worker that takes a batch while work
  remains wakes one for the most urgent work left, so a queued job never waits on a sleeping worker
  that has a stale deadline. (Waking every worker at every submit cost about as much CPU as the VAD
  itself: a few hundred submits a second, each waking four threads to scan the queues and sleep again.)
  With a fake clock, time passing is invisible to the waits: call ``kick()`` after advancing it.
* Workers may be limited to lanes up to a priority (reserved and quick workers), and best-effort lanes
  may be held back while an urgent batch runs (``best_effort_alone``); stale best-effort jobs are still
  shed on time, since every wait honours every lane's expiry.
* A failing runner or callback never kills a worker: when a batch of several jobs fails, each job is run
  again alone, so the error goes only to the jobs that raise it on their own; callback errors are logged. A worker whose own loop fails anyway is logged and replaced.
* With ``stall_s``, a batch that runs longer than that (a hung model call) is given up: its jobs get
  ``Stalled`` at once, a replacement worker takes over the stuck one's lanes, and the stuck thread exits
  whenever its call returns (its late results are discarded). ``stalled`` counts the batches still
  stuck, so the server can report itself unready.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeAlias, TypeVar

from .batcher import Batch, Batcher, Job, LaneConfig

P = TypeVar("P")
R = TypeVar("R")

log = logging.getLogger("turnscribe.runtime.scheduler")

CLOSED = "closed"


@dataclass(frozen=True)
class Dropped:
    """The outcome of a job that will never run."""

    reason: str


class Stalled(RuntimeError):
    """The outcome of a job whose batch ran past the pool's ``stall_s``."""


@dataclass(eq=False)
class _Sleeper:
    """An idle worker: the lanes it may take (priority <= ``limit``; None: any) and its wake-up call."""

    limit: int | None
    cond: threading.Condition
    until: float  # the clock time it sleeps until (inf: until woken)


@dataclass(eq=False)
class _Running(Generic[P, R]):
    """A batch a worker is running."""

    batch: Batch[P]
    callbacks: list[Done[P, R]]
    started: float
    limit: int | None
    heavy: bool
    stalled: bool = False   # given up on: its jobs were failed, a new worker replaced this one
    answered: bool = False  # its outcomes are being delivered: too late to give up on it


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
        stall_s: float | None = None,
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
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)  # the stall watcher's wait (and close)
        self._idle: list[_Sleeper] = []               # workers asleep, in the order they fell asleep
        self._done: dict[Job[P], Done[P, R]] = {}
        self._closed = False
        self._reserved_priority = reserved_priority
        self._best_effort_alone = best_effort_alone
        self._urgent_running = 0
        self._quick_priority = quick_priority if quick else None
        limits = [reserved_priority if i < reserved else None for i in range(threads)] + [quick_priority] * quick
        self._stall_s = stall_s
        self._running: set[_Running[P, R]] = set()
        self.stalled = 0           # batches given up on whose call has not returned yet
        self.restarts = 0          # workers started to replace a failed or stuck one
        self._workers: list[threading.Thread] = []
        for limit in limits:
            self._start_worker(limit)
        if stall_s is not None:
            threading.Thread(target=self._watch, name="turnscribe-scheduler-watch", daemon=True).start()

    def longest_stall_s(self) -> float:
        """How long the oldest call given up on has been running (0 when none is)."""
        with self._cond:
            started = [r.started for r in self._running if r.stalled]
        return max(0.0, self._clock() - min(started)) if started else 0.0

    def _start_worker(self, limit: int | None) -> None:
        worker = threading.Thread(target=self._worker_main, args=(limit,), daemon=True,
                                  name=f"turnscribe-scheduler-{len(self._workers)}")
        self._workers.append(worker)
        worker.start()

    def _worker_main(self, limit: int | None) -> None:
        try:
            self._work(limit)
        except BaseException:  # a worker must never vanish silently
            log.exception("scheduler worker failed; starting a new one")
            with self._cond:
                if self._closed:
                    return
                self.restarts += 1
                self._start_worker(limit)

    def _watch(self) -> None:
        assert self._stall_s is not None
        with self._cond:
            while not self._closed:
                self._cond.wait(self._stall_s / 4)
                self._give_up_stalled()

    def check_stalls(self) -> None:
        """Give up on batches running past ``stall_s`` now (the watcher does this on its own;
        tests with a fake clock call it after advancing the clock)."""
        with self._cond:
            self._give_up_stalled()

    def _give_up_stalled(self) -> None:
        if self._stall_s is None:
            return
        now = self._clock()
        for run in [r for r in self._running
                    if not r.stalled and not r.answered and now - r.started > self._stall_s]:
            run.stalled = True
            self.stalled += 1
            if run.heavy:
                self._urgent_running -= 1
            log.error("scheduler: a %s batch of %d ran %.1f s (stall limit %g s); its jobs fail and a new "
                      "worker takes over", run.batch.lane, len(run.batch.jobs), now - run.started, self._stall_s)
            outcomes: list[_Outcome[P, R]] = [
                (job, done, Stalled(f"the engine did not answer within {self._stall_s:g} s"))
                for job, done in zip(run.batch.jobs, run.callbacks, strict=True)]
            threading.Thread(target=self._deliver, args=(outcomes,), daemon=True).start()
            self.restarts += 1
            self._start_worker(run.limit)
            self._wake_all()

    def submit(self, job: Job[P], done: Done[P, R]) -> None:
        """Queues ``job``; raises ``LaneFull`` (and never calls ``done``) if its lane refuses it."""
        dropped: list[_Outcome[P, R]]
        with self._cond:
            if self._closed:
                dropped = [(job, done, Dropped(CLOSED))]
            else:
                self._batcher.submit(job)
                self._done[job] = done
                dropped = self._take_dropped()
                self._wake_for(job)
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
            self._wake_all()

    def close(self, timeout: float | None = None) -> None:
        """Stops the workers after their running batches; queued jobs get ``Dropped("closed")``."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._batcher.drop_all(CLOSED)
            dropped = self._take_dropped()
            self._wake_all()
            self._cond.notify_all()
        self._deliver(dropped)
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(timeout)

    def __enter__(self) -> WorkerPool[P, R]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _limit(self, max_priority: int | None) -> int | None:
        """The lanes a worker limited to ``max_priority`` may take now: a general worker takes no
        best-effort work while an urgent batch runs (``best_effort_alone``)."""
        if max_priority is None and self._best_effort_alone and self._urgent_running:
            return self._reserved_priority
        return max_priority

    def _wake_for(self, job: Job[P]) -> None:
        """A job was queued: unless an idle worker that may take it already sleeps until no later
        than its lane is ready, wake one that may (the most specialised). Called with the lock held."""
        priority = self._batcher.priority_of(job.lane)
        ready = self._batcher.ready_at(job.lane)
        chosen: _Sleeper | None = None
        for sleeper in self._idle:
            limit = self._limit(sleeper.limit)
            if limit is not None and priority > limit:
                continue
            if ready is not None and sleeper.until <= ready:
                return  # it wakes in time to take the job
            if chosen is None or (sleeper.limit is not None
                                  and (chosen.limit is None or sleeper.limit < chosen.limit)):
                chosen = sleeper
        if chosen is not None:
            self._idle.remove(chosen)
            chosen.cond.notify()

    def _wake_stale(self) -> None:
        """Wake the idle workers whose sleep outlasts the next deadline of the lanes they may take
        now (work was left queued, or best-effort work became allowed). Called with the lock held."""
        for sleeper in list(self._idle):
            deadline = self._batcher.next_deadline(max_priority=self._limit(sleeper.limit))
            if deadline is not None and deadline < sleeper.until:
                self._idle.remove(sleeper)
                sleeper.cond.notify()

    def _wake_all(self) -> None:
        """Wake every idle worker (to re-read the clock, to stop, or to replace a stuck one)."""
        for sleeper in self._idle:
            sleeper.cond.notify()
        self._idle.clear()

    def _work(self, max_priority: int | None) -> None:
        me = _Sleeper(max_priority, threading.Condition(self._lock), math.inf)
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    limit = self._limit(max_priority)
                    batch = self._batcher.next_batch(max_priority=limit)
                    dropped = self._take_dropped()
                    if batch is not None or dropped:
                        break
                    deadline = self._batcher.next_deadline(max_priority=limit)
                    me.until = math.inf if deadline is None else deadline
                    self._idle.append(me)
                    me.cond.wait(None if deadline is None else max(0.0, deadline - self._clock()))
                    if me in self._idle:  # woken by its deadline, not by a wake call
                        self._idle.remove(me)
                callbacks = [self._done.pop(job) for job in batch.jobs] if batch is not None else []
                # a decode holding a core (quick work is too short to count)
                priority = self._batcher.priority_of(batch.lane) if batch is not None else None
                heavy = (priority is not None and priority <= self._reserved_priority
                         and not (self._quick_priority is not None and priority <= self._quick_priority))
                self._urgent_running += heavy
                run = None
                if batch is not None:
                    run = _Running(batch, callbacks, self._clock(), max_priority, heavy)
                    self._running.add(run)
                    if len(self._batcher):
                        self._wake_stale()
            self._deliver(dropped)
            if run is None:
                continue
            try:
                self._run(run)
            finally:
                with self._cond:
                    self._running.discard(run)
                    if run.stalled:
                        self.stalled -= 1
                    elif heavy:
                        self._urgent_running -= 1
                        self._wake_stale()  # best-effort work may start now
            if run.stalled:  # given up on and replaced: this thread is surplus now
                return

    def _run(self, run: _Running[P, R]) -> None:
        batch, callbacks = run.batch, run.callbacks
        started = time.perf_counter()
        outcomes: Sequence[R | BaseException]
        outcomes = self._run_batch(batch)
        if len(batch.jobs) > 1 and any(isinstance(o, BaseException) for o in outcomes):
            # one bad request must not fail the streams it shared a batch with: each job alone
            outcomes = [self._run_batch(Batch(batch.lane, (job,)))[0] for job in batch.jobs]
        if self._on_batch is not None:
            try:
                self._on_batch(batch, time.perf_counter() - started)
            except Exception:
                log.exception("scheduler on_batch hook failed")
        with self._cond:
            if run.stalled:  # its jobs already heard Stalled
                return
            run.answered = True
        self._deliver(list(zip(batch.jobs, callbacks, outcomes, strict=True)))

    def _run_batch(self, batch: Batch[P]) -> Sequence[R | BaseException]:
        try:
            outcomes = self._runner(batch)
            if len(outcomes) != len(batch.jobs):
                raise RuntimeError(f"runner returned {len(outcomes)} results for {len(batch.jobs)} jobs")
            return outcomes
        except BaseException as exc:  # noqa: BLE001 - every job must hear how its batch ended
            return [exc] * len(batch.jobs)

    def _take_dropped(self) -> list[_Outcome[P, R]]:
        return [(job, self._done.pop(job), Dropped(reason)) for job, reason in self._batcher.drain_dropped()]

    def _deliver(self, outcomes: Sequence[_Outcome[P, R]]) -> None:
        for job, done, outcome in outcomes:
            try:
                done(job, outcome)
            except Exception:
                log.exception("scheduler done callback failed (stream %s)", job.stream_id)
