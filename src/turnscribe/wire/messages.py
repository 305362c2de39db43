"""Client → server control messages (flux-protocol.md §7) and their validation.

Invariants:
- ``parse_client_message`` returns a frozen message object or raises ``UnparsableMessage``
  (not JSON, not an object, no string ``type``, or a Configure that breaks the schema: an
  unknown field or a non-boolean ``numerals``/``profanity_filter``/``redact_usage``; §7.2, §7.6).
- A JSON object with an unknown ``type`` parses to ``UnknownMessage`` (→ Warning, §7.6).
- ``apply_configure`` is atomic: it returns new params or raises ``ConfigureRejected`` and
  changes nothing (value problems, §7.2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from turnscribe.errors import ConfigureRejected, UnparsableMessage
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits
from turnscribe.wire.params import (
    ListenParams,
    Thresholds,
    normalise_language,
    parse_number,
    parse_timeout,
    validate_keyterms,
    validate_thresholds,
)

CLOSE_STREAM = json.dumps({"type": "CloseStream"})  # what a client sends to end its stream (§7.4)

_CONFIGURE_FIELDS = {"type", "thresholds", "keyterms", "language_hints", "numerals", "profanity_filter",
                     "redact_usage"}
_BOOL_FIELDS = ("numerals", "profanity_filter", "redact_usage")
_THRESHOLD_FIELDS = {"eot_threshold", "eager_eot_threshold", "eot_timeout_ms"}


@dataclass(frozen=True, slots=True)
class CloseStream:
    pass


@dataclass(frozen=True, slots=True)
class ForceEndTurn:
    pass


@dataclass(frozen=True, slots=True)
class KeepAlive:
    pass


@dataclass(frozen=True, slots=True)
class UnknownMessage:
    type: str


@dataclass(frozen=True, slots=True)
class Configure:
    """Fields are ``None`` when not supplied; values are raw (validated by ``apply_configure``)."""

    thresholds: tuple[tuple[str, Any], ...] = ()
    keyterms: Any = None
    language_hints: Any = None
    numerals: bool | None = None
    profanity_filter: bool | None = None
    redact_usage: bool | None = None


ClientMessage = CloseStream | ForceEndTurn | KeepAlive | UnknownMessage | Configure


def parse_client_message(text: str) -> ClientMessage:
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        raise UnparsableMessage("text frames must be JSON objects with a string type") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("type"), str):
        raise UnparsableMessage("text frames must be JSON objects with a string type")
    kind = doc["type"]
    if kind == "CloseStream":
        return CloseStream()
    if kind == "ForceEndTurn":
        return ForceEndTurn()
    if kind == "KeepAlive":
        return KeepAlive()
    if kind == "Configure":
        return _parse_configure(doc)
    return UnknownMessage(kind)


def _parse_configure(doc: dict[str, Any]) -> Configure:
    unknown = sorted(set(doc) - _CONFIGURE_FIELDS)
    if unknown:
        raise UnparsableMessage(f"Configure has unknown field(s): {', '.join(unknown)}")
    for name in _BOOL_FIELDS:
        if doc.get(name) is not None and not isinstance(doc[name], bool):
            raise UnparsableMessage(f"Configure.{name} must be a JSON boolean")
    thresholds = doc.get("thresholds")
    pairs: tuple[tuple[str, Any], ...] = ()
    if thresholds is not None:
        if not isinstance(thresholds, dict):
            raise UnparsableMessage("Configure.thresholds must be a JSON object")
        extra = sorted(set(thresholds) - _THRESHOLD_FIELDS)
        if extra:
            raise UnparsableMessage(f"Configure.thresholds has unknown field(s): {', '.join(extra)}")
        pairs = tuple((k, v) for k, v in thresholds.items() if v is not None)
    return Configure(
        thresholds=pairs,
        keyterms=doc.get("keyterms"),
        language_hints=doc.get("language_hints"),
        numerals=doc.get("numerals"),
        profanity_filter=doc.get("profanity_filter"),
        redact_usage=doc.get("redact_usage"),
    )


def apply_configure(params: ListenParams, msg: Configure, limits: Limits = DEFAULT_LIMITS) -> ListenParams:
    """The params in force after ``msg``; raises ``ConfigureRejected`` leaving them unchanged."""
    changes: dict[str, Any] = {}
    try:
        if msg.thresholds:
            current = params.thresholds
            values = dict(msg.thresholds)
            new = Thresholds(
                eot_threshold=(parse_number("eot_threshold", values["eot_threshold"])
                               if "eot_threshold" in values else current.eot_threshold),
                eager_eot_threshold=(parse_number("eager_eot_threshold", values["eager_eot_threshold"])
                                     if "eager_eot_threshold" in values else current.eager_eot_threshold),
                eot_timeout_ms=(parse_timeout(values["eot_timeout_ms"])
                                if "eot_timeout_ms" in values else current.eot_timeout_ms),
            )
            changes["thresholds"] = validate_thresholds(new)
        if msg.keyterms is not None:
            if not isinstance(msg.keyterms, list):
                raise ValueError("keyterms must be a list of strings")
            changes["keyterms"] = validate_keyterms(msg.keyterms, limits)
        if msg.language_hints is not None:
            if not params.multilingual:
                raise ConfigureRejected("UNSUPPORTED_FOR_MODEL",
                                        "language_hints are only supported with model=flux-general-multi")
            if not isinstance(msg.language_hints, list) or not all(
                    isinstance(h, str) for h in msg.language_hints):
                raise ValueError("language_hints must be a list of strings")
            changes["language_hints"] = tuple(dict.fromkeys(normalise_language(h) for h in msg.language_hints))
    except ValueError as exc:
        raise ConfigureRejected("INVALID_CONFIGURE", str(exc)) from None
    if msg.numerals is not None:
        changes["numerals"] = msg.numerals
    if msg.profanity_filter is not None:
        changes["profanity_filter"] = msg.profanity_filter
    if msg.redact_usage is not None:
        changes["redact_usage"] = msg.redact_usage
    return params.with_changes(**changes)
