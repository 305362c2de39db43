"""One stream end to end, as a live caller does it: connect, send paced audio while receiving,
wait for the server to close after ``CloseStream``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

from turnscribe.client.closes import is_normal_close
from turnscribe.client.receiver import Arrival, Receiver
from turnscribe.client.sender import PacedSender, SendLog

__all__ = ["Refusal", "StreamResult", "stream"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """The server answered the handshake with an HTTP error instead of opening the stream."""

    status: int
    reason: str   # the ``dg-error`` header, as Deepgram sends it ("" when absent)


@dataclass
class StreamResult:
    endpoint: str = ""                       # the URL without its query (which may hold keyterms)
    arrivals: list[Arrival] = field(default_factory=list)
    sent: SendLog = field(default_factory=SendLog)
    close_code: int | None = None
    close_reason: str = ""
    refusal: Refusal | None = None
    connect_error: Exception | None = None   # no connection at all (refused handshakes aside)
    close_timed_out: bool = False            # the server did not close in time after CloseStream

    @property
    def normal_close(self) -> bool:
        return is_normal_close(self.close_code)

    @property
    def open_failure(self) -> str | None:
        """Why the stream never opened, for a person to read; None when it opened."""
        if self.refusal is not None:
            return f"the server refused the stream: HTTP {self.refusal.status} {self.refusal.reason}".rstrip()
        if self.connect_error is not None:
            return f"cannot connect to {self.endpoint}: {self.connect_error}"
        return None


async def stream(url: str, frames: Iterable[bytes], *, bytes_per_second: float, realtime: bool = True,
                 headers: Mapping[str, str] | None = None, open_timeout_s: float = 60.0,
                 close_timeout_s: float | None = 60.0, on_message: Callable[[Arrival], None] | None = None,
                 on_sent: Callable[[float], None] | None = None) -> StreamResult:
    """Stream ``frames`` (then ``CloseStream``) to ``url`` and read until the server closes.

    Sending stops when the server closes first. ``close_timeout_s`` bounds the wait for the close
    once everything is sent (None: no bound); past it the client closes itself. Exceptions raised
    by ``frames`` (a file that fails to decode half-way) come out of this call.
    """
    result = StreamResult(url.split("?")[0])
    try:
        # audio does not compress and client pings add nothing to a stream that sends all the time
        ws = await connect(url, additional_headers=dict(headers) if headers else None, open_timeout=open_timeout_s,
                           ping_interval=None, compression=None, close_timeout=10, max_size=None)
    except InvalidStatus as exc:
        result.refusal = Refusal(exc.response.status_code, exc.response.headers.get("dg-error", ""))
        return result
    except (OSError, InvalidHandshake, InvalidURI) as exc:  # TimeoutError is an OSError
        result.connect_error = exc
        return result
    receiver = Receiver(ws, on_message, result.arrivals)
    sender = PacedSender(ws, bytes_per_second, realtime=realtime, on_sent=on_sent)
    result.sent = sender.log
    receiving = asyncio.create_task(receiver.run())
    sending = asyncio.create_task(sender.send(frames))
    try:
        await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
        if sending.done():
            sending.result()  # re-raises what the frames raised
            try:
                await asyncio.wait_for(asyncio.shield(receiving), close_timeout_s)
            except TimeoutError:
                result.close_timed_out = True
    finally:
        sending.cancel()   # the server closed first: the rest of the audio has nowhere to go
        await ws.close()
        await asyncio.gather(sending, receiving, return_exceptions=True)
    result.close_code, result.close_reason = ws.close_code, ws.close_reason or ""
    return result
