"""Decision reasons: why an end was decided (a debug option, off by default).

With ``turnscribe_reasons=true`` on the `/v2/listen` query (or ``--decision-reasons`` /
``TURNSCRIBE_DECISION_REASONS=1`` on the server, for every stream), each ``EndOfTurn`` and
``EagerEndOfTurn`` ``TurnInfo`` carries one extra top-level field, ``turnscribe_reasons``: the
inputs behind its ``end_of_turn_confidence`` (the hazard model of ``eot.py``)::

    "turnscribe_reasons": {
      "trigger": "model",              # model | timeout | manual, or "eager" on EagerEndOfTurn
      "confidence": 0.8412,            # = end_of_turn_confidence
      "logit": 1.6677,                 # the sum of the terms' contributions
      "silence_s": 0.416,              # silence since the last speech at the decision
      "patience_s": 0.5,               # this speaker's patience (eot.py): its longest recent hold
      "acoustic": [0.9731],            # Smart Turn P(complete) answers asked in this pause
      "words": ["check", "my", "order."],  # the last words the text cues read
      "terms": {"text_complete": {"value": 1.0, "contribution": 0.0},
                "acoustic": {"value": 0.9731, "contribution": 1.79},
                "silence": {"value": 0.832, "contribution": 1.594}}
    }

``terms`` are the model's named contributions to the logit (``EotModel.terms``): the words'
class (``text_continues`` / ``text_complete`` / ``text_answer`` / ``text_plain`` / ``text_unheard``, value 1, the
class's prior as contribution), the acoustic answer (value P, contribution weight × logit P),
the silence (value = silence over the patience it is judged against, contribution
ln 10 × value^shape) and ``soon_after_end`` when it applies; ``Σ contribution = logit`` and
``confidence = 1 / (1 + e^-logit)`` (within the 4-digit rounding). The values are those the
confidence was computed from at the decision; a ``manual`` end reports the last confidence
computed before the ``ForceEndTurn``. ``words`` are the last ``REASON_WORDS`` words of the
transcript the text cues read (which may be a live partial, not the final words the event
carries), with the stream's keyterms, numerals, profanity filter and redaction applied like the
transcript's.

Flux clients are not broken by the extra field: the official ``deepgram-sdk`` (v7, ``listen.v2``)
parses ``TurnInfo`` into a pydantic model with ``extra="allow"`` (built with ``construct_type``,
unvalidated), so the field is kept, readable as ``msg.turnscribe_reasons``,
``msg["turnscribe_reasons"]`` or ``msg.model_extra``; clients that ignore unknown fields see the
usual message. With the option off, messages are exactly as without this feature.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnscribe.core.eot import Cues, EotModel
from turnscribe.wire.events import DecisionReasons

REASON_WORDS = 6  # words of the transcript tail reported


def explain(cues: Cues, model: EotModel, trigger: str, words: Sequence[str] | None = None) -> DecisionReasons:
    """Break ``model``'s confidence for ``cues`` into its terms. ``words``: the transcript tail as
    the client may see it (default: the cues' own words); the last ``REASON_WORDS`` are kept."""
    terms = model.terms(cues)
    logit = sum(t.contribution for t in terms)
    tail = [w.text for w in cues.words] if words is None else list(words)
    return DecisionReasons(trigger=trigger, confidence=model.probability(cues), logit=logit,
                           silence_s=cues.silence_s, patience_s=model.patience(cues), acoustic=cues.acoustic,
                           words=tuple(tail[-REASON_WORDS:]), terms=terms)
