"""Run one audio source through turnscribe: in this process (the server's ``Session`` and engines, no
socket), or through a running server's ``/v2/listen``. Both hand every wire message, as JSON text,
to ``on_message`` in the order the server would send it.

Locally the audio goes in as fast as the engines answer (or at real time with ``realtime``); the
``Session`` decides on the audio clock alone, so the messages are the ones a server sends for the
same bytes — the request id aside, and as long as the server sheds no live partial under load.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from turnscribe.runtime.driver import InlineSession
from turnscribe.transcribe.source import AudioSource
from turnscribe.types.engine import Engines
from turnscribe.wire.events import Error, WireEncoder
from turnscribe.wire.params import ListenParams

__all__ = ["LISTEN_PATH", "Outcome", "listen_url", "run_local", "run_remote"]

LISTEN_PATH = "/v2/listen"
CLOSE_STREAM = json.dumps({"type": "CloseStream"})
NORMAL_CLOSES = (1000, 1001)

OnMessage = Callable[[str], None]
OnProgress = Callable[[float], None]   # seconds of audio just sent


@dataclass
class Outcome:
    close_code: int | None = None
    error: str | None = None   # why the stream failed (Error message, refusal, abnormal close)


class _Pacer:
    """Sleeps so that audio goes out no faster than real time (``realtime``), else not at all."""

    def __init__(self, realtime: bool, bytes_per_second: float) -> None:
        self.realtime, self.bps = realtime, bytes_per_second
        self.sent_s = 0.0
        self.t0 = time.monotonic()

    def advance(self, nbytes: int) -> float:
        seconds = nbytes / self.bps
        self.sent_s += seconds
        return seconds

    def delay(self) -> float:
        return max(0.0, self.t0 + self.sent_s - time.monotonic()) if self.realtime else 0.0


def run_local(source: AudioSource, params: ListenParams, engines: Engines, *, on_message: OnMessage,
              on_progress: OnProgress | None = None, realtime: bool = False) -> Outcome:
    session = InlineSession(params, engines, stream_id="transcribe")
    encoder = WireEncoder(str(uuid.uuid4()))
    outcome = Outcome()

    def emit() -> bool:
        for ev in session.events_to_send():
            on_message(encoder.encode(ev))
            if isinstance(ev, Error):
                outcome.error, outcome.close_code = f"{ev.code}: {ev.description}", ev.close_code
        return not session.closed

    emit()
    pacer = _Pacer(realtime, source.bytes_per_second)
    for frame in source.frames:
        time.sleep(pacer.delay())
        session.receive_audio(frame)
        if on_progress is not None:
            on_progress(pacer.advance(len(frame)))
        if not emit():
            return outcome
    session.receive_text(CLOSE_STREAM)
    emit()
    if outcome.close_code is None:
        outcome.close_code = 1000
    return outcome


def listen_url(base: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``ws://host:port`` (or a full ``.../v2/listen`` URL) plus the query."""
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"--url must start with ws:// or wss://, got {base!r}")
    path = parts.path.rstrip("/") or LISTEN_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(list(pairs)), ""))


async def run_remote(url: str, source: AudioSource, *, on_message: OnMessage, api_key: str | None = None,
                     on_progress: OnProgress | None = None, realtime: bool = False) -> Outcome:
    headers = {"Authorization": f"Token {api_key}"} if api_key else None
    outcome = Outcome()
    try:
        ws = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=30)
    except InvalidStatus as exc:
        reason = exc.response.headers.get("dg-error", "")
        outcome.error = f"the server refused the stream: HTTP {exc.response.status_code} {reason}".rstrip()
        return outcome
    except OSError as exc:
        outcome.error = f"cannot connect to {url.split('?')[0]}: {exc}"
        return outcome
    async with ws:
        sender = asyncio.create_task(_send(ws, source, on_progress, realtime))
        try:
            async for raw in ws:
                text = raw if isinstance(raw, str) else raw.decode()
                on_message(text)
                doc = json.loads(text)
                if doc.get("type") == "Error":
                    outcome.error = f"{doc.get('code')}: {doc.get('description')}"
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    outcome.close_code = ws.close_code
    if outcome.error is None and ws.close_code not in NORMAL_CLOSES:
        outcome.error = f"the server closed the stream with {ws.close_code} {ws.close_reason}".rstrip()
    return outcome


async def _send(ws: websockets.ClientConnection, source: AudioSource, on_progress: OnProgress | None,
                realtime: bool) -> None:
    pacer = _Pacer(realtime, source.bytes_per_second)
    try:
        for frame in source.frames:
            await asyncio.sleep(pacer.delay())
            await ws.send(frame)
            if on_progress is not None:
                on_progress(pacer.advance(len(frame)))
        await ws.send(CLOSE_STREAM)
    except ConnectionClosed:
        return
