"""End-of-turn confidence: fuse silence, the acoustic model and the transcript's own cues.

``end_of_turn_confidence`` is a logistic model over a few named features (pure maths, no model
calls here; the session supplies the acoustic probability):

- ``silence``: seconds since the last speech (VAD). The longer the pause, the likelier the end.
- ``acoustic``: logit of P(complete) from the end-of-turn audio model (Smart Turn) on the
  turn's last seconds, asked as the pause grows (0 when not asked yet).
- text cues of the words so far: a finished sentence (``terminal``, ``question``) vs. a
  trailing comma, a conjunction/article/preposition/lead-in (``continuation``: "and", "the",
  "my number is"), a filler ("um"), a trailing number (dictation often pauses between groups),
  or a very short answer ("Yes.").

``EotModel`` holds the weights; ``turnscribe eval turns --calibrate`` refits them on labelled
pauses vs. turn ends (logistic regression), so the output is a calibrated probability.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from turnscribe.engines.base import Word
from turnscribe.protocol.transcript import norm_word

# Words after which a speaker is rarely finished.
CONTINUATION_WORDS = frozenset("""
a an the and or but so because if then than that which who whose whom where when while as
to of for from in on at by with about into onto over under between through during without
my your his her our their its this these those some any every each no not
is are was were be been am will would can could should shall may might must do does did have has had
i you he she we they there
like
""".split())
LEAD_IN = re.compile(r"(number|code|address|email|phone|name|date|zip|pin)$")
FILLERS = frozenset({"um", "uh", "er", "ah", "hmm", "mm", "erm", "uhm", "well"})
NUMBER_WORDS = frozenset("""zero oh one two three four five six seven eight nine ten eleven twelve
thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty
seventy eighty ninety hundred thousand""".split())

FEATURES = ("bias", "silence", "acoustic_first", "acoustic_last", "terminal", "question", "comma",
            "continuation", "filler", "number_tail", "short", "final_lengthening")


@dataclass(frozen=True, slots=True)
class Cues:
    """What the session knows at a decision point (the raw inputs of ``features``)."""

    silence_s: float
    acoustic: tuple[float, ...] = ()   # Smart Turn answers in this pause, oldest first
    words: tuple[Word, ...] = ()

    @property
    def transcript(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class EotModel:
    """Weights of the logistic model, one per name in ``FEATURES``."""

    weights: tuple[float, ...] = (-2.0, 3.0, 1.0, 0.0, 1.5, 0.5, -1.5, -2.0, -2.5, -0.5, 0.5, 0.0)

    def probability(self, x: Sequence[float]) -> float:
        z = sum(w * v for w, v in zip(self.weights, x))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


def text_features(transcript: str) -> tuple[float, ...]:
    """(terminal, question, comma, continuation, filler, number_tail, short) of the words so far."""
    text = transcript.strip()
    if not text:
        return (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)
    words = text.split()
    last = norm_word(words[-1])
    terminal = text.endswith((".", "?", "!")) and not text.endswith(("...", "…"))
    return (
        float(terminal),
        float(text.endswith("?")),
        float(text.endswith((",", ";", ":", "-", "...", "…"))),
        float(last in CONTINUATION_WORDS or bool(LEAD_IN.search(last))),
        float(last in FILLERS),
        float(last.isdigit() or last in NUMBER_WORDS),
        float(len(words) <= 2),
    )


def final_lengthening(words: Sequence[Word]) -> float:
    """log(duration of the last word / median word duration): speakers stretch the last word of a
    finished phrase. 0 with fewer than 3 words."""
    if len(words) < 3:
        return 0.0
    durs = [max(w.end - w.start, 0.02) for w in words[-8:]]
    return max(min(math.log(durs[-1] / statistics.median(durs)), 2.0), -2.0)


def features(cues: Cues) -> tuple[float, ...]:
    a = cues.acoustic
    return (1.0, min(cues.silence_s, 3.0), logit(a[0]) if a else 0.0, logit(a[-1]) if a else 0.0,
            *text_features(cues.transcript), final_lengthening(cues.words))


def fuse(cues: Cues, model: EotModel = EotModel()) -> float:
    """Probability that the turn is over, in [0, 1]."""
    return model.probability(features(cues))
