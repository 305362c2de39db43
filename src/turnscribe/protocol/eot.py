"""End-of-turn confidence: fuse silence, the acoustic model and the transcript's own cues.

``end_of_turn_confidence`` is a logistic combination of three evidences (pure maths, no model
calls here; the session supplies the acoustic probability):

- ``silence_s``: seconds since the last speech (VAD). The longer the pause, the likelier the end.
- ``acoustic``: P(complete) from the end-of-turn audio model (Smart Turn) on the turn's tail.
- ``text``: a prior from the words — a finished sentence ("...please.") vs. a trailing
  conjunction, article, preposition, filler or lead-in ("and", "the", "my number is", "um").

The weights live in ``EotWeights`` so they can be calibrated (``turnscribe eval turns``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from turnscribe.protocol.transcript import norm_word

# Words after which a speaker is rarely finished.
CONTINUATION_WORDS = frozenset("""
a an the and or but so because if then than that which who whose whom where when while as
to of for from in on at by with about into onto over under between through during without
my your his her our their its this these those some any every each no not
is are was were be been am will would can could should shall may might must do does did have has had
i you he she we they it there here
um uh er ah hmm mm like well
""".split())
LEAD_IN = re.compile(r"\b(number|code|address|email|phone|name|date|zip|is|was|are)$")
FILLERS = frozenset({"um", "uh", "er", "ah", "hmm", "mm", "erm", "uhm"})


@dataclass(frozen=True, slots=True)
class EotWeights:
    acoustic: float = 1.0
    text: float = 1.0
    silence_per_s: float = 5.0
    silence_offset_s: float = 0.45
    bias: float = 0.0


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def text_completeness(transcript: str) -> float:
    """Prior P(complete) from the words alone."""
    text = transcript.strip()
    if not text:
        return 0.2
    last = norm_word(text.split()[-1])
    if text.endswith(("...", "…", ",", "-", ":")):
        return 0.12
    if last in FILLERS:
        return 0.08
    if last in CONTINUATION_WORDS or LEAD_IN.search(last):
        return 0.15
    if text.endswith(("?", "!")):
        return 0.8
    if text.endswith("."):
        return 0.7
    return 0.4


def fuse(*, silence_s: float, acoustic: float | None, transcript: str,
         weights: EotWeights = EotWeights()) -> float:
    """Calibrated-ish probability that the turn is over, in [0, 1]."""
    z = weights.bias
    z += weights.text * _logit(text_completeness(transcript))
    if acoustic is not None:
        z += weights.acoustic * _logit(acoustic)
    z += weights.silence_per_s * (silence_s - weights.silence_offset_s)
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
