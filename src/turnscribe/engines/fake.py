"""Deterministic engines with no model behind them, for tests, demos and ``--engine fake``.

- ``EnergyVad``: a chunk is speech when its RMS is above a threshold (a real, trivial VAD).
- ``ScriptedAsr``: reads words off a script, one word per ``seconds_per_word`` of loud audio,
  placed on the loud regions of the request's audio. The same audio always gives the same words.
- ``ScriptedTurn``: P(complete) from the transcript's last character (or a fixed value).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
import numpy.typing as npt

from turnscribe.types.engine import (
    SAMPLE_RATE,
    AsrRequest,
    AsrResult,
    Audio,
    Engines,
    TurnRequest,
    VadRequest,
    VadState,
    Word,
)

_CHUNK = 512


def _rms(x: Audio) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


@dataclass
class _NoState:
    pass


class EnergyVad:
    chunk_samples = _CHUNK

    def __init__(self, threshold: float = 0.01) -> None:
        self.threshold = threshold

    def new_state(self) -> VadState:
        return _NoState()

    def process(self, batch: Sequence[VadRequest]) -> list[npt.NDArray[np.float32]]:
        out = []
        for req in batch:
            chunks = req.audio[: len(req.audio) // _CHUNK * _CHUNK].reshape(-1, _CHUNK)
            rms = np.sqrt(np.mean(np.square(chunks, dtype=np.float64), axis=1))
            out.append((rms >= self.threshold).astype(np.float32))
        return out


class ScriptedAsr:
    multilingual = False

    def __init__(self, script: str = "hello there how are you doing today.", *,
                 seconds_per_word: float = 0.25, threshold: float = 0.01, language: str = "en") -> None:
        self.script = script.split()
        self.seconds_per_word = seconds_per_word
        self.threshold = threshold
        self.language = language
        self.calls: list[AsrRequest] = []

    def transcribe(self, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        self.calls.extend(batch)
        return [self._one(req) for req in batch]

    def _one(self, req: AsrRequest) -> AsrResult:
        chunk = 160  # 10 ms
        n = len(req.audio) // chunk
        if n == 0:
            return AsrResult(language=self.language)
        frames = req.audio[: n * chunk].reshape(n, chunk)
        loud = np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1)) >= self.threshold
        loud_times = [req.offset + i * chunk / SAMPLE_RATE for i in np.flatnonzero(loud)]
        per_word = round(self.seconds_per_word * SAMPLE_RATE / chunk)
        words = []
        for k in range(len(loud_times) // per_word):
            span = loud_times[k * per_word:(k + 1) * per_word]
            text = self.script[k % len(self.script)]
            words.append(Word(text=text, start=round(span[0], 3), end=round(span[-1] + 0.01, 3),
                              confidence=0.9))
        return AsrResult(words=tuple(words), language=self.language, no_speech_prob=0.0 if words else 1.0)


class ScriptedTurn:
    def __init__(self, fixed: float | None = None) -> None:
        self.fixed = fixed
        self.calls = 0

    def score(self, batch: Sequence[TurnRequest]) -> list[float]:
        self.calls += len(batch)
        if self.fixed is not None:
            return [self.fixed] * len(batch)
        return [0.9 if req.transcript.rstrip().endswith((".", "?", "!")) else 0.2 for req in batch]


class ScriptedAsrOptions(TypedDict, total=False):
    """The keyword options of ``ScriptedAsr``."""

    seconds_per_word: float
    threshold: float
    language: str


def fake_engines(script: str = "hello there how are you. i am fine thanks.",
                 **kw: Unpack[ScriptedAsrOptions]) -> Engines:
    return Engines(vad=EnergyVad(), asr=ScriptedAsr(script, **kw), turn=ScriptedTurn(),
                   names={"vad": "energy", "asr": "scripted", "turn": "scripted"})
