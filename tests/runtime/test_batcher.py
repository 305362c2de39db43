"""The pure batching policy, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Hashable

import pytest

from turnscribe.runtime.scheduler import Batcher, Job, LaneConfig, LaneFull


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LANES = {
    "urgent": LaneConfig(priority=0, max_batch=4, max_wait_s=0.010, capacity=8),
    "bulk": LaneConfig(priority=1, max_batch=4, max_wait_s=0.050, capacity=8),
    "bulk2": LaneConfig(priority=1, max_batch=4, max_wait_s=0.050, capacity=8),
    "tight": LaneConfig(priority=1, max_batch=4, max_wait_s=0.050, capacity=2),
    "best_effort": LaneConfig(priority=2, max_batch=4, max_wait_s=0.050, capacity=2, droppable=True,
                              max_age_s=0.200),
}


def make() -> tuple[Batcher[int], FakeClock]:
    clock = FakeClock()

    def lanes(key: Hashable) -> LaneConfig:
        assert isinstance(key, str)
        return LANES[key]

    return Batcher(lanes, clock=clock), clock


def job(lane: str, payload: int = 0, stream: str = "s", generation: int = 0,
        key: Hashable | None = None) -> Job[int]:
    return Job(lane=lane, stream_id=stream, generation=generation, payload=payload, supersede_key=key)


def payloads(batcher: Batcher[int]) -> list[int] | None:
    batch = batcher.next_batch()
    return None if batch is None else [j.payload for j in batch.jobs]


def test_a_thin_lane_waits_for_max_wait_then_is_ready() -> None:
    batcher, clock = make()
    batcher.submit(job("bulk", 1))
    clock.now += 0.001
    batcher.submit(job("bulk", 2))
    assert batcher.next_batch() is None
    clock.now = 100.0 + 0.049
    assert batcher.next_batch() is None
    clock.now = 100.0 + 0.050                    # the oldest has now waited exactly max_wait
    batch = batcher.next_batch()
    assert batch is not None and batch.lane == "bulk"
    assert [j.payload for j in batch.jobs] == [1, 2]
    assert len(batcher) == 0 and batcher.next_batch() is None


def test_a_full_lane_is_ready_at_once_and_batches_are_capped() -> None:
    batcher, _ = make()
    for i in range(6):
        batcher.submit(job("bulk", i))
    assert payloads(batcher) == [0, 1, 2, 3]
    assert payloads(batcher) is None             # 2 left: not full, not waited
    assert batcher.depth("bulk") == 2 and len(batcher) == 2


def test_urgent_lane_goes_first_even_if_younger() -> None:
    batcher, clock = make()
    batcher.submit(job("bulk", 1))
    clock.now += 0.040
    batcher.submit(job("urgent", 2))
    clock.now += 0.020                           # both ready; bulk's job is older
    assert payloads(batcher) == [2]
    assert payloads(batcher) == [1]


def test_equal_priority_goes_to_the_oldest_head_job() -> None:
    batcher, clock = make()
    batcher.submit(job("bulk", 1))
    clock.now += 0.001
    batcher.submit(job("bulk2", 2))
    clock.now += 0.001
    batcher.submit(job("bulk", 3))
    clock.now += 0.100                           # both ready
    assert payloads(batcher) == [1, 3]
    assert payloads(batcher) == [2]


def test_equal_priority_fairness_is_by_head_age_not_lane_order() -> None:
    batcher, clock = make()
    batcher.submit(job("bulk", 1))              # bulk's lane is created first...
    assert payloads(batcher) is None
    for i in range(4):
        batcher.submit(job("bulk2", 10 + i))     # ...bulk2's head is now the older one
        clock.now += 0.001
    for i in range(3):
        batcher.submit(job("bulk", 2 + i))
    # bulk is full but its head (payload 1) is the oldest: it goes first; bulk2 next
    assert payloads(batcher) == [1, 2, 3, 4]
    assert payloads(batcher) == [10, 11, 12, 13]


def test_a_newer_job_supersedes_the_queued_one_with_its_key() -> None:
    batcher, _ = make()
    old = job("bulk", 1, key=("partial", "s"))
    other = job("bulk", 2, key=("partial", "t"))
    batcher.submit(old)
    batcher.submit(other)
    new = job("urgent", 3, key=("partial", "s"))  # supersession crosses lanes
    batcher.submit(new)
    assert batcher.drain_dropped() == [(old, "superseded")]
    assert batcher.drain_dropped() == []
    assert batcher.depths() == {"bulk": 1, "urgent": 1}
    newer = job("urgent", 4, key=("partial", "s"))
    batcher.submit(newer)
    assert batcher.drain_dropped() == [(new, "superseded")]
    assert len(batcher) == 2


def test_a_batched_job_no_longer_supersedes() -> None:
    batcher, _ = make()
    for i in range(4):
        batcher.submit(job("bulk", i, key=("k", i)))
    assert payloads(batcher) == [0, 1, 2, 3]
    batcher.submit(job("bulk", 9, key=("k", 0)))
    assert batcher.drain_dropped() == []


def test_a_full_non_droppable_lane_refuses() -> None:
    batcher, _ = make()
    batcher.submit(job("tight", 1))
    batcher.submit(job("tight", 2))
    refused = job("tight", 3)
    with pytest.raises(LaneFull) as info:
        batcher.submit(refused)
    assert info.value.lane == "tight"
    assert batcher.depth("tight") == 2 and batcher.drain_dropped() == []
    replacing = job("tight", 4, key="x")          # but superseding a queued job frees its place
    batcher2, _ = make()
    batcher2.submit(job("tight", 1, key="x"))
    batcher2.submit(job("tight", 2))
    batcher2.submit(replacing)
    assert [r for _, r in batcher2.drain_dropped()] == ["superseded"]
    assert batcher2.depth("tight") == 2


def test_a_refused_job_does_not_supersede() -> None:
    batcher, _ = make()
    queued = job("bulk", 1, key="x")
    batcher.submit(queued)
    batcher.submit(job("tight", 2))
    batcher.submit(job("tight", 3))
    with pytest.raises(LaneFull):
        batcher.submit(job("tight", 4, key="x"))
    assert batcher.drain_dropped() == [] and batcher.depth("bulk") == 1


def test_a_full_droppable_lane_sheds_its_oldest() -> None:
    batcher, clock = make()
    first, second, third = job("best_effort", 1), job("best_effort", 2), job("best_effort", 3)
    batcher.submit(first)
    clock.now += 0.001
    batcher.submit(second)
    batcher.submit(third)
    assert batcher.drain_dropped() == [(first, "shed")]
    assert batcher.depth("best_effort") == 2
    clock.now += 0.050
    assert payloads(batcher) == [2, 3]


def test_stale_droppable_jobs_are_shed_not_computed() -> None:
    batcher, clock = make()
    stale = job("best_effort", 1)
    batcher.submit(stale)
    clock.now += 0.150
    batcher.submit(job("bulk", 5))
    fresh = job("best_effort", 2)
    batcher.submit(fresh)
    clock.now = 100.0 + 0.200                    # stale has waited exactly max_age
    assert payloads(batcher) == [5]              # (bulk outranks best_effort anyway)
    assert batcher.drain_dropped() == [(stale, "shed")]
    assert payloads(batcher) == [2]


def test_cancel_a_stream_or_its_older_generations() -> None:
    batcher, _ = make()
    jobs = [job("bulk", 1, "a", 1), job("urgent", 2, "a", 2), job("bulk", 3, "b", 1), job("bulk", 4, "a", 3)]
    for j in jobs:
        batcher.submit(j)
    batcher.cancel("a", below_generation=3)
    assert batcher.drain_dropped() == [(jobs[0], "cancelled"), (jobs[1], "cancelled")]
    assert batcher.depths() == {"bulk": 2, "urgent": 0}
    batcher.cancel("a")
    assert batcher.drain_dropped() == [(jobs[3], "cancelled")]
    assert len(batcher) == 1
    batcher.cancel("nobody")
    assert batcher.drain_dropped() == []


def test_a_cancelled_job_no_longer_supersedes() -> None:
    batcher, _ = make()
    batcher.submit(job("bulk", 1, "a", key="k"))
    batcher.cancel("a")
    batcher.drain_dropped()
    batcher.submit(job("bulk", 2, "a", key="k"))
    assert batcher.drain_dropped() == []


def test_next_deadline() -> None:
    batcher, clock = make()
    assert batcher.next_deadline() is None
    batcher.submit(job("bulk", 1))                          # ready at 100.05
    assert batcher.next_deadline() == pytest.approx(100.05)
    clock.now += 0.01
    batcher.submit(job("urgent", 2))                        # ready at 100.02
    assert batcher.next_deadline() == pytest.approx(100.02)
    clock.now = 100.019
    assert payloads(batcher) is None
    clock.now = 100.01 + 0.01
    assert payloads(batcher) == [2]
    assert batcher.next_deadline() == pytest.approx(100.05)
    for i in range(3):
        batcher.submit(job("bulk", 3 + i))                  # full now: ready since its head came
    assert batcher.next_deadline() == pytest.approx(100.0)
    assert payloads(batcher) == [1, 3, 4, 5]
    assert batcher.next_deadline() is None


def test_next_deadline_includes_ageing_out() -> None:
    aging = LaneConfig(priority=2, max_batch=4, max_wait_s=1.0, capacity=4, droppable=True, max_age_s=0.25)
    clock = FakeClock()
    batcher: Batcher[int] = Batcher(lambda key: aging, clock=clock)
    batcher.submit(job("x", 1))
    deadline = batcher.next_deadline()
    assert deadline == pytest.approx(100.25)
    assert deadline is not None
    clock.now = deadline                                    # waking at the deadline always finds work
    assert batcher.next_batch() is None
    assert [r for _, r in batcher.drain_dropped()] == ["shed"]
    assert batcher.next_deadline() is None


def test_waking_at_next_deadline_finds_the_lane_ready() -> None:
    batcher, clock = make()
    clock.now = 0.1
    batcher.submit(job("bulk", 1))                          # 0.1 + 0.05 has rounding error
    deadline = batcher.next_deadline()
    assert deadline is not None
    clock.now = deadline
    assert payloads(batcher) == [1]


def test_lanes_are_configured_lazily_once() -> None:
    seen: list[Hashable] = []

    def lanes(key: Hashable) -> LaneConfig:
        seen.append(key)
        return LaneConfig(priority=0, max_batch=2, max_wait_s=0.0, capacity=4)

    batcher: Batcher[int] = Batcher(lanes, clock=FakeClock())
    assert batcher.depth(("asr", "tiny", 10)) == 0 and seen == []
    batcher.submit(Job(lane=("asr", "tiny", 10), stream_id="s", generation=0, payload=1))
    batcher.submit(Job(lane=("asr", "tiny", 10), stream_id="s", generation=0, payload=2))
    assert seen == [("asr", "tiny", 10)]
    assert batcher.depths() == {("asr", "tiny", 10): 2}


def test_drop_all_records_every_queued_job() -> None:
    batcher, _ = make()
    batcher.submit(job("bulk", 1, key="k"))
    batcher.submit(job("urgent", 2))
    batcher.drop_all("closed")
    assert sorted((j.payload, r) for j, r in batcher.drain_dropped()) == [(1, "closed"), (2, "closed")]
    assert len(batcher) == 0 and batcher.next_deadline() is None


def test_lane_config_is_validated() -> None:
    with pytest.raises(ValueError):
        LaneConfig(priority=0, max_batch=0, max_wait_s=0.0, capacity=1)
    with pytest.raises(ValueError):
        LaneConfig(priority=0, max_batch=1, max_wait_s=0.0, capacity=1, max_age_s=1.0)


def test_cancel_only_the_jobs_a_stream_abandoned() -> None:
    batcher, _ = make()
    jobs = [Job("bulk", "a", 0, 1, tag=11), Job("bulk", "a", 0, 2, tag=12), Job("bulk", "b", 0, 3, tag=11)]
    for j in jobs:
        batcher.submit(j)
    batcher.cancel("a", tags={11})
    assert batcher.drain_dropped() == [(jobs[0], "cancelled")]
    assert batcher.depths() == {"bulk": 2}, "the other stream's job with the same tag stays"
