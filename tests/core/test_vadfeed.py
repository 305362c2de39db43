"""VAD run-ahead: one request in flight, for every whole chunk received; answers applied in order."""

import numpy as np
import pytest

from turnscribe.core.activity import ActivityPolicy, SpeechActivity
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.vadfeed import VadFeed
from turnscribe.core.work import EngineResult
from turnscribe.types.engine import AsrResult, VadRequest


def setup() -> tuple[SpeechActivity, WorkLedger, VadFeed]:
    return SpeechActivity(ActivityPolicy(), 512), WorkLedger("v"), VadFeed(object())


def test_one_request_in_flight_covering_every_whole_chunk():
    act, work, feed = setup()
    act.push(np.zeros(1300, dtype=np.float32))
    feed.ask(act, work)
    feed.ask(act, work)  # in flight: no second request
    (req,) = work.take_requests()
    assert isinstance(req.payload, VadRequest) and len(req.payload.audio) == 1024  # two whole chunks
    assert feed.is_answer(req.answer(None)) and not feed.is_answer(EngineResult("v", 0, req.seq + 1, None))
    assert feed.take(req.answer(np.array([0.1, 0.9], dtype=np.float32)), act)
    act.push(np.zeros(300, dtype=np.float32))
    feed.ask(act, work)
    (nxt,) = work.take_requests()
    assert len(nxt.payload.audio) == 512, "the next request starts where the last one stopped"


def test_a_dropped_answer_is_not_applied_and_a_wrong_one_is_a_bug():
    act, work, feed = setup()
    act.push(np.zeros(512, dtype=np.float32))
    feed.ask(act, work)
    (req,) = work.take_requests()
    assert not feed.take(req.answer(None), act)
    feed.ask(act, work)
    assert work.take_requests() == [], "nothing new to ask about"
    act.push(np.zeros(512, dtype=np.float32))
    feed.ask(act, work)
    (again,) = work.take_requests()
    with pytest.raises(TypeError):
        feed.take(again.answer(AsrResult()), act)
