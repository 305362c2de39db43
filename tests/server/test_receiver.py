"""The reader's wait for the next frame: the idle timeout, and leaving it when the server drains."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from turnscribe.errors import IdleTimeout
from turnscribe.server.connection import Draining, Receiver


class SilentSocket:
    """A connection whose client sends nothing (until ``frames`` are put in)."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[bytes] = asyncio.Queue()
        self.last_activity = asyncio.get_running_loop().time()

    async def recv(self) -> bytes:
        return await self.frames.get()


async def _receiver(idle_timeout: float) -> tuple[SilentSocket, Receiver]:
    ws = SilentSocket()
    return ws, Receiver(cast(Any, ws), idle_timeout)


def test_a_frame_is_returned_as_sent() -> None:
    async def main() -> str | bytes:
        ws, rx = await _receiver(5.0)
        ws.frames.put_nowait(b"\x00\x01")
        return await rx.recv()

    assert asyncio.run(main()) == b"\x00\x01"


def test_leave_stops_a_wait_for_a_client_that_sends_nothing() -> None:
    async def main() -> float:
        _ws, rx = await _receiver(30.0)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        loop.call_later(0.05, rx.leave)
        with pytest.raises(Draining):
            await rx.recv()
        return loop.time() - t0

    assert asyncio.run(main()) < 1.0  # not the 30 s idle timeout


def test_leave_between_frames_stops_the_next_wait() -> None:
    async def main() -> None:
        ws, rx = await _receiver(30.0)
        rx.leave()
        ws.frames.put_nowait(b"\x00\x01")
        with pytest.raises(Draining):
            await rx.recv()

    asyncio.run(main())


def test_silence_past_the_idle_timeout_raises_and_activity_moves_it() -> None:
    async def main() -> float:
        ws, rx = await _receiver(0.2)
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        def ping() -> None:  # a ping counts as input: the deadline moves
            ws.last_activity = loop.time()

        loop.call_later(0.15, ping)
        with pytest.raises(IdleTimeout):
            await rx.recv()
        return loop.time() - t0

    waited = asyncio.run(main())
    assert 0.33 <= waited < 1.0  # 0.15 s + the 0.2 s timeout after the ping, not 0.2 s
