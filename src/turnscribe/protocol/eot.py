"""End-of-turn confidence: fuse silence, the acoustic model and the transcript's own cues.

``end_of_turn_confidence`` is a logistic model over named features (pure maths, no model calls
here; the session supplies the acoustic probability):

- ``silence``: seconds since the last speech (VAD, unvoiced tails included), as a piecewise-linear
  curve (``SILENCE_KNOTS``): intra-turn pauses are mostly 0.4-1.5 s, so each stretch gets a slope.
- ``acoustic``: logit of P(complete) from the end-of-turn audio model (Smart Turn) asked once,
  ~0.1 s into the pause (0 when not asked yet), plus ``acoustic_high``, a hinge above P 0.92: only a
  very sure "complete" separates a finished statement from a statement-like list item.
- text cues of the words so far: a finished sentence (``terminal``, ``question``) vs. a
  trailing comma, a conjunction/article/preposition/lead-in or clause-opening "that"
  (``continuation``: "and", "the", "my number is", "the reason is that"), a filler ("um"), a
  trailing number and whether its digit count looks whole (dictation pauses between groups), an
  open enumeration, a very short answer ("Yes."), and ``unsure`` words (low ASR confidence).
- ``soon_after_end``: the turn began right after a turn the model ended (a fixed prior): the
  speaker most likely went on after a premature end, so the next end needs more evidence.

``EotModel`` holds the weights; ``turnscribe eval calibrate`` refits them on labelled pauses vs.
turn ends (logistic regression), so the output is a probability, not an ad-hoc score.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from turnscribe.engines.base import Word
from turnscribe.protocol.transcript import norm_word

# Words after which a speaker is rarely finished.
CONTINUATION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "so", "because", "if", "then", "than", "of", "for", "from", "to",
    "with", "at", "into", "onto", "between", "during", "without",
    "my", "your", "his", "her", "our", "their", "its",
    "is", "are", "was", "were", "be", "been", "am", "will", "would", "can", "could", "should", "shall", "may",
    "might", "must", "do", "does", "did", "have", "has", "had",
    "i", "he", "she", "we", "they",
    "like", "think", "mean", "want", "need", "guess", "believe", "hope", "wonder", "say", "tell", "whether",
    "unless", "although",
})  # not "you", "it", "that", "through", "in", "on": sentences end in them ("Thank you.")
# one-word (or two-word) turns that are complete answers on their own
ANSWER_WORDS = frozenset({
    "yes", "yeah", "yep", "yup", "no", "nope", "nah", "okay", "ok", "sure", "right", "correct", "exactly",
    "great", "perfect", "fine", "thanks", "thank", "you", "bye", "goodbye", "hello", "hi", "hey",
    "absolutely", "definitely", "alright", "cool", "got", "it", "please",
})
# digit strings of these lengths are usually whole (last four, ZIP, local / US phone, card);
# other lengths are usually a group of a longer number still being dictated (3-3-4 phone)
WHOLE_DIGIT_COUNTS = frozenset({4, 5, 7, 10, 11, 16})
# "that" ends a sentence ("I like that.") except after a verb that introduces a clause
# ("The reason I'm calling is that ...", "I think that ...")
CLAUSE_VERBS = frozenset({
    "is", "was", "are", "were", "be", "think", "thought", "said", "says", "mean", "meant", "hope", "believe",
    "sure", "know", "knew",
})
LEAD_IN = re.compile(r"(number|code|address|email|phone|name|date|zip|pin)$")
FILLERS = frozenset({"um", "uh", "er", "ah", "hmm", "mm", "erm", "uhm", "well"})
NUMBER_WORDS = frozenset({
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand",
})

FEATURES = ("bias", "silence", "silence_0.3", "silence_0.6", "silence_0.9", "acoustic", "acoustic_high",
            "terminal", "question", "comma", "continuation", "filler", "number_tail", "answer", "digits_open",
            "digits_whole", "list_open", "unsure", "soon_after_end", "late_push")
# A turn that starts within this long of the previous turn's last speech, when the model ended that
# turn, is most likely the same speaker going on after a premature end: ask for more evidence.
# The weight is a prior, not fitted: calibration replays end every turn by hand, after the pause.
SOON_AFTER_END_S = 1.5
SOON_AFTER_END_WEIGHT = -2.0
# Latency prior: the fitted curve balances cut-offs against all turn ends alike; the ends it leaves
# waiting past ~0.8 s are the ones users notice most. A ramp from 0 to 1 between these silences,
# with a fixed weight, moves them earlier; the labelled intra-turn pauses that reach this far all
# carry a strong hold cue (a trailing "for", an open digit group) and stay below the thresholds.
LATE_PUSH_S = (0.65, 0.85)
LATE_PUSH_WEIGHT = 0.75
UNSURE_BELOW = 0.6  # mean word confidence of the last two words below this: the text cues are doubtful
# Silence enters as a piecewise-linear curve: seconds of silence plus hinges max(silence - k, 0).
# Pauses inside a turn are mostly 0.4-1.5 s long, so each stretch of silence gets its own slope.
SILENCE_KNOTS = (0.3, 0.6, 0.9)
# Smart Turn's answer enters as its logit plus a hinge above this logit (P > 0.92): only a very sure
# "complete" separates a finished statement from a statement-like list item or phrase.
ACOUSTIC_HIGH = 2.5


@dataclass(frozen=True, slots=True)
class Cues:
    """What the session knows at a decision point (the raw inputs of ``features``)."""

    silence_s: float
    acoustic: tuple[float, ...] = ()   # Smart Turn answers in this pause, oldest first
    words: tuple[Word, ...] = ()
    soon_after_end: bool = False       # the turn began right after a model-decided end (see features)

    @property
    def transcript(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class EotModel:
    """Weights of the logistic model, one per name in ``FEATURES``."""

    # fitted by `turnscribe eval calibrate --data ../shared/data` (defaults: neg-weight 3, L2 1, points
    # up to 1.5 s into a pause) on the labelled turn clips
    weights: tuple[float, ...] = (
        -2.5076, 1.399, 0.6405, 1.3917, 0.9715, 0.2847, 1.078, 1.1279,
        1.2483, -1.2628, -5.2249, -1.3786, 0.1061, 2.5067, -3.9934, 3.6953, -2.3732, -0.6019, -2.0, 0.75)

    def probability(self, x: Sequence[float]) -> float:
        z = sum(w * v for w, v in zip(self.weights, x))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


_SEGMENTS = re.compile(r"(?:[^,.;!?]|[.,](?=\d))+")  # a "." or "," inside a number (7.30, 1,200) does not split
_DIGIT_RUN = re.compile(r"(?:\d[\d\s,.-]*)$")


def _trailing_digits(text: str) -> int:
    m = _DIGIT_RUN.search(text.rstrip(".?! "))
    return sum(c.isdigit() for c in m.group(0)) if m else 0


def _list_open(text: str) -> bool:
    """An enumeration whose last item is not introduced by "and"/"or": "eggs, milk" (open) vs
    "eggs, milk, and bread" (closed). Items are short segments between commas/periods."""
    segs = [s.strip().lower() for s in _SEGMENTS.findall(text) if s.strip()]
    if len(segs) < 2:
        return False
    last, prev = segs[-1].split(), segs[-2].split()
    return len(last) <= 3 and len(prev) <= 4 and last[0] not in ("and", "or", "plus")


def text_features(transcript: str) -> tuple[float, ...]:
    """(terminal, question, comma, continuation, filler, number_tail, answer, digits_open,
    digits_whole, list_open) of the words so far."""
    text = transcript.strip()
    if not text:
        return (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    words = text.split()
    normed = [norm_word(w) for w in words]
    last = normed[-1]
    terminal = text.endswith((".", "?", "!")) and not text.endswith(("...", "…"))
    digits = _trailing_digits(text)
    answer = len(words) <= 3 and all(n in ANSWER_WORDS for n in normed)
    question = text.endswith("?")
    clause = last == "that" and len(normed) > 1 and normed[-2] in CLAUSE_VERBS and not question
    return (
        float(terminal),
        float(question),
        float(text.endswith((",", ";", ":", "-", "...", "…"))),
        float(last in CONTINUATION_WORDS or (bool(LEAD_IN.search(last)) and not terminal) or clause),
        float(last in FILLERS),
        float(last.isdigit() or last in NUMBER_WORDS),
        float(answer),
        float(0 < digits and digits not in WHOLE_DIGIT_COUNTS),
        float(digits in WHOLE_DIGIT_COUNTS),
        float(_list_open(text) and not answer),
    )


def features(cues: Cues) -> tuple[float, ...]:
    """The model's inputs, in ``FEATURES`` order. The acoustic answer used is the first of the
    pause: Smart Turn judges the end of speech best with little silence appended; with more,
    mid-sentence pauses and true ends look alike (models.md, pitfall 10)."""
    s = min(cues.silence_s, 3.0)
    a = cues.acoustic
    tail = cues.words[-2:]
    unsure = bool(tail) and sum(w.confidence for w in tail) / len(tail) < UNSURE_BELOW
    ac = logit(a[0]) if a else 0.0
    return (1.0, s, *(max(s - k, 0.0) for k in SILENCE_KNOTS), ac, max(ac - ACOUSTIC_HIGH, 0.0),
            *text_features(cues.transcript),
            float(unsure), float(cues.soon_after_end),
            min(max((s - LATE_PUSH_S[0]) / (LATE_PUSH_S[1] - LATE_PUSH_S[0]), 0.0), 1.0))


def fuse(cues: Cues, model: EotModel = EotModel()) -> float:
    """Probability that the turn is over, in [0, 1]."""
    return model.probability(features(cues))
