"""§2.2 handshake validation, unit-level."""

from urllib.parse import parse_qsl, urlencode

import pytest

from turnscribe.errors import BadRequest
from turnscribe.wire.limits import Limits
from turnscribe.wire.params import (
    REDACTED,
    ListenParams,
    parse_listen_params,
    parse_number,
    parse_timeout,
    redacted,
    validate_keyterms,
)


def parse(**q):
    base = {"model": "flux-general-en", "encoding": "linear16", "sample_rate": "16000"}
    base.update(q)
    base = {k: v for k, v in base.items() if v is not None}
    return parse_listen_params(parse_qsl(urlencode(base, doseq=True), keep_blank_values=True))


def test_defaults():
    p = parse()
    assert p.model == "flux-general-en" and p.encoding == "linear16" and p.sample_rate == 16000
    assert p.thresholds.eot_threshold == 0.7 and p.thresholds.eager_eot_threshold is None
    assert p.thresholds.eot_timeout_ms == 5000
    assert p.keyterms == () and not p.numerals and not p.multilingual and not p.redact_usage


@pytest.mark.parametrize("q,needle", [
    ({"model": None}, "model is required"),
    ({"model": "nova-3"}, "unknown model"),
    ({"encoding": "mp3"}, "unsupported encoding"),
    ({"sample_rate": "11025"}, "sample_rate"),
    ({"sample_rate": "fast"}, "sample_rate"),
    ({"sample_rate": None}, "sample_rate is required"),
    ({"eot_threshold": "0.4"}, "between 0.5 and 1"),
    ({"eot_threshold": "nan"}, "finite"),
    ({"eot_threshold": "high"}, "must be a number"),
    ({"eager_eot_threshold": "0.95"}, "between 0.3 and 0.9"),
    ({"eager_eot_threshold": "0.8", "eot_threshold": "0.6"}, "must not exceed"),
    ({"eot_timeout_ms": "100"}, "between 500"),
    ({"eot_timeout_ms": "5s"}, "integer"),
    ({"eot_timeout_ms": "1500.5"}, "integer"),
    ({"language_hint": "es"}, "only supported with model=flux-general-multi"),
    ({"model": "flux-general-multi", "language_hint": ""}, "must not be empty"),
    ({"model": "flux-general-multi", "language_hint": "xx"}, "unsupported language_hint"),
    ({"keyterm": [f"t{i}" for i in range(101)]}, "at most 100"),
    ({"keyterm": ""}, "non-empty"),
    ({"numerals": "maybe"}, "true or false"),
    ({"redact_usage": "yes"}, "redact_usage must be true or false"),
    ({"redact_usage": ""}, "redact_usage must be true or false"),
    ({"redact_usage": ["true", "false"]}, "only be given once"),
    ({"redact": "pci"}, "redact must be one of"),
    ({"interim_results": "true"}, "unknown parameter 'interim_results'"),
    ({"tag": "x" * 129}, "128"),
    ({"eot_threshold": ["0.7", "0.8"]}, "only be given once"),
])
def test_rejections_name_the_problem(q, needle):
    with pytest.raises(BadRequest) as e:
        parse(**q)
    assert needle in str(e.value)
    assert e.value.status == 400


def test_lists_flags_and_locales():
    p = parse(model="flux-general-multi", language_hint=["pt-BR", "en", "pt"], keyterm=["Deepgram:2", "a b"],
              tag=["x", "y"], numerals="true", profanity_filter="TRUE", mip_opt_out="false",
              redact=["numbers", "aggressive_numbers", "numbers"])
    assert p.language_hints == ("pt", "en")
    assert p.keyterms == ("Deepgram:2", "a b"), "term:weight is a literal term (§2.1)"
    assert p.numerals and p.profanity_filter and not p.mip_opt_out
    assert p.redact == ("numbers", "aggressive_numbers") and p.tags == ("x", "y")


def test_container_mode_ignores_sample_rate():
    p = parse(encoding=None, sample_rate="8000")
    assert p.encoding is None and p.sample_rate is None


def test_range_edges_accepted():
    p = parse(eot_threshold="1.0", eager_eot_threshold="0.3", eot_timeout_ms="500")
    assert p.thresholds.eot_threshold == 1.0 and p.thresholds.eager_eot_threshold == 0.3
    assert parse(eot_threshold="0.5", eot_timeout_ms="60000").thresholds.eot_timeout_ms == 60000


@pytest.mark.parametrize("raw,expected", [("true", True), ("TRUE", True), ("false", False)])
def test_redact_usage(raw, expected):
    p = parse(redact_usage=raw, keyterm="Jane Doe", tag="patient-42")
    assert p.redact_usage is expected
    assert p.keyterms == ("Jane Doe",) and p.tags == ("patient-42",), "only usage/logs are redacted"


def test_redacted_texts_for_usage_and_logs():
    assert redacted(ListenParams(), ["Jane Doe", "x"]) == ("Jane Doe", "x")
    assert redacted(ListenParams(redact_usage=True), ["Jane Doe", "x"]) == (REDACTED, REDACTED)
    assert REDACTED == "[REDACTED]"


def test_json_numbers_and_timeouts_refuse_bools() -> None:
    """Configure sends JSON: true is not 1, and 1500.0 is an integer number of milliseconds."""
    with pytest.raises(ValueError, match="must be a number"):
        parse_number("eot_threshold", True)
    with pytest.raises(ValueError, match="integer number of milliseconds"):
        parse_timeout(False)
    assert parse_timeout(1500.0) == 1500 and parse_timeout(" +700") == 700


def test_keyterm_and_tag_limits_are_enforced() -> None:
    tight = Limits(max_keyterms=2, max_keyterm_chars=5, max_keyterm_total_chars=8, max_tags=1)
    assert validate_keyterms([" ab ", "cd"], tight) == ("ab", "cd")
    for terms, needle in ((["abcdef"], "at most 5 characters"), (["a", "b", "c"], "at most 2 keyterms"),
                          (["abcde", "fghij"], "at most 8 characters in all"), ([" "], "non-empty")):
        with pytest.raises(ValueError, match=needle):
            validate_keyterms(terms, tight)
    with pytest.raises(BadRequest, match="at most 32 tags"):
        parse(tag=[f"t{i}" for i in range(33)])
