"""WorkLedger: numbering, generations, abandoning, and the one wait helper."""

import numpy as np
import pytest
from core_parts import Waiting, finish

from turnscribe.core.ledger import WorkLedger
from turnscribe.core.waits import NeedResult
from turnscribe.core.work import EngineResult
from turnscribe.types.engine import AsrRequest, AsrResult, TurnRequest

AUDIO = np.zeros(160, dtype=np.float32)


def test_requests_are_numbered_tagged_and_taken_once():
    w = WorkLedger("s1")
    a = w.issue(TurnRequest(audio=AUDIO), multilingual=False)
    b = w.issue(AsrRequest(audio=AUDIO), multilingual=True, urgent=False)
    reqs = w.take_requests()
    assert (a, b) == (1, 2) and [r.seq for r in reqs] == [1, 2]
    assert all(r.stream_id == "s1" and r.generation == 0 for r in reqs)
    assert reqs[1].multilingual and not reqs[1].urgent and reqs[0].urgent
    assert w.take_requests() == []


def test_result_waits_for_its_answer_then_takes_it():
    w = WorkLedger("s")
    seq = w.issue(AsrRequest(audio=AUDIO), multilingual=False)
    with pytest.raises(Waiting) as waiting:
        finish(w.result(seq))
    assert waiting.value.wait == NeedResult(seq)
    answer = AsrResult()
    assert w.file(EngineResult("s", 0, seq, answer)) and w.has(seq)
    assert finish(w.result(seq)) is answer
    assert not w.has(seq), "an answer is taken once"


def test_answers_of_an_ended_turn_or_an_abandoned_request_are_dropped():
    w = WorkLedger("s")
    old = w.issue(AsrRequest(audio=AUDIO), multilingual=False)
    w.next_generation()
    assert not w.file(EngineResult("s", 0, old, AsrResult()))
    gone = w.issue(AsrRequest(audio=AUDIO), multilingual=False)
    w.abandon(gone)
    assert w.take_abandoned() == [gone] and w.take_abandoned() == []
    assert not w.file(EngineResult("s", 1, gone, AsrResult())) and not w.has(gone)
    assert w.file(EngineResult("s", 1, gone, AsrResult())), "abandoned once: a repeat is filed"


def test_abandoning_an_answer_already_in_forgets_it_without_reporting():
    w = WorkLedger("s")
    seq = w.issue(AsrRequest(audio=AUDIO), multilingual=False)
    w.file(EngineResult("s", 0, seq, AsrResult()))
    w.abandon(seq)
    assert not w.has(seq) and w.take_abandoned() == []


def test_a_failed_stream_sends_nothing_queued():
    w = WorkLedger("s")
    w.issue(AsrRequest(audio=AUDIO), multilingual=False)
    w.cancel_queued()
    assert w.take_requests() == []
