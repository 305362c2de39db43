"""Run one audio source through turnscribe: in this process (the server's ``Session`` and engines, no
socket), or through a running server's ``/v2/listen``. Both hand every wire message, as JSON text,
to ``on_message`` in the order the server would send it.

Locally the audio goes in as fast as the engines answer (or at real time with ``realtime``); the
``Session`` decides on the audio clock alone, so the messages are the ones a server sends for the
same bytes — the request id aside, and as long as the server sheds no live partial under load.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from turnscribe.client.receiver import Arrival
from turnscribe.client.stream import stream
from turnscribe.runtime.driver import InlineSession, drive
from turnscribe.transcribe.source import AudioSource
from turnscribe.types.engine import Engines
from turnscribe.wire.events import Error, Event, WireEncoder
from turnscribe.wire.params import ListenParams

__all__ = ["Outcome", "run_local", "run_remote"]

OnMessage = Callable[[str], None]
OnProgress = Callable[[float], None]   # seconds of audio just sent


@dataclass
class Outcome:
    close_code: int | None = None
    error: str | None = None   # why the stream failed (Error message, refusal, abnormal close)


def run_local(source: AudioSource, params: ListenParams, engines: Engines, *, on_message: OnMessage,
              on_progress: OnProgress | None = None, realtime: bool = False) -> Outcome:
    session = InlineSession(params, engines, stream_id="transcribe")
    encoder = WireEncoder(str(uuid.uuid4()))
    outcome = Outcome()

    def emit(events: list[Event]) -> None:
        for ev in events:
            on_message(encoder.encode(ev))
            if isinstance(ev, Error):
                outcome.error, outcome.close_code = f"{ev.code}: {ev.description}", ev.close_code

    def fed(nbytes: int) -> None:
        if on_progress is not None:
            on_progress(nbytes / source.bytes_per_second)

    drive(session, source.frames, on_events=emit, on_fed=fed,
          realtime_bytes_per_second=source.bytes_per_second if realtime else None)
    if outcome.close_code is None:
        outcome.close_code = 1000
    return outcome


async def run_remote(url: str, source: AudioSource, *, on_message: OnMessage, api_key: str | None = None,
                     on_progress: OnProgress | None = None, realtime: bool = False) -> Outcome:
    outcome = Outcome()

    def received(arrival: Arrival) -> None:
        text = arrival.message if isinstance(arrival.message, str) else arrival.message.decode()
        on_message(text)
        doc = json.loads(text)
        if doc.get("type") == "Error":
            outcome.error = f"{doc.get('code')}: {doc.get('description')}"

    headers = {"Authorization": f"Token {api_key}"} if api_key else None
    res = await stream(url, source.frames, bytes_per_second=source.bytes_per_second, realtime=realtime,
                       headers=headers, open_timeout_s=30, close_timeout_s=None, on_message=received,
                       on_sent=on_progress)
    if res.open_failure is not None:
        outcome.error = res.open_failure
        return outcome
    outcome.close_code = res.close_code
    if outcome.error is None and not res.normal_close:
        outcome.error = f"the server closed the stream with {res.close_code} {res.close_reason}".rstrip()
    return outcome
