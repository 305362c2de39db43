"""Rendering a turn's state as a ``TurnInfo``: the words as the client sees them (keyterms,
numerals, profanity filter, redaction), the languages, and the decision reasons when asked for."""

from __future__ import annotations

from turnscribe.core.eot import Cues, EotModel
from turnscribe.core.reasons import explain
from turnscribe.text.formatting import format_words
from turnscribe.text.keyterms import apply_keyterms
from turnscribe.types.engine import Word
from turnscribe.wire.events import DecisionReasons, Trigger, TurnEvent, TurnInfo
from turnscribe.wire.params import ListenParams

ENDS = (TurnEvent.END_OF_TURN, TurnEvent.EAGER_END_OF_TURN)


def shown(words: tuple[Word, ...], params: ListenParams, language: str | None) -> tuple[Word, ...]:
    """``words`` as the client sees them: keyterms, numerals, profanity filter, redaction."""
    p = params
    if words and p.keyterms:
        words = apply_keyterms(words, p.keyterms)
    if words and (p.numerals or p.profanity_filter or p.redact):
        lang = language or (p.language_hints[0] if p.language_hints else "en")
        words = format_words(words, numerals_on=p.numerals, profanity_filter=p.profanity_filter,
                             redact_modes=p.redact, lang=lang)
    return words


def reasons(event: TurnEvent, trigger: Trigger | None, params: ListenParams, language: str | None,
            cues: Cues, model: EotModel) -> DecisionReasons | None:
    """Decision reasons (``reasons.py``) for an end, when the stream asked for them."""
    if not params.decision_reasons or event not in ENDS:
        return None
    return explain(cues, model, trigger.value if trigger is not None else "eager",
                   words=[w.text for w in shown(cues.words, params, language)])


def turn_info(event: TurnEvent, trigger: Trigger | None, *, params: ListenParams, language: str | None,
              words: tuple[Word, ...], turn_index: int, window: tuple[float, float], confidence: float,
              why: DecisionReasons | None) -> TurnInfo:
    words = shown(words, params, language)
    multi = params.multilingual
    languages = ((language,) if (language and words) else ()) if multi else None
    hinted = params.language_hints if (multi and params.language_hints) else None
    return TurnInfo(event=event, turn_index=turn_index, audio_window_start=window[0], audio_window_end=window[1],
                    words=words, end_of_turn_confidence=confidence, trigger=trigger, languages=languages,
                    languages_hinted=hinted, reasons=why)
