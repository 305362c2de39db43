"""Stream a recording through a running server at real time and keep what came back, with the wall
time each message arrived: what a client feels (decision time plus compute plus transport)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from turnscribe.client.stream import stream
from turnscribe.client.url import with_query
from turnscribe.client.wav import read_pcm16_wav
from turnscribe.runtime.driver import frames_of

FRAME_S = 0.02  # 20 ms frames, as telephony and WebRTC clients send


@dataclass
class LiveResult:
    """``messages``: (arrival, message), arrival in seconds since the first audio frame was sent,
    i.e. on the recording's own clock: a message about audio time t that arrives at t + x was x
    late on the wall clock."""

    path: str
    messages: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None

    def turninfos(self) -> list[tuple[float, dict[str, Any]]]:
        return [(t, m) for t, m in self.messages if m.get("type") == "TurnInfo"]


async def stream_file(url: str, path: Path, query: dict[str, str], *, headers: dict[str, str] | None = None,
                      close_timeout_s: float = 60.0) -> LiveResult:
    pcm = read_pcm16_wav(path)
    res = LiveResult(str(path))
    q = {"encoding": "linear16", "sample_rate": str(pcm.sample_rate), **query}
    full = with_query(url, q.items())
    frame = int(pcm.sample_rate * FRAME_S) * 2
    got = await stream(full, frames_of(pcm.data, frame), bytes_per_second=2.0 * pcm.sample_rate, headers=headers,
                       close_timeout_s=close_timeout_s)
    if got.open_failure is not None:
        res.error = got.open_failure
        return res
    t0 = got.sent.started_at or 0.0
    res.messages = [(a.at - t0, doc) for a in got.arrivals if (doc := a.document()) is not None]
    if got.close_timed_out:
        res.error = "close timeout"
    res.close_code = got.close_code
    return res


async def stream_many(url: str, jobs: list[tuple[Path, dict[str, str]]], *, concurrency: int = 1,
                      headers: dict[str, str] | None = None) -> list[LiveResult]:
    """Stream every (file, query) job, ``concurrency`` at a time; results in job order."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(path: Path, query: dict[str, str]) -> LiveResult:
        async with sem:
            return await stream_file(url, path, query, headers=headers)

    return list(await asyncio.gather(*(one(p, q) for p, q in jobs)))
