"""Stream a recording through a running server at real time and keep what came back, with the wall
time each message arrived: what a client feels (decision time plus compute plus transport)."""

from __future__ import annotations

import asyncio
import json
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

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


def pcm16_of(path: Path) -> tuple[bytes, int]:
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected mono PCM16")
        return w.readframes(w.getnframes()), w.getframerate()


async def stream_file(url: str, path: Path, query: dict[str, str], *, headers: dict[str, str] | None = None,
                      close_timeout_s: float = 60.0) -> LiveResult:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus

    pcm, rate = pcm16_of(path)
    res = LiveResult(str(path))
    q = {"encoding": "linear16", "sample_rate": str(rate), **query}
    full = f"{url}{'&' if '?' in url else '?'}{urlencode(q)}"
    loop = asyncio.get_running_loop()
    try:
        ws = await connect(full, additional_headers=headers, open_timeout=60, ping_interval=None,
                           compression=None, max_size=None)
    except InvalidStatus as exc:
        res.error = f"HTTP {exc.response.status_code} {exc.response.headers.get('dg-error', '')}"
        return res
    t0 = loop.time()

    async def receive() -> None:
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    res.messages.append((loop.time() - t0, json.loads(raw)))
        except ConnectionClosed:
            pass

    receiver = asyncio.create_task(receive())
    frame = int(rate * FRAME_S) * 2
    try:
        t0 = loop.time()
        for k in range(len(pcm) // frame + (len(pcm) % frame > 0)):
            delay = t0 + k * FRAME_S - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send(pcm[k * frame:(k + 1) * frame])
        await ws.send(json.dumps({"type": "CloseStream"}))
    except ConnectionClosed:
        pass
    try:
        await asyncio.wait_for(asyncio.shield(receiver), close_timeout_s)
    except TimeoutError:
        res.error = "close timeout"
        await ws.close()
        await receiver
    res.close_code = ws.close_code
    return res


async def stream_many(url: str, jobs: list[tuple[Path, dict[str, str]]], *, concurrency: int = 1,
                      headers: dict[str, str] | None = None) -> list[LiveResult]:
    """Stream every (file, query) job, ``concurrency`` at a time; results in job order."""
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(path: Path, query: dict[str, str]) -> LiveResult:
        async with sem:
            return await stream_file(url, path, query, headers=headers)

    return list(await asyncio.gather(*(one(p, q) for p, q in jobs)))
