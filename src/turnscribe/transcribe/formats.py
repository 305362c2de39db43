"""Output formats of ``turnscribe transcribe``, all read from the wire messages (JSON text).

- ``jsonl``: every message exactly as the server sends it, one per line, as it arrives;
- ``text``: one line per turn;
- ``srt`` / ``vtt``: one cue per turn, timed by its first and last word; VTT cues also carry each
  word's start as an inline timestamp (karaoke-style), so players can highlight words.

A turn is what an ``EndOfTurn`` reports; words still open when the stream ends (the last ``Update``
after ``CloseStream``) make a final turn, as a caller's last words would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TextIO

__all__ = ["FORMATS", "Turn", "TurnCollector", "write_formatted"]

FORMATS = ("jsonl", "text", "srt", "vtt")
EXTENSIONS = {"jsonl": "jsonl", "text": "txt", "srt": "srt", "vtt": "vtt"}


@dataclass(frozen=True)
class Turn:
    index: int
    transcript: str
    start: float
    end: float
    words: tuple[tuple[str, float, float], ...]  # (word, start, end), stream seconds


class TurnCollector:
    """Finished turns from a stream's messages; ``errors`` holds any Error message's text."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.errors: list[str] = []
        self._open: dict[str, Any] | None = None

    def add(self, line: str) -> None:
        msg = json.loads(line)
        kind = msg.get("type")
        if kind == "Error":
            self.errors.append(f"{msg.get('code')}: {msg.get('description')}")
        if kind != "TurnInfo":
            return
        if msg.get("event") == "EndOfTurn":
            self._open = None
            self._append(msg)
        else:
            self._open = msg if msg.get("transcript") else None

    def finish(self) -> list[Turn]:
        """The turns, with the words left open at the end of the stream as the last one."""
        if self._open is not None:
            self._append(self._open)
            self._open = None
        return self.turns

    def _append(self, msg: dict[str, Any]) -> None:
        words = tuple((str(w["word"]), float(w["start"]), float(w["end"])) for w in msg.get("words", []))
        if not msg.get("transcript"):
            return
        start = words[0][1] if words else float(msg["audio_window_start"])
        end = words[-1][2] if words else float(msg["audio_window_end"])
        self.turns.append(Turn(int(msg["turn_index"]), str(msg["transcript"]), start, end, words))


def _clock(seconds: float, sep: str) -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _srt(turns: list[Turn]) -> str:
    cues = [f"{n}\n{_clock(t.start, ',')} --> {_clock(t.end, ',')}\n{t.transcript}\n"
            for n, t in enumerate(turns, 1)]
    return "\n".join(cues)


def _vtt(turns: list[Turn]) -> str:
    out = ["WEBVTT\n"]
    for t in turns:
        if t.words:
            # the first word starts the cue; every later one carries its own timestamp tag
            text = " ".join(w if i == 0 else f"<{_clock(s, '.')}>{w}" for i, (w, s, _) in enumerate(t.words))
        else:
            text = t.transcript
        out.append(f"turn-{t.index}\n{_clock(t.start, '.')} --> {_clock(t.end, '.')}\n{text}\n")
    return "\n".join(out)


def write_formatted(fmt: str, turns: list[Turn], out: TextIO) -> None:
    """Write the finished turns as ``text``, ``srt`` or ``vtt`` (``jsonl`` is streamed as it comes)."""
    if fmt == "text":
        out.writelines(f"{t.transcript}\n" for t in turns)
    elif fmt == "srt":
        out.write(_srt(turns))
    elif fmt == "vtt":
        out.write(_vtt(turns))
    else:
        raise ValueError(f"unknown format {fmt!r}")
