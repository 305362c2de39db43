"""§5 wire form of server messages and §5.7 sequence numbering."""

import json

from turnscribe.types.engine import Word
from turnscribe.wire.events import (
    ConfigureFailure,
    ConfigureSuccess,
    Connected,
    Error,
    Event,
    Trigger,
    TurnEvent,
    TurnInfo,
    Warning,
    WireEncoder,
)
from turnscribe.wire.params import ListenParams, Thresholds


def test_sequence_ids_and_request_id_on_every_type():
    enc = WireEncoder("rid")
    evs: list[Event] = [Connected(), Warning("W", "w"), ConfigureFailure("C", "c"), ConfigureSuccess(ListenParams()),
           Error("E", "e", 1008)]
    docs = [json.loads(enc.encode(e)) for e in evs]
    assert [d["sequence_id"] for d in docs] == [0, 1, 2, 3, 4]
    assert all(d["request_id"] == "rid" for d in docs)
    assert [d["type"] for d in docs] == ["Connected", "Warning", "ConfigureFailure", "ConfigureSuccess", "Error"]
    assert "close_code" not in docs[-1]


def test_turninfo_fields():
    w = (Word("Hi,", 0.32, 0.52, 0.97), Word("there.", 0.6, 0.9, 0.5))
    ti = TurnInfo(TurnEvent.END_OF_TURN, 2, 1.0, 2.4, w, 0.83, Trigger.MODEL)
    d = json.loads(WireEncoder("r").encode(ti))
    assert d["event"] == "EndOfTurn" and d["trigger"] == "model" and d["turn_index"] == 2
    assert d["transcript"] == "Hi, there."
    assert d["words"][0] == {"word": "Hi,", "confidence": 0.97, "start": 0.32, "end": 0.52}
    assert "languages" not in d and "languages_hinted" not in d
    upd = json.loads(WireEncoder("r").encode(TurnInfo(TurnEvent.UPDATE, 0, 0, 0.24, (), 0.0,
                                                      languages=(), languages_hinted=("es",))))
    assert "trigger" not in upd and upd["languages"] == [] and upd["languages_hinted"] == ["es"]


def test_configure_success_echoes_everything():
    p = ListenParams(model="flux-general-multi", thresholds=Thresholds(0.8, None, 3000), keyterms=("a",),
                     language_hints=("es",), numerals=True)
    d = json.loads(WireEncoder("r").encode(ConfigureSuccess(p)))
    assert d["thresholds"] == {"eot_threshold": 0.8, "eot_timeout_ms": 3000}
    assert d["keyterms"] == ["a"] and d["numerals"] is True and d["language_hints"] == ["es"]
