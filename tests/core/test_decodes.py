"""DecodeSlots: decodes in flight are applied at their due time, waited for only then, abandoned
when newer audio or a newer decode makes them obsolete; the final words reuse a covering decode."""

import dataclasses

import pytest
from core_parts import Parts, Waiting, finish, words

from turnscribe.core.decodes import DecodeSlots
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.waits import NeedResult
from turnscribe.types.engine import AsrRequest, AsrResult

HELLO = words(("Hello", 0.3, 0.6), ("there.", 0.6, 0.9))


def ask_pause(p: Parts, d: DecodeSlots, *, apply: bool = True) -> None:
    """The pause owes its final-quality decode, asked for at once."""
    d.owe_pause(apply=apply)
    d.ask_owed(p.params, due_in_s=0.0)


def started(policy: TurnPolicy | None = None) -> tuple[Parts, DecodeSlots]:
    p = Parts(policy)
    p.audio(0.256, speech=False)
    p.audio(0.768, speech=True)
    p.transcriber.begin(0.0)
    return p, DecodeSlots(p.work, p.transcriber, p.activity, p.policy)


def test_a_partial_is_applied_at_its_due_time_not_before():
    p, d = started()
    d.heard_speech()
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    assert isinstance(req.payload, AsrRequest) and not req.payload.final and req.payload.short_window
    assert not d.new_speech and not req.urgent, "a fresh transcript's partial is best-effort"
    finish(d.settle_partial())  # not due yet: returns without waiting
    assert d.partial is not None
    p.audio(0.256, speech=True)  # the clock passes the 240 ms slack
    with pytest.raises(Waiting) as w:
        finish(d.settle_partial())
    assert w.value.wait == NeedResult(req.seq)
    p.answer(req, AsrResult(words=HELLO))
    finish(d.settle_partial())
    assert d.partial is None and p.transcriber.transcript.words == HELLO


def test_a_stale_transcript_makes_the_partial_urgent():
    p, d = started(TurnPolicy(partial_stale_s=0.5))
    d.ask_partial(p.params)
    assert p.work.take_requests()[0].urgent


def test_a_dropped_partial_leaves_the_words_as_they_were():
    p, d = started()
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    assert p.work.file(req.answer(None))
    finish(d.settle_partial(now=True))
    assert d.partial is None and p.transcriber.transcript.words == ()


def test_an_owed_decode_costs_nothing_until_asked_and_is_cut_where_the_pause_began():
    p, d = started()
    d.heard_speech()
    d.owe_pause(apply=True)
    assert p.work.take_requests() == [] and d.pause_words_pending()
    covers = p.activity.clock
    p.audio(0.4, speech=False)  # asked later, in the pause ...
    d.ask_owed(p.params, due_in_s=0.0)
    (req,) = p.work.take_requests()
    assert req.payload.final and len(req.payload.audio) == covers, "... it decodes the same audio"
    assert d.pause is not None and d.pause.covers == covers


def test_an_owed_decode_is_forgotten_when_the_speaker_goes_on():
    p, d = started()
    d.owe_pause(apply=True)
    d.speech_resumed()
    d.ask_owed(p.params, due_in_s=0.0)
    assert d.owed is None and d.pause is None and p.work.take_requests() == []


def test_the_final_words_ask_for_an_owed_decode():
    p, d = started()
    d.owe_pause(apply=True)
    step = d.final_words(p.params)
    with pytest.raises(Waiting) as w:
        finish(step)
    (req,) = p.work.take_requests()
    assert req.payload.final and w.value.wait == NeedResult(req.seq)


def test_the_pause_decode_is_waited_for_at_once_by_default():
    p, d = started()
    d.heard_speech()
    ask_pause(p, d)
    (req,) = p.work.take_requests()
    with pytest.raises(Waiting) as w:
        finish(d.settle_pause())
    assert w.value.wait == NeedResult(req.seq), "the pause's decisions read the words that end it"


def test_the_pause_decode_is_final_quality_and_waited_for_only_when_due():
    p, d = started(TurnPolicy(pause_slack_s=0.24))
    d.heard_speech()
    ask_pause(p, d)
    (req,) = p.work.take_requests()
    assert req.payload.final and req.urgent and not d.new_speech
    finish(d.settle_pause())
    assert d.pause is not None, "not due: no wait"
    p.audio(0.256, speech=False)
    p.answer(req, AsrResult(words=HELLO))
    finish(d.settle_pause())
    assert d.pause is None and p.transcriber.covered(int(p.activity.last_speech * 16000))


