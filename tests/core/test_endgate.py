"""The end gate: the pure decision table, and the pause's evidence (Smart Turn asked at its ask
points, its answers read when a decision needs them, voided by speech)."""

import pytest
from core_parts import Parts, Waiting, finish, words

from turnscribe.core.endgate import Decision, EndGate, decide
from turnscribe.core.eot import SOON_AFTER_END_S
from turnscribe.core.machine import TurnState
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcript import TurnTranscript
from turnscribe.core.waits import NeedResult
from turnscribe.types.engine import TurnRequest
from turnscribe.wire.params import Thresholds

EAGER = Thresholds(eot_threshold=0.8, eager_eot_threshold=0.5, eot_timeout_ms=3000)
PLAIN = Thresholds(eot_threshold=0.8, eot_timeout_ms=3000)


@pytest.mark.parametrize(("confidence", "silence", "th", "state", "want"), [
    (0.9, 0.2, PLAIN, TurnState.ONGOING, Decision.END),
    (0.7, 0.2, PLAIN, TurnState.ONGOING, Decision.HOLD),
    (0.1, 3.0, PLAIN, TurnState.ONGOING, Decision.TIMEOUT),
    (0.9, 0.2, EAGER, TurnState.ONGOING, Decision.EAGER_AND_END),  # an eager end always comes first
    (0.6, 0.2, EAGER, TurnState.ONGOING, Decision.EAGER),
    (0.6, 0.2, EAGER, TurnState.AWAITING_END, Decision.HOLD),      # already eager: wait for the end
    (0.9, 0.2, EAGER, TurnState.AWAITING_END, Decision.END),
    (1.0, 0.2, Thresholds(eot_threshold=1.0, eot_timeout_ms=3000), TurnState.ONGOING, Decision.HOLD),
])
def test_decide(confidence, silence, th, state, want):
    assert decide(confidence, silence, th, state) is want


def gate(policy: TurnPolicy | None = None) -> tuple[Parts, EndGate, TurnTranscript]:
    p = Parts(policy)
    p.audio(0.512, speech=True)
    p.audio(0.128, speech=False)
    tr = TurnTranscript(0.0)
    tr.update(words(("Yes.", 0.1, 0.4)))
    return p, EndGate(p.policy, p.work, p.activity), tr


def test_smart_turn_is_asked_once_per_ask_point_and_read_when_needed():
    p, g, tr = gate(TurnPolicy(acoustic_at_s=(0.096, 0.5)))
    g.consider_acoustic(0.05, 0.0, tr)
    assert p.work.take_requests() == [], "before the first ask point"
    g.consider_acoustic(0.128, 0.0, tr)
    g.consider_acoustic(0.2, 0.0, tr)  # in flight: not asked again
    (req,) = p.work.take_requests()
    assert isinstance(req.payload, TurnRequest) and req.payload.transcript == "Yes."
    step = g.read_acoustic()
    with pytest.raises(Waiting) as w:
        finish(step)
    assert w.value.wait == NeedResult(req.seq)
    p.answer(req, 0.9)
    finish(step)  # resumed where it waited
    assert g.cues(()).acoustic == (0.9,)
    g.consider_acoustic(0.2, 0.0, tr)
    assert p.work.take_requests() == [], "the second ask point is not reached"


def test_one_answer_stands_for_every_ask_point_a_late_ask_passed():
    p, g, tr = gate(TurnPolicy(acoustic_at_s=(0.096, 0.5)))
    g.consider_acoustic(0.6, 0.0, tr)
    (req,) = p.work.take_requests()
    assert p.work.file(req.answer(None))  # dropped: counts as undecided
    finish(g.read_acoustic())
    assert g.cues(()).acoustic == (0.5, 0.5)


def test_speech_voids_the_pause_evidence_and_abandons_the_ask():
    p, g, tr = gate()
    assert g.pause_starts() and not g.pause_starts(), "once per pause"
    g.consider_acoustic(0.2, 0.0, tr)
    (req,) = p.work.take_requests()
    g.speech()
    assert p.work.take_abandoned() == [req.seq] and g.pause_starts() and g.cues(()).acoustic == ()


def test_judge_returns_the_decision_with_its_evidence_and_traces_it():
    p, g, _ = gate(TurnPolicy(trace=True))
    said = words(("Yes.", 0.1, 0.4))
    d = g.judge(said, 0.2, 0.128, PLAIN, TurnState.ONGOING)
    assert d.cues.words == said and d.cues.silence_s == pytest.approx(0.128) and d.cues.unheard_s == 0.2
    assert d.confidence == g.confidence == p.policy.model.probability(d.cues)
    assert d.decision is decide(d.confidence, 0.128, PLAIN, TurnState.ONGOING)
    assert g.trace == [(p.activity.now, d.cues)]


def test_a_turn_soon_after_a_model_end_is_marked_and_only_then():
    p, g, _ = gate()
    g.turn_ending(by_model=True)
    g.turn_started(p.activity.last_speech + SOON_AFTER_END_S / 2)
    assert g.cues(()).soon_after_end
    g.turn_ending(by_model=False)
    g.turn_started(p.activity.last_speech + SOON_AFTER_END_S / 2)
    assert not g.cues(()).soon_after_end
    g.turn_ending(by_model=True)
    g.turn_started(p.activity.last_speech + SOON_AFTER_END_S * 2)
    assert not g.cues(()).soon_after_end


def test_a_turn_end_resets_the_confidence_and_the_answers():
    p, g, tr = gate()
    g.consider_acoustic(0.2, 0.0, tr)
    (req,) = p.work.take_requests()
    p.answer(req, 0.8)
    finish(g.read_acoustic())
    g.fuse(())
    g.turn_ended()
    assert g.confidence == 0.0 and g.cues(()).acoustic == ()
