"""Decision reasons (turnscribe_reasons=true): the inputs behind an end's confidence, on demand."""

import json
import math

import pytest
from helpers import names, pcm16, quiet, run, tone, turninfos

from turnscribe.core.eot import TEXT_CLASSES, Cues, EotModel
from turnscribe.core.reasons import REASON_WORDS, explain
from turnscribe.core.session import TurnPolicy
from turnscribe.errors import BadRequest
from turnscribe.types.engine import Word
from turnscribe.wire.events import WireEncoder
from turnscribe.wire.messages import Configure, apply_configure
from turnscribe.wire.params import ListenParams, Thresholds, parse_listen_params

FORCE = json.dumps({"type": "ForceEndTurn"})
TURN = (quiet(0.5), tone(1.3), quiet(2.0))
ENDS = ("EndOfTurn", "EagerEndOfTurn")
EAGER = Thresholds(eager_eot_threshold=0.4, eot_threshold=0.97)


def wire(events):
    enc = WireEncoder("req")
    return [json.loads(enc.encode(e)) for e in events]


def with_reasons(**kw) -> ListenParams:
    return ListenParams(decision_reasons=True, **kw)


def check_sums(doc):
    """Σ contribution = logit; sigmoid(logit) = confidence = end_of_turn_confidence."""
    r = doc["turnscribe_reasons"]
    total = sum(f["contribution"] for f in r["terms"].values())
    assert total == pytest.approx(r["logit"], abs=1e-3)
    assert r["confidence"] == doc["end_of_turn_confidence"]
    assert 1 / (1 + math.exp(-r["logit"])) == pytest.approx(r["confidence"], abs=1e-4)
    p = min(max(doc["end_of_turn_confidence"], 1e-6), 1 - 1e-6)
    assert math.log(p / (1 - p)) == pytest.approx(total, rel=0.01, abs=0.01)
    names_ = set(r["terms"])
    assert len(names_ & {f"text_{c}" for c in TEXT_CLASSES}) == 1 and "silence" in names_
    assert names_ <= {f"text_{c}" for c in TEXT_CLASSES} | {"silence", "acoustic", "soon_after_end"}
    assert r["patience_s"] > 0


def test_off_by_default_and_messages_unchanged():
    audio = pcm16(*TURN)
    off, _ = run(audio, p=ListenParams(thresholds=EAGER))
    on, _ = run(audio, p=with_reasons(thresholds=EAGER))
    assert all(t.reasons is None for t in turninfos(off))
    docs_off, docs_on = wire(off), wire(on)
    assert not any("turnscribe_reasons" in d for d in docs_off)
    assert len(docs_off) == len(docs_on)
    for a, b in zip(docs_off, docs_on, strict=True):  # the option adds the one field, nothing else
        b = {k: v for k, v in b.items() if k != "turnscribe_reasons"}
        assert json.dumps(a) == json.dumps(b)


def test_present_on_end_and_eager_only():
    events, _ = run(pcm16(*TURN, tone(1.3), quiet(2.0)), p=with_reasons(thresholds=EAGER))
    ev = names(events)
    assert ev.count("EndOfTurn") == 2 and ev.count("EagerEndOfTurn") == 2 and "StartOfTurn" in ev
    for doc in wire(events):
        if doc.get("type") != "TurnInfo":
            continue
        assert ("turnscribe_reasons" in doc) == (doc["event"] in ENDS), doc["event"]
        if doc["event"] == "EagerEndOfTurn":
            assert doc["turnscribe_reasons"]["trigger"] == "eager" and "trigger" not in doc
        elif doc["event"] == "EndOfTurn":
            assert doc["turnscribe_reasons"]["trigger"] == doc["trigger"] == "model"


def test_contributions_sum_to_the_logit_of_the_confidence():
    events, _ = run(pcm16(*TURN), p=with_reasons(thresholds=EAGER))
    ends = [d for d in wire(events) if d.get("event") in ENDS]
    assert len(ends) == 2
    for doc in ends:
        check_sums(doc)
        r = doc["turnscribe_reasons"]
        assert 0.096 <= r["silence_s"] < 1.0
        assert r["terms"]["silence"]["value"] == pytest.approx(r["silence_s"] / r["patience_s"], abs=2e-4)
        assert r["acoustic"] and all(0 <= a <= 1 for a in r["acoustic"])
        assert r["words"] == doc["transcript"].split()[-REASON_WORDS:]
        assert r["terms"]["text_complete"] == {"value": 1.0, "contribution": 0.0}  # TEST_MODEL's prior


