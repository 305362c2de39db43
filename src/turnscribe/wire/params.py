"""`/v2/listen` query parameters (flux-protocol.md §2): parse and validate → ``ListenParams``.

Invariants: a ``ListenParams`` is always valid (every range and combination of §2.2 holds);
anything else raised ``BadRequest`` with a human-readable reason, before the upgrade.
Repeated parameters are lists (``keyterm``, ``language_hint``, ``tag``, ``redact``); every
other parameter may appear once. One parameter is turnscribe's own, prefixed so it cannot clash
with Deepgram's: ``turnscribe_reasons`` (true/false, default false; ``core/reasons.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from turnscribe.audio.decode import SAMPLE_RATES as SAMPLE_RATES  # one definition: what the decoder takes
from turnscribe.errors import BadRequest
from turnscribe.types.engine import SAMPLE_RATE
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits

LISTEN_PATH = "/v2/listen"  # the streaming endpoint these parameters are the query of
MODELS = ("flux-general-en", "flux-general-multi")
MULTI_MODEL = "flux-general-multi"
ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus")
LANGUAGES = ("en", "es", "fr", "de", "hi", "ru", "pt", "ja", "it", "nl")
REDACT_VALUES = ("numbers", "aggressive_numbers")

EOT_RANGE = (0.5, 1.0)
EAGER_RANGE = (0.3, 0.9)
TIMEOUT_RANGE = (500, 60000)
REDACTED = "[REDACTED]"

DEFAULT_EOT = 0.7
DEFAULT_TIMEOUT_MS = 5000

_REPEATABLE = {"keyterm", "language_hint", "tag", "redact"}
_SINGLE = {"model", "encoding", "sample_rate", "eot_threshold", "eager_eot_threshold", "eot_timeout_ms",
           "numerals", "profanity_filter", "mip_opt_out", "redact_usage", "turnscribe_reasons"}


@dataclass(frozen=True, slots=True)
class Thresholds:
    eot_threshold: float = DEFAULT_EOT
    eager_eot_threshold: float | None = None
    eot_timeout_ms: int = DEFAULT_TIMEOUT_MS


@dataclass(frozen=True, slots=True)
class ListenParams:
    model: str = "flux-general-en"
    encoding: str | None = "linear16"
    sample_rate: int | None = SAMPLE_RATE
    thresholds: Thresholds = field(default_factory=Thresholds)
    keyterms: tuple[str, ...] = ()
    language_hints: tuple[str, ...] = ()
    numerals: bool = False
    profanity_filter: bool = False
    redact: tuple[str, ...] = ()
    mip_opt_out: bool = False
    tags: tuple[str, ...] = ()
    redact_usage: bool = False  # client-supplied text (keyterms, tags) → REDACTED in usage/logs
    decision_reasons: bool = False  # turnscribe_reasons=true: ends carry their inputs (core/reasons.py)

    @property
    def multilingual(self) -> bool:
        return self.model == MULTI_MODEL

    def with_changes(self, **changes: object) -> ListenParams:
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_number(name: str, raw: object) -> float:
    """A finite number (JSON number or numeric string); bools are not numbers."""
    if isinstance(raw, bool):  # callers map ValueError to a client error: not TypeError
        raise ValueError(f"{name} must be a number, got {raw!r}")
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {raw!r}")
    return value


def check_range(name: str, value: float, bounds: tuple[float, float]) -> None:
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")


def parse_timeout(raw: object) -> int:
    if isinstance(raw, bool):  # callers map ValueError to a client error: not TypeError
        raise ValueError(
            f"eot_timeout_ms must be an integer number of milliseconds, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    elif (isinstance(raw, float) and raw.is_integer()) or (
            isinstance(raw, str) and raw.strip().lstrip("+-").isdigit()):
        value = int(raw)
    else:
        raise ValueError(f"eot_timeout_ms must be an integer number of milliseconds, got {raw!r}")
    check_range("eot_timeout_ms", value, TIMEOUT_RANGE)
    return value


def validate_thresholds(t: Thresholds) -> Thresholds:
    check_range("eot_threshold", t.eot_threshold, EOT_RANGE)
    if t.eager_eot_threshold is not None:
        check_range("eager_eot_threshold", t.eager_eot_threshold, EAGER_RANGE)
        if t.eager_eot_threshold > t.eot_threshold:
            raise ValueError(
                f"eager_eot_threshold ({t.eager_eot_threshold:g}) must not exceed eot_threshold "
                f"({t.eot_threshold:g})")
    check_range("eot_timeout_ms", t.eot_timeout_ms, TIMEOUT_RANGE)
    return t


def normalise_language(raw: str) -> str:
    """'pt-BR' → 'pt'; raises ValueError when empty or unsupported."""
    base = raw.strip().replace("_", "-").split("-")[0].lower()
    if not base:
        raise ValueError("language_hint must not be empty")
    if base not in LANGUAGES:
        raise ValueError(f"unsupported language_hint {raw!r}; supported: {' '.join(LANGUAGES)}")
    return base


def validate_keyterms(terms: Iterable[object], limits: Limits = DEFAULT_LIMITS) -> tuple[str, ...]:
    out: list[str] = []
    for term in terms:
        if not isinstance(term, str) or not term.strip():
            raise ValueError("keyterms must be non-empty strings")
        term = term.strip()
        if len(term) > limits.max_keyterm_chars:
            raise ValueError(f"a keyterm may have at most {limits.max_keyterm_chars} characters, got "
                             f"{len(term)}")
        out.append(term)
    if len(out) > limits.max_keyterms:
        raise ValueError(f"at most {limits.max_keyterms} keyterms are allowed, got {len(out)}")
    total = sum(len(t) for t in out)
    if total > limits.max_keyterm_total_chars:
        raise ValueError(f"keyterms may have at most {limits.max_keyterm_total_chars} characters in all, "
                         f"got {total}")
    return tuple(out)


def redacted(params: ListenParams, texts: Iterable[str]) -> tuple[str, ...]:
    """``texts`` as they may appear in usage records and logs: each one ``REDACTED`` under
    ``redact_usage`` (flux-protocol.md §2.1), otherwise unchanged."""
    return tuple(REDACTED if params.redact_usage else t for t in texts)


def _bool(name: str, raw: str) -> bool:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise ValueError(f"{name} must be true or false, got {raw!r}")


def parse_listen_params(pairs: Iterable[tuple[str, str]], limits: Limits = DEFAULT_LIMITS) -> ListenParams:
    """Validate the query of a `/v2/listen` handshake (§2.2).

    Args:
        pairs: decoded query pairs in order, blanks kept (``parse_qsl(q, keep_blank_values=True)``).
        limits: the server's bounds on keyterms and tags.

    Raises:
        BadRequest: with the reason sent back in ``dg-error``.
    """
    try:
        return _parse(list(pairs), limits)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def _parse(pairs: list[tuple[str, str]], limits: Limits) -> ListenParams:
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {k: [] for k in _REPEATABLE}
    for key, value in pairs:
        if key in _REPEATABLE:
            multi[key].append(value)
        elif key in _SINGLE:
            if key in single:
                raise ValueError(f"parameter {key} may only be given once")
            single[key] = value
        else:
            raise ValueError(f"unknown parameter {key!r} for Flux /v2/listen")

    model = single.get("model")
    if not model:
        raise ValueError("model is required (flux-general-en or flux-general-multi)")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; supported: {', '.join(MODELS)}")

    encoding = single.get("encoding") or None
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(f"unsupported encoding {encoding!r}; supported: {', '.join(ENCODINGS)}")
    sample_rate: int | None = None
    if "sample_rate" in single:
        raw_rate = single["sample_rate"]
        if not raw_rate.isdigit() or int(raw_rate) not in SAMPLE_RATES:
            raise ValueError(f"sample_rate must be one of {', '.join(map(str, SAMPLE_RATES))}, got {raw_rate!r}")
        sample_rate = int(raw_rate)
    if encoding is not None and sample_rate is None:
        raise ValueError(f"sample_rate is required with encoding={encoding}")
    if encoding is None:
        sample_rate = None  # containerised audio: the header wins (§2.2)

    eot = DEFAULT_EOT
    if "eot_threshold" in single:
        eot = parse_number("eot_threshold", single["eot_threshold"])
    eager = None
    if "eager_eot_threshold" in single:
        eager = parse_number("eager_eot_threshold", single["eager_eot_threshold"])
    timeout = DEFAULT_TIMEOUT_MS
    if "eot_timeout_ms" in single:
        timeout = parse_timeout(single["eot_timeout_ms"])
    thresholds = validate_thresholds(Thresholds(eot, eager, timeout))

    keyterms = validate_keyterms(multi["keyterm"], limits)

    hints_raw = multi["language_hint"]
    if hints_raw and model != MULTI_MODEL:
        raise ValueError("language_hint is only supported with model=flux-general-multi")
    hints = tuple(dict.fromkeys(normalise_language(h) for h in hints_raw))

    if len(multi["tag"]) > limits.max_tags:
        raise ValueError(f"at most {limits.max_tags} tags are allowed, got {len(multi['tag'])}")
    for tag in multi["tag"]:
        if len(tag) > limits.max_tag_chars:
            raise ValueError(f"tag values are limited to {limits.max_tag_chars} characters")
    for value in multi["redact"]:
        if value not in REDACT_VALUES:
            raise ValueError(f"redact must be one of {', '.join(REDACT_VALUES)}, got {value!r}")

    return ListenParams(
        model=model,
        encoding=encoding,
        sample_rate=sample_rate,
        thresholds=thresholds,
        keyterms=keyterms,
        language_hints=hints,
        numerals=_bool("numerals", single["numerals"]) if "numerals" in single else False,
        profanity_filter=(_bool("profanity_filter", single["profanity_filter"])
                          if "profanity_filter" in single else False),
        redact=tuple(dict.fromkeys(multi["redact"])),
        mip_opt_out=_bool("mip_opt_out", single["mip_opt_out"]) if "mip_opt_out" in single else False,
        tags=tuple(multi["tag"]),
        redact_usage=_bool("redact_usage", single["redact_usage"]) if "redact_usage" in single else False,
        decision_reasons=(_bool("turnscribe_reasons", single["turnscribe_reasons"])
                          if "turnscribe_reasons" in single else False),
    )
