"""Engine interfaces: small, typed, batch-first.

Every engine takes a *batch* of requests and returns one result per request, in order. The
session asks for work one request at a time; the server's scheduler merges concurrent requests
from many streams into one model call (``turnscribe.runtime.scheduler`` and ``runtime/lanes.py``).
Nothing here imports a model library.

Audio handed to engines is always mono float32 in [-1, 1] at ``SAMPLE_RATE`` (16 kHz).
Times in results are stream seconds (the audio clock of the stream the request came from).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
Audio = npt.NDArray[np.float32]

@dataclass(frozen=True, slots=True)
class Word:
    """One recognised word: punctuated, cased text and its span on the stream clock."""

    text: str
    start: float
    end: float
    confidence: float


# ----------------------------------------------------------------------------- VAD


class VadState(Protocol):
    """Opaque per-stream recurrent state of a VAD (created by ``VadEngine.new_state``)."""


@dataclass(frozen=True, slots=True)
class VadRequest:
    """``audio`` is a whole number of ``VadEngine.chunk_samples`` chunks."""

    state: VadState
    audio: Audio


@runtime_checkable
class VadEngine(Protocol):
    chunk_samples: int

    def new_state(self) -> VadState: ...

    def process(self, batch: Sequence[VadRequest]) -> list[npt.NDArray[np.float32]]:
        """Speech probability per chunk, for each request (advances each state)."""
        ...


# ----------------------------------------------------------------------------- ASR


@dataclass(frozen=True, slots=True)
class AsrRequest:
    """Transcribe ``audio`` (which starts at stream second ``offset``).

    ``final`` asks for the best transcript (end of turn) rather than a cheap partial.
    ``prompt`` is text already said in this turn before ``audio`` (context for the decoder).
    ``keyterms`` are words to favour; ``language`` a hint (ISO 639-1) or None to detect, among
    ``languages`` when given (the stream's hints, or every language the API supports).
    """

    audio: Audio
    offset: float = 0.0
    final: bool = False
    prompt: str = ""
    keyterms: tuple[str, ...] = ()
    language: str | None = None
    languages: tuple[str, ...] = ()
    short_window: bool = False  # a live refresh: may be decoded in a short window (window_seconds)


@dataclass(frozen=True, slots=True)
class AsrResult:
    words: tuple[Word, ...] = ()
    language: str | None = None
    no_speech_prob: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@runtime_checkable
class AsrEngine(Protocol):
    multilingual: bool

    def transcribe(self, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        """One result per request, in the batch's order (callers pair them with ``zip(strict=True)``)."""
        ...


# ----------------------------------------------------------------------------- end of turn


@dataclass(frozen=True, slots=True)
class TurnRequest:
    """Score whether the speaker has finished.

    ``audio`` is the end of the current turn up to now (at most the last 8 s are used),
    ``transcript`` the turn's text so far.
    """

    audio: Audio
    transcript: str = ""


@runtime_checkable
class TurnEngine(Protocol):
    def score(self, batch: Sequence[TurnRequest]) -> list[float]:
        """Probability in [0, 1] that the turn is complete, per request."""
        ...


@dataclass(frozen=True, slots=True)
class Engines:
    """The set of engines one session uses (shared model objects across sessions)."""

    vad: VadEngine
    asr: AsrEngine
    turn: TurnEngine
    names: dict[str, str] = field(default_factory=dict)
    asr_multi: AsrEngine | None = None  # multilingual model for flux-general-multi (else ``asr``)

    def asr_for(self, multilingual: bool) -> AsrEngine:
        return self.asr_multi if (multilingual and self.asr_multi is not None) else self.asr
