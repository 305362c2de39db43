"""Server → client messages (flux-protocol.md §5): frozen dataclasses and their JSON form.

This is the only module that knows the wire's JSON field names. ``WireEncoder`` stamps every
message of a stream with its ``request_id`` and the next ``sequence_id`` (§5.7: 0 for
Connected, then exactly +1 per message of any type).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from turnscribe.types.engine import Word
from turnscribe.wire.params import ListenParams


@dataclass(frozen=True, slots=True)
class Term:
    """One named contribution to the log-odds that the turn is over."""

    name: str
    value: float
    contribution: float


@dataclass(frozen=True, slots=True)
class DecisionReasons:
    """The inputs behind one end decision's confidence (core/reasons.py says what each is)."""

    trigger: str
    confidence: float
    logit: float
    silence_s: float
    patience_s: float
    acoustic: tuple[float, ...]
    words: tuple[str, ...]
    terms: tuple[Term, ...]


class TurnEvent(enum.Enum):
    UPDATE = "Update"
    START_OF_TURN = "StartOfTurn"
    EAGER_END_OF_TURN = "EagerEndOfTurn"
    TURN_RESUMED = "TurnResumed"
    END_OF_TURN = "EndOfTurn"


class Trigger(enum.Enum):
    MODEL = "model"
    MANUAL = "manual"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class Connected:
    pass


@dataclass(frozen=True, slots=True)
class TurnInfo:
    event: TurnEvent
    turn_index: int
    audio_window_start: float
    audio_window_end: float
    words: tuple[Word, ...]
    end_of_turn_confidence: float
    trigger: Trigger | None = None
    languages: tuple[str, ...] | None = None  # flux-general-multi only
    languages_hinted: tuple[str, ...] | None = None
    reasons: DecisionReasons | None = None  # turnscribe_reasons (debug option), ends only

    @property
    def transcript(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class ConfigureSuccess:
    params: ListenParams


@dataclass(frozen=True, slots=True)
class ConfigureFailure:
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Warning:
    code: str
    description: str


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    description: str
    close_code: int  # not on the wire: the WebSocket close code that follows (§8)


Event = Connected | TurnInfo | ConfigureSuccess | ConfigureFailure | Warning | Error


def _r(x: float, digits: int = 3) -> float:
    return round(float(x), digits)


def _turn_info(ev: TurnInfo) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "event": ev.event.value,
        "turn_index": ev.turn_index,
        "audio_window_start": _r(ev.audio_window_start),
        "audio_window_end": _r(ev.audio_window_end),
        "transcript": ev.transcript,
        "words": [{"word": w.text, "confidence": _r(w.confidence, 4), "start": _r(w.start),
                   "end": _r(w.end)} for w in ev.words],
        "end_of_turn_confidence": _r(ev.end_of_turn_confidence, 4),
    }
    if ev.trigger is not None:
        doc["trigger"] = ev.trigger.value
    if ev.languages is not None:
        doc["languages"] = list(ev.languages)
    if ev.languages_hinted is not None:
        doc["languages_hinted"] = list(ev.languages_hinted)
    if ev.reasons is not None:
        doc["turnscribe_reasons"] = _reasons(ev.reasons)
    return doc


def _reasons(r: DecisionReasons) -> dict[str, Any]:
    """The ``turnscribe_reasons`` field (core/reasons.py): one extra top-level field."""
    return {"trigger": r.trigger, "confidence": _r(r.confidence, 4), "logit": _r(r.logit, 4),
            "silence_s": _r(r.silence_s), "patience_s": _r(r.patience_s),
            "acoustic": [_r(a, 4) for a in r.acoustic], "words": list(r.words),
            "terms": {t.name: {"value": _r(t.value, 4), "contribution": _r(t.contribution, 4)}
                      for t in r.terms}}


def _configure_success(ev: ConfigureSuccess) -> dict[str, Any]:
    p = ev.params
    thresholds: dict[str, Any] = {"eot_threshold": p.thresholds.eot_threshold,
                                  "eot_timeout_ms": p.thresholds.eot_timeout_ms}
    if p.thresholds.eager_eot_threshold is not None:
        thresholds["eager_eot_threshold"] = p.thresholds.eager_eot_threshold
    doc: dict[str, Any] = {"thresholds": thresholds, "keyterms": list(p.keyterms), "numerals": p.numerals,
                           "profanity_filter": p.profanity_filter, "redact_usage": p.redact_usage}
    if p.multilingual:
        doc["language_hints"] = list(p.language_hints)
    return doc


def event_fields(ev: Event) -> tuple[str, dict[str, Any]]:
    """(wire type, fields other than type/request_id/sequence_id)."""
    if isinstance(ev, TurnInfo):
        return "TurnInfo", _turn_info(ev)
    if isinstance(ev, Connected):
        return "Connected", {}
    if isinstance(ev, ConfigureSuccess):
        return "ConfigureSuccess", _configure_success(ev)
    if isinstance(ev, ConfigureFailure):
        return "ConfigureFailure", {"code": ev.code, "description": ev.description}
    if isinstance(ev, Warning):
        return "Warning", {"code": ev.code, "description": ev.description}
    return "Error", {"code": ev.code, "description": ev.description}


class WireEncoder:
    """Serialises one stream's events, numbering them (§5.7)."""

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._next_seq = 0

    def encode(self, ev: Event) -> str:
        kind, fields = event_fields(ev)
        doc = {"type": kind, "request_id": self.request_id, "sequence_id": self._next_seq, **fields}
        self._next_seq += 1
        return json.dumps(doc, ensure_ascii=False)
