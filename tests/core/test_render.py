"""Rendering: the words as the client sees them, languages on flux-general-multi only, reasons on
ends only and only when asked for."""

from typing import Any

from core_parts import words

from turnscribe.core import render
from turnscribe.core.eot import Cues, EotModel
from turnscribe.wire.events import Trigger, TurnEvent
from turnscribe.wire.params import ListenParams

SAID = words(("call", 0.1, 0.3), ("me", 0.3, 0.4), ("at", 0.4, 0.5), ("five", 0.5, 0.7),
             ("five", 0.7, 0.9), ("five.", 0.9, 1.1))


def test_words_are_shown_with_the_streams_text_options_only():
    plain = ListenParams()
    assert render.shown(SAID, plain, None) == SAID
    numerals = render.shown(SAID, ListenParams(numerals=True), None)
    assert "555" in " ".join(w.text for w in numerals).replace(" ", "")
    redacted = render.shown(SAID, ListenParams(numerals=True, redact=("numbers",)), None)
    assert not any(ch.isdigit() for w in redacted for ch in w.text)


def test_languages_are_reported_on_the_multilingual_model_only():
    kw: dict[str, Any] = {"language": "es", "words": SAID, "turn_index": 2, "window": (1.0, 2.5), "confidence": 0.4, "why": None}
    en = render.turn_info(TurnEvent.UPDATE, None, params=ListenParams(), **kw)
    assert en.languages is None and en.languages_hinted is None
    multi = ListenParams(model="flux-general-multi", language_hints=("es",))
    info = render.turn_info(TurnEvent.UPDATE, None, params=multi, **kw)
    assert info.languages == ("es",) and info.languages_hinted == ("es",)
    assert (info.turn_index, info.audio_window_start, info.audio_window_end) == (2, 1.0, 2.5)
    silent = render.turn_info(TurnEvent.UPDATE, None, params=multi, **{**kw, "words": ()})
    assert silent.languages == (), "no words, no language"


def test_reasons_only_for_ends_and_only_when_asked():
    cues = Cues(silence_s=0.4, acoustic=(0.9,), words=SAID)
    model = EotModel()
    asked = ListenParams(decision_reasons=True)
    assert render.reasons(TurnEvent.UPDATE, None, asked, None, cues, model) is None
    assert render.reasons(TurnEvent.END_OF_TURN, Trigger.MODEL, ListenParams(), None, cues, model) is None
    why = render.reasons(TurnEvent.EAGER_END_OF_TURN, None, asked, None, cues, model)
    assert why is not None and why.trigger == "eager" and why.confidence == model.probability(cues)
    end = render.reasons(TurnEvent.END_OF_TURN, Trigger.TIMEOUT, asked.with_changes(numerals=True), None, cues, model)
    assert end is not None and end.trigger == "timeout" and "555." in "".join(end.words)
