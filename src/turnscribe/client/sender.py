"""The paced sender: audio frames on a real-time schedule, each frame's lateness recorded.

A live caller's audio cannot run ahead of the clock, and a client that falls behind (a busy event
loop, a bench with hundreds of streams) sends late: ``lateness_s`` says by how much, so that a lag
measured against the schedule can be told apart from the client's own delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from turnscribe.runtime.driver import RealTimeSchedule
from turnscribe.wire.messages import CLOSE_STREAM

__all__ = ["PacedSender", "SendLog"]


@dataclass
class SendLog:
    """What went out. Times are on the event loop's clock (``loop.time()``), as the receiver's are."""

    started_at: float | None = None      # when the schedule began: the first frame's due time
    frames: int = 0
    audio_s: float = 0.0
    # per frame: how far behind its due time the sender was when the frame's turn came (0: on time)
    lateness_s: list[float] = field(default_factory=list)
    closed_stream: bool = False          # every frame and then CloseStream went out

    @property
    def worst_lateness_s(self) -> float:
        return max(self.lateness_s, default=0.0)


class PacedSender:
    """Sends frames no faster than real time (``realtime``), else as fast as the socket takes them."""

    def __init__(self, ws: ClientConnection, bytes_per_second: float, *, realtime: bool = True,
                 on_sent: Callable[[float], None] | None = None) -> None:
        self.ws = ws
        self.bytes_per_second = bytes_per_second
        self.realtime = realtime
        self.on_sent = on_sent   # called with the seconds of audio in each frame once it is out
        self.log = SendLog()

    async def send(self, frames: Iterable[bytes]) -> SendLog:
        """Every frame, then ``CloseStream``; stops quietly when the server closes the stream first
        (its close code and messages say why)."""
        schedule = RealTimeSchedule(self.bytes_per_second, asyncio.get_running_loop().time)
        self.log.started_at = schedule.started_at
        try:
            for frame in frames:
                if self.realtime:
                    wait = schedule.due_in()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self.log.lateness_s.append(max(0.0, -wait))
                await self.ws.send(frame)
                seconds = schedule.advance(len(frame))
                self.log.frames += 1
                self.log.audio_s = schedule.audio_s
                if self.on_sent is not None:
                    self.on_sent(seconds)
            await self.ws.send(CLOSE_STREAM)
            self.log.closed_stream = True
        except ConnectionClosed:
            pass
        return self.log
