"""The worker pool with real threads and a trivial runner (doubles numbers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any

import pytest

from turnscribe.runtime.scheduler import Batch, Dropped, Job, LaneConfig, LaneFull, WorkerPool

WAIT = 2.0      # generous upper bound for an event that should come within milliseconds

LANES = {
    "quick": LaneConfig(priority=0, max_batch=4, max_wait_s=0.0, capacity=64),
    "gather": LaneConfig(priority=1, max_batch=8, max_wait_s=0.2, capacity=64),
    "single": LaneConfig(priority=0, max_batch=1, max_wait_s=0.0, capacity=64),
    "four": LaneConfig(priority=0, max_batch=4, max_wait_s=60.0, capacity=64),      # ready only when full
    "stale": LaneConfig(priority=2, max_batch=4, max_wait_s=60.0, capacity=4, droppable=True, max_age_s=0.05),
    "parked": LaneConfig(priority=1, max_batch=100, max_wait_s=60.0, capacity=2),   # never ready in a test
}

Outcome = int | Dropped | BaseException


def lane_config(key: Hashable) -> LaneConfig:
    assert isinstance(key, str)
    return LANES[key]


def double(batch: Batch[int]) -> list[int]:
    return [2 * job.payload for job in batch.jobs]


def job(lane: str, payload: int, stream: str = "s", generation: int = 0,
        key: Hashable | None = None) -> Job[int]:
    return Job(lane=lane, stream_id=stream, generation=generation, payload=payload, supersede_key=key)


class Outcomes:
    """A ``done`` callback that records every call and signals when ``expected`` have arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.calls: list[tuple[Job[int], Outcome, str]] = []
        self.lock = threading.Lock()
        self.all_in = threading.Event()

    def __call__(self, job: Job[int], outcome: Outcome) -> None:
        with self.lock:
            self.calls.append((job, outcome, threading.current_thread().name))
            if len(self.calls) >= self.expected:
                self.all_in.set()

    def by_payload(self) -> dict[int, Outcome]:
        with self.lock:
            return {j.payload: o for j, o, _ in self.calls}


@pytest.fixture
def make_pool() -> Iterator[Callable[..., WorkerPool[int, int]]]:
    pools: list[WorkerPool[int, int]] = []

    def make(runner: Callable[[Batch[int]], Sequence[int]] = double, **kwargs: object) -> WorkerPool[int, int]:
        pool: WorkerPool[int, int] = WorkerPool(lane_config, runner, **kwargs)  # type: ignore[arg-type]
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close(timeout=WAIT)


