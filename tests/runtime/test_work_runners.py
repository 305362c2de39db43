"""Where engine work runs for the server: BatchedWork (one worker pool for every stream, results
back on the event loop, per-engine metrics) and InlineWork (each stream's requests at once on an
executor), with the scripted engines."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from turnscribe.core.work import EngineRequest, EngineResult
from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.lanes import BatchedWork, InlineWork
from turnscribe.runtime.metrics import Metrics
from turnscribe.types.engine import AsrRequest, AsrResult, TurnRequest, VadRequest

ENGINES = fake_engines("hello there.")


class BrokenAsr:
    """An ASR engine whose every call fails."""

    multilingual = False

    def transcribe(self, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        raise RuntimeError("engine down")


def requests(stream: str = "s") -> list[EngineRequest]:
    audio = np.zeros(16000, dtype=np.float32)
    return [EngineRequest(stream, 0, 1, VadRequest(ENGINES.vad.new_state(), audio[:1024])),
            EngineRequest(stream, 0, 2, AsrRequest(audio, final=True)),
            EngineRequest(stream, 0, 3, TurnRequest(audio))]


async def collect(work: BatchedWork | InlineWork, reqs: list[EngineRequest]) -> list[EngineResult | BaseException]:
    got: list[EngineResult | BaseException] = []
    done = asyncio.Event()

    def deliver(res: EngineResult | BaseException) -> None:
        got.append(res)
        if len(got) == len(reqs):
            done.set()

    work.submit(reqs, deliver)
    await asyncio.wait_for(done.wait(), 10)
    return got


def test_batched_work_answers_every_request_on_the_loop_and_observes_batches() -> None:
    async def main() -> tuple[list[EngineResult | BaseException], Metrics]:
        metrics = Metrics()
        work = BatchedWork(ENGINES, asyncio.get_running_loop(), threads=2, metrics=metrics)
        try:
            return await collect(work, requests()), metrics
        finally:
            work.close()

    got, metrics = asyncio.run(main())
    results = {r.seq: r for r in got if isinstance(r, EngineResult)}
    assert sorted(results) == [1, 2, 3]
    assert isinstance(results[1].value, np.ndarray) and isinstance(results[2].value, AsrResult)
    assert isinstance(results[3].value, float)
    body = metrics.render()[0].decode()
    for engine in ("vad", "asr_final", "turn"):
        assert f'turnscribe_engine_batch_size_count{{engine="{engine}"}} 1.0' in body
        assert f'turnscribe_engine_cpu_seconds_total{{engine="{engine}"}}' in body, "CPU of every engine call"


def test_batched_work_cancels_a_streams_queued_work() -> None:
    async def main() -> list[EngineResult | BaseException]:
        work = BatchedWork(ENGINES, asyncio.get_running_loop(), threads=1, metrics=Metrics())
        try:
            work.cancel("nobody")  # nothing queued: nothing happens
            assert work.stalled == 0 and work.longest_stall_s() == 0.0
            return await collect(work, requests())
        finally:
            work.close()

    assert len(asyncio.run(main())) == 3


def test_inline_work_runs_a_streams_requests_together_and_reports_failures() -> None:
    async def main() -> tuple[list[EngineResult | BaseException], list[EngineResult | BaseException]]:
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(1) as pool:
            work = InlineWork(ENGINES, loop, pool, Metrics())
            assert work.stalled == 0 and work.longest_stall_s() == 0.0
            work.cancel("s")
            ok = await collect(work, requests())
            broken = InlineWork(dataclasses.replace(ENGINES, asr=BrokenAsr()), loop, pool, Metrics())
            bad = await collect(broken, requests()[1:2])
            work.close()
            return ok, bad

    ok, bad = asyncio.run(main())
    assert [r.seq for r in ok if isinstance(r, EngineResult)] == [1, 2, 3]
    assert len(bad) == 1 and isinstance(bad[0], BaseException)
