"""Replay an audio file through the real ``Session`` and engines in-process (``InlineSession``, no sockets), faster than real time.

The file is sent exactly as a client would send it: containers (WAV, Ogg) as their bytes with
no ``encoding``, headerless ``.raw`` as ``linear16`` at the given rate; 80 ms frames. Every
``eval`` command replays through here, and here through the one in-process driver
(``runtime.driver.drive``) that ``turnscribe transcribe`` uses too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from turnscribe.core.session import TurnPolicy
from turnscribe.runtime.driver import InlineSession, drive, frames_of
from turnscribe.types.engine import SAMPLE_RATE, Engines
from turnscribe.wire.events import Event, TurnEvent, TurnInfo
from turnscribe.wire.params import ListenParams


@dataclass
class Replay:
    events: list[Event] = field(default_factory=list)
    compute_s: float = 0.0      # wall time spent inside the session (engines included)
    audio_s: float = 0.0        # stream audio covered
    session: InlineSession | None = None  # kept when asked (keep_session=True)

    @property
    def turninfos(self) -> list[TurnInfo]:
        return [e for e in self.events if isinstance(e, TurnInfo)]

    @property
    def ends(self) -> list[TurnInfo]:
        return [e for e in self.turninfos if e.event is TurnEvent.END_OF_TURN]

    def final_text(self) -> str:
        """The text of every ended turn, plus the open turn's words at the end of the stream."""
        parts = [e.transcript for e in self.ends]
        ti = self.turninfos
        if ti and ti[-1].event is not TurnEvent.END_OF_TURN and ti[-1].transcript:
            parts.append(ti[-1].transcript)
        return " ".join(p for p in parts if p)


def stream_params(path: Path, *, base: ListenParams | None = None, raw_rate: int = 8000) -> ListenParams:
    base = base or ListenParams()
    if path.suffix == ".raw":
        return base.with_changes(encoding="linear16", sample_rate=raw_rate)
    return base.with_changes(encoding=None, sample_rate=None)


def replay_bytes(data: bytes, params: ListenParams, engines: Engines, *, frame_bytes: int = 2560,
                 policy: TurnPolicy | None = None, actions: list[tuple[int, str]] | None = None,
                 close: bool = True, keep_session: bool = False) -> Replay:
    """``data`` through the in-process driver in frames of ``frame_bytes``; ``actions`` are text
    messages at byte offsets (``drive``), ``close`` ends with ``CloseStream``."""
    out = Replay()
    t0 = time.perf_counter()
    session = InlineSession(params, engines, policy=policy)
    drive(session, frames_of(data, frame_bytes), on_events=out.events.extend, actions=actions or (), close=close)
    out.compute_s = time.perf_counter() - t0
    out.audio_s = session.now
    if keep_session:
        out.session = session
    return out


def replay_file(path: Path, engines: Engines, *, params: ListenParams | None = None,
                policy: TurnPolicy | None = None, raw_rate: int = 8000, frame_s: float = 0.08,
                keep_session: bool = False) -> Replay:
    p = stream_params(path, base=params, raw_rate=raw_rate)
    rate = p.sample_rate or SAMPLE_RATE
    frame_bytes = max(1, int(rate * 2 * frame_s))
    return replay_bytes(path.read_bytes(), p, engines, frame_bytes=frame_bytes, policy=policy,
                        keep_session=keep_session)
