"""The one in-process driver (``runtime.driver.drive``) behind ``transcribe`` and every ``eval``."""

from __future__ import annotations

import json
import time

from helpers import speech_like

from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import InlineSession, drive, frames_of
from turnscribe.wire.events import Connected, Event, TurnEvent, TurnInfo
from turnscribe.wire.params import ListenParams

PARAMS = ListenParams(encoding="linear16", sample_rate=16000)


def _drive(data: bytes, **kw: object) -> tuple[list[Event], InlineSession, list[int]]:
    session = InlineSession(PARAMS, fake_engines())
    events: list[Event] = []
    fed: list[int] = []
    drive(session, frames_of(data, 2560), on_events=events.extend, on_fed=fed.append, **kw)  # type: ignore[arg-type]
    return events, session, fed


def test_every_frame_goes_in_then_close_stream_ends_the_stream() -> None:
    data = speech_like(2.0)
    events, session, fed = _drive(data)
    assert isinstance(events[0], Connected) and session.closed
    assert sum(fed) == len(data) and session.now == 2.0


def test_a_control_message_goes_in_at_its_byte_offset() -> None:
    data = speech_like(3.0)
    force = json.dumps({"type": "ForceEndTurn"})
    events, _, _ = _drive(data, actions=[(32000, force)])   # after 1 s of audio
    ends = [e for e in events if isinstance(e, TurnInfo) and e.event is TurnEvent.END_OF_TURN]
    assert ends and ends[0].audio_window_end <= 1.1


def test_without_close_the_stream_stays_open() -> None:
    _, session, _ = _drive(speech_like(1.0), close=False)
    assert not session.closed


def test_realtime_paces_at_the_byte_rate() -> None:
    t = time.monotonic()
    _, _, fed = _drive(bytes(16000), realtime_bytes_per_second=32000.0)   # 0.5 s of audio
    assert time.monotonic() - t >= 0.5 - 0.08 - 0.01, "the last frame is due 80 ms before the end"
    assert sum(fed) == 16000