def test_every_result_reaches_done_exactly_once(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    pool = make_pool(threads=3)
    done = Outcomes(50)
    for i in range(50):
        pool.submit(job("quick", i), done)
    assert done.all_in.wait(WAIT)
    pool.close(timeout=WAIT)
    assert len(done.calls) == 50
    assert done.by_payload() == {i: 2 * i for i in range(50)}
    assert all(name.startswith("turnscribe-scheduler") for _, _, name in done.calls)


def test_concurrent_submits_share_a_batch(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    sizes: list[int] = []
    pool = make_pool(on_batch=lambda batch, seconds: sizes.append(len(batch.jobs)))
    done = Outcomes(8)
    start = threading.Barrier(4)

    def client(base: int) -> None:
        start.wait(WAIT)
        for i in range(2):
            pool.submit(job("gather", base + i, stream=f"c{base}"), done)

    clients = [threading.Thread(target=client, args=(10 * n,)) for n in range(4)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(WAIT)
    assert done.all_in.wait(WAIT)
    assert sum(sizes) == 8 and max(sizes) > 1
    assert done.by_payload() == {10 * n + i: 2 * (10 * n + i) for n in range(4) for i in range(2)}


def test_a_raising_runner_fails_only_the_job_that_raises_and_the_pool_keeps_serving(
    make_pool: Callable[..., WorkerPool[int, int]],
) -> None:
    def fragile(batch: Batch[int]) -> list[int]:
        if any(j.payload < 0 for j in batch.jobs):
            raise ValueError("negative")
        return double(batch)

    pool = make_pool(fragile, threads=1)
    failed = Outcomes(4)
    for payload in (1, -1, 2, 3):                     # one batch of four
        pool.submit(job("four", payload), failed)
    assert failed.all_in.wait(WAIT)
    got = failed.by_payload()
    assert len(failed.calls) == 4 and isinstance(got.pop(-1), ValueError)
    assert got == {1: 2, 2: 4, 3: 6}, "the batch's other jobs, run alone, succeed"
    later = Outcomes(1)
    pool.submit(job("quick", 5), later)
    assert later.all_in.wait(WAIT)
    assert later.by_payload() == {5: 10}


def test_a_wrong_number_of_results_is_an_error_for_every_job(
    make_pool: Callable[..., WorkerPool[int, int]],
) -> None:
    pool = make_pool(lambda batch: [], threads=1)
    done = Outcomes(1)
    pool.submit(job("quick", 1), done)
    assert done.all_in.wait(WAIT)
    assert isinstance(done.by_payload()[1], RuntimeError)


def test_cancel_and_close_give_dropped(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    pool = make_pool()
    done = Outcomes(3)
    pool.submit(job("parked", 1, "a", generation=1), done)
    pool.submit(job("parked", 2, "a", generation=2), done)
    pool.cancel("a", below_generation=2)              # delivered before cancel returns
    assert done.by_payload() == {1: Dropped("cancelled")}
    assert pool.depths() == {"parked": 1}
    late = Outcomes(1)
    pool.close(timeout=WAIT)
    assert done.by_payload() == {1: Dropped("cancelled"), 2: Dropped("closed")}
    pool.submit(job("quick", 3), late)                # after close: dropped at once, never run
    assert late.by_payload() == {3: Dropped("closed")}


def test_supersession_and_overload_through_the_pool(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    pool = make_pool()
    done = Outcomes(3)
    pool.submit(job("parked", 1, key="partial"), done)
    pool.submit(job("parked", 2, key="partial"), done)
    assert done.by_payload() == {1: Dropped("superseded")}
    pool.submit(job("parked", 3), done)
    with pytest.raises(LaneFull):
        pool.submit(job("parked", 4), done)
    pool.close(timeout=WAIT)
    assert done.by_payload() == {1: Dropped("superseded"), 2: Dropped("closed"), 3: Dropped("closed")}
    assert len(done.calls) == 3                       # the refused job's done never ran


def test_batches_run_in_parallel_without_the_lock(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    both_running = threading.Barrier(2, timeout=WAIT)
    running = threading.Semaphore(0)
    release = threading.Event()

    def rendezvous(batch: Batch[int]) -> list[int]:
        both_running.wait()                           # passes only if two batches run at once
        running.release()
        release.wait(WAIT)
        return double(batch)

    pool = make_pool(rendezvous, threads=2)
    done = Outcomes(2)
    pool.submit(job("single", 1), done)
    pool.submit(job("single", 2), done)
    assert running.acquire(timeout=WAIT) and running.acquire(timeout=WAIT)

    def meanwhile() -> None:                          # would block if a runner held the lock
        pool.submit(job("parked", 3), Outcomes(1))
        pool.depths()

    other = threading.Thread(target=meanwhile)
    other.start()
    other.join(WAIT)
    assert not other.is_alive()
    release.set()
    assert done.all_in.wait(WAIT)
    assert done.by_payload() == {1: 2, 2: 4}


def test_a_callback_may_resubmit_and_a_failing_callback_is_survived(
    make_pool: Callable[..., WorkerPool[int, int]],
) -> None:
    pool = make_pool(threads=1)
    final = Outcomes(1)

    def chain(j: Job[int], outcome: Outcome) -> None:
        assert isinstance(outcome, int)
        if outcome < 8:
            pool.submit(job("quick", outcome), chain)
        else:
            final(j, outcome)

    def broken(j: Job[int], outcome: Outcome) -> None:
        raise RuntimeError("callback bug")

    pool.submit(job("quick", 0), broken)
    pool.submit(job("quick", 1), chain)
    assert final.all_in.wait(WAIT)
    assert final.by_payload() == {4: 8}


def test_a_fake_clock_needs_a_kick(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    now = [0.0]
    pool = make_pool(clock=lambda: now[0])
    done = Outcomes(1)
    pool.submit(job("gather", 1), done)               # ready at fake time 0.2
    assert not done.all_in.wait(0.05)
    now[0] = 0.2
    pool.kick()
    assert done.all_in.wait(WAIT)
    assert done.by_payload() == {1: 2}


def test_on_batch_reports_each_run(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    seen: list[tuple[Hashable, int, float]] = []
    pool = make_pool(on_batch=lambda batch, seconds: seen.append((batch.lane, len(batch.jobs), seconds)))
    done = Outcomes(1)
    pool.submit(job("quick", 1), done)
    assert done.all_in.wait(WAIT)
    assert len(seen) == 1 and seen[0][:2] == ("quick", 1) and seen[0][2] >= 0.0


def test_workers_wake_at_deadlines_to_shed_stale_work(make_pool: Callable[..., WorkerPool[int, int]]) -> None:
    pool = make_pool()
    done = Outcomes(1)
    pool.submit(job("stale", 1), done)                # no kick: the real clock's deadline wakes a worker
    assert done.all_in.wait(WAIT)
    assert done.by_payload() == {1: Dropped("shed")}
    assert done.calls[0][2].startswith("turnscribe-scheduler")


def test_a_reserved_worker_takes_only_urgent_lanes() -> None:
    """With one of two workers reserved for priority <= 0, a long best-effort batch occupies only
    the general worker: an urgent job submitted meanwhile runs at once on the reserved one."""
    release = threading.Event()
    ran: list[tuple[str, str]] = []

    def runner(batch: Batch[int]) -> list[int]:
        ran.append((str(batch.lane), threading.current_thread().name))
        if batch.lane == "stale":
            release.wait(WAIT)
        return [job.payload for job in batch.jobs]

    lanes = {"urgent": LaneConfig(priority=0, max_batch=4, max_wait_s=0.0, capacity=64),
             "slow": LaneConfig(priority=3, max_batch=1, max_wait_s=0.0, capacity=64)}
    pool: WorkerPool[int, int] = WorkerPool(lambda k: lanes["slow" if k == "stale" else str(k)], runner,
                                            threads=2, reserved=1, reserved_priority=0)
    try:
        slow_done, urgent_done, second_slow = threading.Event(), threading.Event(), threading.Event()
        pool.submit(job("stale", 1), lambda j, o: slow_done.set())
        pool.submit(job("stale", 2), lambda j, o: second_slow.set())  # must wait: the reserved worker refuses it
        pool.submit(job("urgent", 3), lambda j, o: urgent_done.set())
        assert urgent_done.wait(WAIT), "the urgent job waited behind best-effort work"
        assert not second_slow.is_set(), "the reserved worker ran best-effort work"
        release.set()
        assert slow_done.wait(WAIT) and second_slow.wait(WAIT)
        workers = {name for lane, name in ran if lane == "stale"}
        assert workers == {"turnscribe-scheduler-1"}, workers  # worker 0 is the reserved one
    finally:
        release.set()
        pool.close()


def test_a_quick_worker_runs_short_work_while_every_other_worker_decodes() -> None:
    """Two long decodes hold both workers; a VAD-like job still runs at once, on the quick worker,
    and the quick worker never takes a decode."""
    release = threading.Event()
    ran: list[tuple[str, str]] = []

    def runner(batch: Batch[int]) -> list[int]:
        ran.append((str(batch.lane), threading.current_thread().name))
        if batch.lane == "decode":
            release.wait(WAIT)
        return [job.payload for job in batch.jobs]

    lanes = {"quick": LaneConfig(priority=0, max_batch=4, max_wait_s=0.0, capacity=64),
             "decode": LaneConfig(priority=1, max_batch=1, max_wait_s=0.0, capacity=64)}
    pool: WorkerPool[int, int] = WorkerPool(lambda k: lanes[str(k)], runner, threads=2, reserved=1,
                                            reserved_priority=1, quick=1, quick_priority=0)
    try:
        decodes = Outcomes(3)
        for i in range(3):
            pool.submit(job("decode", i), decodes)
        deadline = time.monotonic() + WAIT
        while len(ran) < 2 and time.monotonic() < deadline:  # both decode workers busy
            time.sleep(0.005)
        quick_done = threading.Event()
        pool.submit(job("quick", 9), lambda j, o: quick_done.set())
        assert quick_done.wait(WAIT), "the short job waited behind the decodes"
        assert len(decodes.calls) == 0
        release.set()
        assert decodes.all_in.wait(WAIT)
        assert {name for lane, name in ran if lane == "decode"} <= {"turnscribe-scheduler-0",
                                                                    "turnscribe-scheduler-1"}
        assert [name for lane, name in ran if lane == "quick"] == ["turnscribe-scheduler-2"]
    finally:
        release.set()
        pool.close()


def test_best_effort_work_waits_while_an_urgent_decode_runs() -> None:
    release = threading.Event()
    order: list[str] = []

    def runner(batch: Batch[int]) -> list[int]:
        order.append(str(batch.lane))
        if batch.lane == "decode":
            release.wait(WAIT)
        return [job.payload for job in batch.jobs]

    lanes = {"decode": LaneConfig(priority=1, max_batch=1, max_wait_s=0.0, capacity=64),
             "partial": LaneConfig(priority=3, max_batch=1, max_wait_s=0.0, capacity=64)}
    pool: WorkerPool[int, int] = WorkerPool(lambda k: lanes[str(k)], runner, threads=2, reserved=1,
                                            reserved_priority=1, best_effort_alone=True)
    try:
        decoded, partial = threading.Event(), threading.Event()
        pool.submit(job("decode", 1), lambda j, o: decoded.set())
        deadline = time.monotonic() + WAIT
        while not order and time.monotonic() < deadline:
            time.sleep(0.005)
        pool.submit(job("partial", 2), lambda j, o: partial.set())
        assert not partial.wait(0.2), "a partial ran beside the urgent decode"
        release.set()
        assert decoded.wait(WAIT) and partial.wait(WAIT), "the partial runs once the decode is done"
        assert order == ["decode", "partial"]
    finally:
        release.set()
        pool.close()


def test_reserved_workers_must_leave_a_general_one() -> None:
    with pytest.raises(ValueError):
        WorkerPool(lane_config, double, threads=1, reserved=1)


# ------------------------------------------------------------------ faults: hung calls, dead workers


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_hung_batch_fails_its_jobs_and_a_new_worker_takes_over() -> None:
    from turnscribe.runtime.scheduler.pool import Stalled

    release = threading.Event()
    entered = threading.Event()

    def runner(batch: Batch[int]) -> list[int]:
        if batch.jobs[0].payload < 0:  # the hung model call
            entered.set()
            release.wait(WAIT * 5)
        return double(batch)

    clock = FakeClock()
    pool: WorkerPool[int, int] = WorkerPool(lane_config, runner, threads=1, clock=clock, stall_s=1.0)
    try:
        stuck = Outcomes(1)
        pool.submit(job("single", -1), stuck)
        assert entered.wait(WAIT)
        clock.t = 0.5
        pool.check_stalls()
        assert pool.stalled == 0 and not stuck.all_in.is_set(), "not stalled before stall_s"
        clock.t = 1.5
        pool.check_stalls()
        assert stuck.all_in.wait(WAIT) and isinstance(stuck.by_payload()[-1], Stalled)
        assert pool.stalled == 1 and pool.restarts == 1
        later = Outcomes(1)  # the replacement worker serves the next job while the old one hangs
        pool.submit(job("single", 21), later)
        assert later.all_in.wait(WAIT) and later.by_payload() == {21: 42}
        release.set()  # the hung call returns at last: its late result is discarded
        for _ in range(100):
            if pool.stalled == 0:
                break
            time.sleep(0.01)
        assert pool.stalled == 0 and len(stuck.calls) == 1
    finally:
        release.set()
        pool.close(WAIT)


def test_a_worker_whose_loop_fails_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    pool: WorkerPool[int, int] = WorkerPool(lane_config, double, threads=1)
    try:
        real = pool._batcher.next_batch
        failed = threading.Event()

        def once(*args: Any, **kw: Any) -> Any:
            if not failed.is_set():
                failed.set()
                raise RuntimeError("scheduler bug")
            return real(*args, **kw)

        monkeypatch.setattr(pool._batcher, "next_batch", once)
        out = Outcomes(1)
        pool.submit(job("single", 5), out)
        assert out.all_in.wait(WAIT) and out.by_payload() == {5: 10}
        assert failed.is_set() and pool.restarts == 1
    finally:
        pool.close(WAIT)


def test_mixed_lanes_from_many_threads_are_all_served_in_time() -> None:
    """Idle workers are woken one at a time (the most specialised that may take the job): under a
    mix of quick, urgent, gathering and best-effort jobs submitted from several threads at once,
    with reserved, quick and general workers, every job still runs, and none waits much past its
    lane's gather time (no job is left to a worker asleep on a stale deadline)."""
    lanes = {"vad": LaneConfig(priority=0, max_batch=64, max_wait_s=0.004, capacity=4096),
             "urgent": LaneConfig(priority=1, max_batch=8, max_wait_s=0.005, capacity=4096),
             "partial": LaneConfig(priority=3, max_batch=8, max_wait_s=0.05, capacity=4096)}
    waited: list[float] = []
    lock = threading.Lock()

    def runner(batch: Batch[int]) -> list[int]:
        time.sleep({"vad": 0.0005, "urgent": 0.004, "partial": 0.003}[str(batch.lane)])
        return [job.payload for job in batch.jobs]

    pool: WorkerPool[int, int] = WorkerPool(lambda k: lanes[str(k)], runner, threads=3, reserved=1,
                                            reserved_priority=1, quick=1, quick_priority=0,
                                            best_effort_alone=True)
    per_thread, threads = 150, 4
    outcomes = Outcomes(per_thread * threads)
    submitted: dict[int, tuple[float, str]] = {}

    def done(j: Job[int], outcome: Outcome) -> None:
        at, lane = submitted[j.payload]
        with lock:
            waited.append(time.monotonic() - at - lanes[lane].max_wait_s)
        outcomes(j, outcome)

    def submitter(t: int) -> None:
        for i in range(per_thread):
            lane = ("vad", "vad", "urgent", "partial")[i % 4]
            payload = t * per_thread + i
            submitted[payload] = (time.monotonic(), lane)
            pool.submit(job(lane, payload, stream=f"s{t}"), done)
            time.sleep(0.002)

    try:
        workers = [threading.Thread(target=submitter, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert outcomes.all_in.wait(WAIT), f"{len(outcomes.calls)} of {per_thread * threads} jobs ran"
        assert all(not isinstance(o, (Dropped, BaseException)) for _, o, _ in outcomes.calls)
        assert max(waited) < 0.5, f"a job waited {max(waited):.3f} s past its lane's gather time"
    finally:
        pool.close()
