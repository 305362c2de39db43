"""Decision reasons: why an end was decided (a debug option, off by default).

With ``turnscribe_reasons=true`` on the `/v2/listen` query (or ``--decision-reasons`` /
``TURNSCRIBE_DECISION_REASONS=1`` on the server, for every stream), each ``EndOfTurn`` and
``EagerEndOfTurn`` ``TurnInfo`` carries one extra top-level field, ``turnscribe_reasons``: the
inputs behind its ``end_of_turn_confidence`` (the logistic model of ``eot.py``)::

    "turnscribe_reasons": {
      "trigger": "model",              # model | timeout | manual, or "eager" on EagerEndOfTurn
      "confidence": 0.8412,            # = end_of_turn_confidence
      "logit": 1.6677,                 # bias + the sum of the contributions
      "bias": -2.5076,
      "silence_s": 0.416,              # silence since the last speech at the decision
      "acoustic": [0.9731],            # Smart Turn P(complete) answers asked in this pause
      "words": ["check", "my", "order."],  # the last words the text cues read
      "features": {"silence": {"value": 0.416, "contribution": 0.582}, ...}
    }

``features`` lists the model's features whose value is not 0 (a feature at 0 contributes
nothing), each with its value and its contribution (weight × value) to the logit, so
``bias + Σ contribution = logit`` and ``confidence = 1 / (1 + e^-logit)`` (within the 4-digit
rounding). The values are those the confidence was computed from at the decision; a ``manual``
end reports the last confidence computed before the ``ForceEndTurn``. ``words`` are the last
``REASON_WORDS`` words of the transcript the text cues read (which may be a live partial, not
the final words the event carries), with the stream's keyterms, numerals, profanity filter and
redaction applied like the transcript's.

Flux clients are not broken by the extra field: the official ``deepgram-sdk`` (v7, ``listen.v2``)
parses ``TurnInfo`` into a pydantic model with ``extra="allow"`` (built with ``construct_type``,
unvalidated), so the field is kept, readable as ``msg.turnscribe_reasons``,
``msg["turnscribe_reasons"]`` or ``msg.model_extra``; clients that ignore unknown fields see the
usual message. With the option off, messages are exactly as without this feature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from turnscribe.protocol.eot import FEATURES, Cues, EotModel, features

REASON_WORDS = 6  # words of the transcript tail reported


@dataclass(frozen=True, slots=True)
class FeatureReason:
    name: str
    value: float
    contribution: float  # weight × value: its share of the logit


@dataclass(frozen=True, slots=True)
class DecisionReasons:
    """The inputs behind one end decision's confidence (see the module docstring)."""

    trigger: str
    confidence: float
    logit: float
    bias: float
    silence_s: float
    acoustic: tuple[float, ...]
    words: tuple[str, ...]
    features: tuple[FeatureReason, ...]  # non-zero features, in ``FEATURES`` order, bias excluded


def explain(cues: Cues, model: EotModel, trigger: str, words: Sequence[str] | None = None) -> DecisionReasons:
    """Break ``model``'s confidence for ``cues`` into its terms. ``words``: the transcript tail as
    the client may see it (default: the cues' own words); the last ``REASON_WORDS`` are kept."""
    x = features(cues)
    terms = [(name, w, v) for name, w, v in zip(FEATURES, model.weights, x, strict=False)]
    bias = sum(w * v for name, w, v in terms if name == "bias")
    shown = [FeatureReason(name, v, w * v) for name, w, v in terms if name != "bias" and v != 0.0]
    logit = bias + sum(f.contribution for f in shown)
    tail = [w.text for w in cues.words] if words is None else list(words)
    return DecisionReasons(trigger=trigger, confidence=model.probability(x), logit=logit, bias=bias,
                           silence_s=cues.silence_s, acoustic=cues.acoustic,
                           words=tuple(tail[-REASON_WORDS:]), features=tuple(shown))
