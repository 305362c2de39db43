"""§7 client messages: parsing, schema violations (fatal) vs. value problems (ConfigureFailure)."""

import json

import pytest

from turnscribe.errors import ConfigureRejected, UnparsableMessage
from turnscribe.wire import messages as m
from turnscribe.wire.params import ListenParams, Thresholds


@pytest.mark.parametrize("text", ["{not json", "[1]", '"str"', "{}", '{"type": 3}', '{"type": null}', ""])
def test_unparsable(text):
    with pytest.raises(UnparsableMessage):
        m.parse_client_message(text)


@pytest.mark.parametrize("text,cls", [
    ('{"type":"CloseStream"}', m.CloseStream), ('{"type":"ForceEndTurn"}', m.ForceEndTurn),
    ('{"type":"KeepAlive"}', m.KeepAlive), ('{"type":"Finalize"}', m.UnknownMessage),
    ('{"type":"Configure"}', m.Configure)])
def test_known_types(text, cls):
    assert isinstance(m.parse_client_message(text), cls)


@pytest.mark.parametrize("doc", [
    {"numerals": "true"}, {"profanity_filter": 1}, {"features": {}}, {"thresholds": [0.7]},
    {"thresholds": {"eot": 0.7}}, {"redact_usage": "true"}, {"redact_usage": 1}, {"redact_usage": []}])
def test_configure_schema_violations_are_fatal(doc):
    with pytest.raises(UnparsableMessage):
        m.parse_client_message(json.dumps({"type": "Configure", **doc}))


def configure(params, **doc):
    msg = m.parse_client_message(json.dumps({"type": "Configure", **doc}))
    assert isinstance(msg, m.Configure)
    return m.apply_configure(params, msg)


def test_configure_applies_atomically_and_keeps_omitted_fields():
    p = ListenParams(thresholds=Thresholds(0.7, 0.5, 4000), keyterms=("kiwi",))
    q = configure(p, thresholds={"eot_threshold": 0.85, "eager_eot_threshold": None})
    assert q.thresholds == Thresholds(0.85, 0.5, 4000) and q.keyterms == ("kiwi",)
    q = configure(q, keyterms=[], numerals=True, profanity_filter=None)
    assert q.keyterms == () and q.numerals and q.thresholds.eot_threshold == 0.85


@pytest.mark.parametrize("doc,code", [
    ({"thresholds": {"eot_threshold": 1.7}}, "INVALID_CONFIGURE"),
    ({"thresholds": {"eot_threshold": True}}, "INVALID_CONFIGURE"),
    ({"thresholds": {"eager_eot_threshold": 0.9, "eot_threshold": 0.6}}, "INVALID_CONFIGURE"),
    ({"thresholds": {"eot_timeout_ms": 10}}, "INVALID_CONFIGURE"),
    ({"thresholds": {"eot_timeout_ms": 1000.5}}, "INVALID_CONFIGURE"),
    ({"keyterms": "word"}, "INVALID_CONFIGURE"),
    ({"keyterms": [1]}, "INVALID_CONFIGURE"),
    ({"keyterms": [f"t{i}" for i in range(101)]}, "INVALID_CONFIGURE"),
    ({"language_hints": ["es"]}, "UNSUPPORTED_FOR_MODEL"),
    # a valid field beside an invalid one: nothing applies
    ({"keyterms": ["ok"], "thresholds": {"eot_threshold": 0.2}}, "INVALID_CONFIGURE"),
])
def test_configure_value_problems(doc, code):
    p = ListenParams()
    with pytest.raises(ConfigureRejected) as e:
        configure(p, **doc)
    assert e.value.code == code and e.value.description


def test_language_hints_on_multi():
    p = ListenParams(model="flux-general-multi")
    assert configure(p, language_hints=["es-MX", "fr"]).language_hints == ("es", "fr")
    with pytest.raises(ConfigureRejected):
        configure(p, language_hints=["klingon"])


def test_configure_redact_usage():
    p = ListenParams(keyterms=("Jane Doe",))
    q = configure(p, redact_usage=True)
    assert q.redact_usage and q.keyterms == ("Jane Doe",)
    assert configure(q, keyterms=["kiwi"]).redact_usage, "omitted: stays on"
    assert configure(q, redact_usage=None).redact_usage, "null = not supplied"
    assert not configure(q, redact_usage=False).redact_usage
    with pytest.raises(ConfigureRejected):
        configure(p, redact_usage=True, thresholds={"eot_threshold": 0.2})
