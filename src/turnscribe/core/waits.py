"""What a session's decision step waits for, typed: more input, a frame's VAD answer, or one
engine result. The step (a generator) yields one of these; the session resumes it when it holds."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TypeVar


@dataclass(frozen=True, slots=True)
class NeedInput:
    """Every queued input has been processed."""


@dataclass(frozen=True, slots=True)
class NeedVad:
    """The VAD answer for the chunks up to the decision clock is not back yet."""


@dataclass(frozen=True, slots=True)
class NeedResult:
    """The answer to the engine request ``seq`` is not back yet."""

    seq: int


Wait = NeedInput | NeedVad | NeedResult
NEED_INPUT = NeedInput()
NEED_VAD = NeedVad()

T = TypeVar("T")
Step = Generator[Wait, None, T]  # a part of the decision step that may wait; returns T