def test_a_decode_waited_for_abandons_every_decode_in_flight():
    p, d = started()
    d.ask_partial(p.params)
    ask_pause(p, d, apply=False)
    ask_pause(p, d)
    older = [r.seq for r in p.work.take_requests()]
    step = d.decode(p.params, final=True)
    with pytest.raises(Waiting):
        finish(step)
    assert sorted(p.work.take_abandoned()) == older
    assert d.partial is d.pause is d.prefetch is None


def test_final_words_reuse_a_covering_final_decode_without_a_new_request():
    p, d = started()
    ask_pause(p, d)
    (req,) = p.work.take_requests()
    p.audio(0.256, speech=False)
    p.answer(req, AsrResult(words=HELLO))
    finish(d.settle_pause())
    assert finish(d.final_words(p.params)) == HELLO
    assert p.work.take_requests() == []


def test_final_words_take_the_prefetched_decode_when_no_speech_came_since():
    p, d = started()
    ask_pause(p, d, apply=False)
    (req,) = p.work.take_requests()
    p.answer(req, AsrResult(words=HELLO))
    assert finish(d.final_words(p.params)) == HELLO
    assert p.work.take_requests() == [] and d.prefetch is None


def test_final_words_decode_afresh_after_new_speech():
    p, d = started()
    ask_pause(p, d, apply=False)
    (pre,) = p.work.take_requests()
    d.heard_speech()
    step = d.final_words(p.params)
    with pytest.raises(Waiting) as w:
        finish(step)
    (fresh,) = p.work.take_requests()
    assert p.work.take_abandoned() == [pre.seq] and w.value.wait == NeedResult(fresh.seq)


def test_a_resumed_pause_decode_is_dropped_only_when_the_policy_says_so():
    p, d = started(TurnPolicy(drop_resumed_pause=True, pause_slack_s=0.24))
    ask_pause(p, d)
    (req,) = p.work.take_requests()
    d.speech_resumed()
    assert d.pause is None and p.work.take_abandoned() == [req.seq]
    p, d = started()
    ask_pause(p, d)
    d.speech_resumed()
    assert d.pause is not None


def test_partials_are_due_every_period_of_new_audio():
    p, d = started()
    assert d.partial_due(p.params), "no decode yet: 1 s of audio is past the 480 ms period"
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    p.answer(req, AsrResult(words=HELLO))
    finish(d.settle_partial(now=True))
    assert not d.partial_due(p.params)
    p.audio(0.512, speech=True)
    assert d.partial_due(p.params)


def test_a_shed_partial_waits_a_period_and_stretches_the_cadence_until_one_is_computed():
    p, d = started()
    every = p.policy.partial_every_s
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    assert p.work.file(req.answer(None))  # shed by a loaded server
    finish(d.settle_partial(now=True))
    assert d.partial_period_s(p.params) == 2 * every
    p.audio(0.256, speech=True)
    assert not d.partial_due(p.params), "not asked again at the next tick"
    p.audio(0.768, speech=True)
    assert d.partial_due(p.params)
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    assert p.work.file(req.answer(None))
    finish(d.settle_partial(now=True))
    assert d.partial_period_s(p.params) == every * p.policy.partial_max_stretch, "stretched no further"
    p.audio(1.024, speech=True)
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    p.answer(req, AsrResult(words=HELLO))
    finish(d.settle_partial(now=True))
    assert d.partial_period_s(p.params) == every, "computed: back towards the period"
    multi = dataclasses.replace(p.params, model="flux-general-multi")
    assert d.partial_period_s(multi) == p.policy.multi_partial_every_s, "base decodes a multilingual partial"


def test_a_partial_after_committed_words_and_a_pause_decodes_the_tail():
    p, d = started()
    p.transcriber.heard_gap(0.6, 0.9)
    hyp = words(("Hello", 0.3, 0.6), ("there", 0.9, 1.0))
    for _ in range(2):
        p.transcriber.took(AsrResult(words=hyp), covers=p.activity.clock, final=False)
        p.transcriber.update(hyp)
    d.ask_partial(p.params)
    (req,) = p.work.take_requests()
    assert abs(req.payload.offset - 0.7) < 1e-6 and req.payload.prompt == "Hello"
    p.answer(req, AsrResult(words=words(("there", 0.9, 1.0), ("friend.", 1.0, 1.2))))
    finish(d.settle_partial(now=True))
    assert [w.text for w in p.transcriber.transcript.words] == ["Hello", "there", "friend."]