def test_default_model_and_a_long_transcript():
    script = "i would like to check the status of my order please."
    events, _ = run(pcm16(quiet(0.5), tone(2.75), quiet(3.0)), p=with_reasons(), script=script,
                    policy=TurnPolicy())
    end = next(d for d in wire(events) if d.get("event") == "EndOfTurn")
    check_sums(end)
    r = end["turnscribe_reasons"]
    assert r["terms"]["text_complete"]["contribution"] == EotModel().complete_prior
    assert r["patience_s"] == EotModel().patience_floor_s
    assert len(r["words"]) == REASON_WORDS
    assert r["words"][-1] == "please." and r["words"] == end["transcript"].split()[-REASON_WORDS:]
    assert len(json.dumps(r)) < 800, "JSON-small"


def test_manual_and_timeout_triggers():
    audio = pcm16(quiet(0.5), tone(1.3), quiet(0.3))
    events, _ = run(audio, p=with_reasons(thresholds=Thresholds(eot_threshold=1.0, eot_timeout_ms=60000)),
                    actions=[(len(audio), FORCE)])
    end = next(d for d in wire(events) if d.get("event") == "EndOfTurn")
    assert end["trigger"] == end["turnscribe_reasons"]["trigger"] == "manual"
    check_sums(end)
    events, _ = run(pcm16(quiet(0.5), tone(1.3), quiet(3.0)),
                    p=with_reasons(thresholds=Thresholds(eot_threshold=1.0, eot_timeout_ms=1000)))
    end = next(d for d in wire(events) if d.get("event") == "EndOfTurn")
    assert end["trigger"] == end["turnscribe_reasons"]["trigger"] == "timeout"
    assert end["turnscribe_reasons"]["silence_s"] >= 1.0
    check_sums(end)


def test_words_are_redacted_like_the_transcript():
    events, _ = run(pcm16(quiet(0.5), tone(1.5), quiet(3.0)), p=with_reasons(redact=("numbers",)),
                    script="my number is 4 5 6 7.")
    end = next(d for d in wire(events) if d.get("event") == "EndOfTurn")
    words = end["turnscribe_reasons"]["words"]
    assert not any(c.isdigit() for w in words for c in w), words
    assert words == end["transcript"].split()[-REASON_WORDS:]


def test_explain_breaks_the_model_down():
    model = EotModel()
    words = tuple(Word(t, 0.1 * i, 0.1 * i + 0.1, 0.9) for i, t in enumerate(["call", "me", "at", "601"]))
    cues = Cues(silence_s=0.7, acoustic=(0.3, 0.8), words=words)
    r = explain(cues, model, "model")
    assert r.confidence == pytest.approx(1 / (1 + math.exp(-r.logit)))
    assert sum(t.contribution for t in r.terms) == pytest.approx(r.logit) == pytest.approx(model.log_odds(cues))
    assert r.acoustic == (0.3, 0.8) and r.words == ("call", "me", "at", "601") and r.silence_s == 0.7
    names_ = [t.name for t in r.terms]
    assert names_[0] == "text_continues", "an open digit group: the speaker goes on"
    assert r.patience_s == model.patience_floor_s


def test_query_parameter():
    base = [("model", "flux-general-en"), ("encoding", "linear16"), ("sample_rate", "16000")]
    assert parse_listen_params(base).decision_reasons is False
    assert parse_listen_params([*base, ("turnscribe_reasons", "true")]).decision_reasons is True
    assert parse_listen_params([*base, ("turnscribe_reasons", "True")]).decision_reasons is True
    assert parse_listen_params([*base, ("turnscribe_reasons", "false")]).decision_reasons is False
    for bad in ([("turnscribe_reasons", "1")], [("turnscribe_reasons", "")],
                [("turnscribe_reasons", "true"), ("turnscribe_reasons", "true")]):
        with pytest.raises(BadRequest, match="turnscribe_reasons"):
            parse_listen_params(base + bad)
    with pytest.raises(BadRequest, match="unknown parameter"):
        parse_listen_params([*base, ("turnscribe_reason", "true")])


def test_configure_keeps_the_option():
    after = apply_configure(with_reasons(), Configure(thresholds=(("eot_threshold", 0.8),), numerals=True))
    assert after.decision_reasons and after.numerals and after.thresholds.eot_threshold == 0.8
