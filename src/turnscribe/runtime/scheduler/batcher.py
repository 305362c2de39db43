"""The batching policy: which queued jobs run together, and in what order. Pure and single-threaded.

Jobs wait in per-lane FIFO queues; a lane is one kind of work that can be computed as one batch (one model,
one input shape). The invariants this module owns:

* A job leaves the batcher exactly once: either in a ``Batch`` from ``next_batch`` or as a ``(job, reason)``
  record from ``drain_dropped`` (reasons: superseded, shed, cancelled, or whatever ``drop_all`` is given).
  The caller relies on this to tell every submitter its outcome.
* A lane is *ready* when it holds ``max_batch`` jobs or its oldest job has waited ``max_wait_s``: full
  batches go at once, thin traffic still gets served within a bounded wait.
* Among ready lanes the most urgent priority wins; equal priorities go to the lane whose head job is oldest,
  so no lane of a priority starves the others (exact ties fall back to lane creation order).
* Queues are bounded by ``capacity``. A droppable (best-effort) lane makes room by shedding its oldest job,
  and also sheds jobs older than ``max_age_s`` rather than computing stale results; a non-droppable lane
  refuses with ``LaneFull`` so the caller can push back.
* At most one queued job per ``supersede_key``: a newer job replaces the older one (whose result would be
  thrown away anyway), wherever that older job waits.

Time comes only from the injected clock, which must not go backwards (queues are FIFO by ``enqueued_at``).
Readiness and deadlines use the same ``enqueued_at + wait <= now`` sum, so a caller waking at
``next_deadline()`` always finds that lane ready. Not thread-safe: the pool wraps it in a lock. Removal of a
job from the middle of a lane is O(depth), bounded by the lane's capacity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P")

SUPERSEDED = "superseded"
SHED = "shed"
CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LaneConfig:
    priority: int                   # lower = more urgent
    max_batch: int                  # most jobs in one batch; a lane this full is ready at once
    max_wait_s: float               # a thinner lane is ready once its oldest job has waited this long
    capacity: int                   # most queued jobs
    droppable: bool = False         # best-effort work: shed when full or stale instead of refusing
    max_age_s: float | None = None  # droppable jobs that have waited this long are shed, not computed

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.capacity < 1:
            raise ValueError("max_batch and capacity must be at least 1")
        if self.max_wait_s < 0:
            raise ValueError("max_wait_s must not be negative")
        if self.max_age_s is not None and not self.droppable:
            raise ValueError("max_age_s applies only to droppable lanes")


@dataclass(eq=False, slots=True)
class Job(Generic[P]):
    lane: Hashable
    stream_id: str
    generation: int
    payload: P
    supersede_key: Hashable | None = None
    tag: object = None              # opaque to the batcher, for the caller
    enqueued_at: float = 0.0        # set by Batcher.submit


class LaneFull(Exception):
    """A non-droppable lane is at capacity; the job was not queued."""

    def __init__(self, lane: Hashable) -> None:
        super().__init__(f"scheduler lane {lane!r} is full")
        self.lane = lane


@dataclass(frozen=True, slots=True)
class Batch(Generic[P]):
    lane: Hashable
    jobs: tuple[Job[P], ...]


@dataclass(slots=True)
class _Lane(Generic[P]):
    key: Hashable
    config: LaneConfig
    jobs: deque[Job[P]] = field(default_factory=deque)

    def ready_at(self) -> float | None:
        if not self.jobs:
            return None
        head = self.jobs[0].enqueued_at
        return head if len(self.jobs) >= self.config.max_batch else head + self.config.max_wait_s

    def expires_at(self) -> float | None:
        if not self.jobs or not self.config.droppable or self.config.max_age_s is None:
            return None
        return self.jobs[0].enqueued_at + self.config.max_age_s


class Batcher(Generic[P]):
    def __init__(self, lanes: Callable[[Hashable], LaneConfig], *, clock: Callable[[], float]) -> None:
        self._config_for = lanes
        self._clock = clock
        self._lanes: dict[Hashable, _Lane[P]] = {}
        self._by_key: dict[Hashable, Job[P]] = {}
        self._dropped: list[tuple[Job[P], str]] = []
        self._size = 0

    def submit(self, job: Job[P]) -> None:
        lane = self._lane(job.lane)
        config = lane.config
        old = self._by_key.get(job.supersede_key) if job.supersede_key is not None else None
        frees_room = old is not None and old.lane == job.lane
        if not config.droppable and len(lane.jobs) - int(frees_room) >= config.capacity:
            raise LaneFull(job.lane)
        if old is not None:
            self._lanes[old.lane].jobs.remove(old)
            self._discard(old, SUPERSEDED)
        while len(lane.jobs) >= config.capacity:
            self._discard(lane.jobs.popleft(), SHED)
        job.enqueued_at = self._clock()
        lane.jobs.append(job)
        if job.supersede_key is not None:
            self._by_key[job.supersede_key] = job
        self._size += 1

    def priority_of(self, lane: Hashable) -> int:
        return self._lane(lane).config.priority

    def next_batch(self, *, max_priority: int | None = None) -> Batch[P] | None:
        """The most urgent ready batch, among lanes of priority <= ``max_priority`` if given
        (a worker reserved for urgent work); stale droppable jobs of every lane are shed first."""
        now = self._clock()
        self._shed_stale(now)
        best: _Lane[P] | None = None
        best_rank: tuple[int, float] | None = None
        for lane in self._lanes.values():
            if max_priority is not None and lane.config.priority > max_priority:
                continue
            ready_at = lane.ready_at()
            if ready_at is None or ready_at > now:
                continue
            rank = (lane.config.priority, lane.jobs[0].enqueued_at)
            if best_rank is None or rank < best_rank:
                best, best_rank = lane, rank
        if best is None:
            return None
        count = min(best.config.max_batch, len(best.jobs))
        jobs = tuple(best.jobs.popleft() for _ in range(count))
        for job in jobs:
            self._forget(job)
        return Batch(best.key, jobs)

    def ready_at(self, lane: Hashable) -> float | None:
        """When ``lane`` becomes ready (None: it holds no job)."""
        found = self._lanes.get(lane)
        return found.ready_at() if found is not None else None

    def next_deadline(self, *, max_priority: int | None = None) -> float | None:
        """When a lane (of priority <= ``max_priority``, if given) becomes ready or any droppable
        job ages out."""
        times = [t for lane in self._lanes.values()
                 for t in ((lane.ready_at() if max_priority is None or lane.config.priority <= max_priority
                            else None), lane.expires_at()) if t is not None]
        return min(times, default=None)

    def cancel(self, stream_id: str, *, below_generation: int | None = None,
               tags: Collection[object] | None = None) -> None:
        """Drop that stream's queued jobs: all, those of older generations, or those whose ``tag``
        is in ``tags``."""
        def doomed(job: Job[P]) -> bool:
            return (job.stream_id == stream_id and (below_generation is None or job.generation < below_generation)
                    and (tags is None or job.tag in tags))

        for lane in self._lanes.values():
            if any(doomed(job) for job in lane.jobs):
                kept: deque[Job[P]] = deque()
                for job in lane.jobs:
                    if doomed(job):
                        self._discard(job, CANCELLED)
                    else:
                        kept.append(job)
                lane.jobs = kept

    def drop_all(self, reason: str) -> None:
        """Empties every lane, recording each job as dropped for ``reason`` (e.g. shutting down)."""
        for lane in self._lanes.values():
            while lane.jobs:
                self._discard(lane.jobs.popleft(), reason)

    def drain_dropped(self) -> list[tuple[Job[P], str]]:
        dropped, self._dropped = self._dropped, []
        return dropped

    def depth(self, lane: Hashable) -> int:
        found = self._lanes.get(lane)
        return len(found.jobs) if found is not None else 0

    def depths(self) -> dict[Hashable, int]:
        return {key: len(lane.jobs) for key, lane in self._lanes.items()}

    def __len__(self) -> int:
        return self._size

    def _lane(self, key: Hashable) -> _Lane[P]:
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane(key, self._config_for(key))
        return lane

    def _shed_stale(self, now: float) -> None:
        for lane in self._lanes.values():
            while (expires_at := lane.expires_at()) is not None and expires_at <= now:
                self._discard(lane.jobs.popleft(), SHED)

    def _discard(self, job: Job[P], reason: str) -> None:
        """Bookkeeping for a job already taken out of its lane that will never run."""
        self._forget(job)
        self._dropped.append((job, reason))

    def _forget(self, job: Job[P]) -> None:
        if job.supersede_key is not None and self._by_key.get(job.supersede_key) is job:
            del self._by_key[job.supersede_key]
        self._size -= 1
