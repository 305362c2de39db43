"""The sans-I/O Session (through the in-process driver) with scripted engines: every protocol rule as a fast unit test."""

import dataclasses
import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from helpers import TEST_MODEL, TEST_POLICY, names, params, pcm16, quiet, run, tone, turninfos
from hypothesis import given, settings
from hypothesis import strategies as st

from turnscribe.core.work import EngineRequest
from turnscribe.engines.fake import ScriptedAsr, fake_engines
from turnscribe.runtime.driver import InlineSession
from turnscribe.wire.events import Connected, Error, TurnEvent, Warning
from turnscribe.wire.params import ListenParams

FORCE = json.dumps({"type": "ForceEndTurn"})
TURN = (quiet(0.5), tone(1.3), quiet(2.0))  # script "hello there how are you." fits in 1.3 s


def test_connected_first_then_updates_every_240ms_of_silence():
    events, s = run(pcm16(quiet(4.0)))
    assert isinstance(events[0], Connected)
    ti = turninfos(events)
    assert {e.event for e in ti} == {TurnEvent.UPDATE}
    ends = [e.audio_window_end for e in ti]
    assert ends[:3] == pytest.approx([0.24, 0.48, 0.72])
    assert ends[-1] == pytest.approx(4.0) and len(ti) == 17  # 16 ticks + the flush Update
    assert all(e.transcript == "" and e.turn_index == 0 and e.end_of_turn_confidence == 0 for e in ti)
    assert s.closed


def test_one_turn_start_and_model_end():
    events, _ = run(pcm16(*TURN))
    ti = turninfos(events)
    ev = names(events)
    assert ev.count("StartOfTurn") == 1 and ev.count("EndOfTurn") == 1
    start = ti[ev.index("StartOfTurn")]
    end = ti[ev.index("EndOfTurn")]
    assert start.transcript and start.words, "StartOfTurn carries words (§6.3 inv. 8)"
    assert 0.5 <= start.audio_window_end <= 1.2, "StartOfTurn is prompt"
    assert end.transcript == "hello there how are you." and end.trigger.value == "model"
    assert 1.8 < end.audio_window_end <= 2.4, "ends shortly after the speech stops at 1.8 s"
    after = ti[ev.index("EndOfTurn") + 1:]
    assert after and all(e.turn_index == 1 and e.audio_window_start == end.audio_window_end for e in after)
    assert all(e.trigger is None for e in ti if e.event is not TurnEvent.END_OF_TURN)


def test_incomplete_text_waits_longer_than_complete_text():
    audio = pcm16(quiet(0.5), tone(1.3), quiet(4.0))
    done, _ = run(audio)
    cut, _ = run(audio, script="hello there how are and")
    t_done = next(e.audio_window_end for e in turninfos(done) if e.event is TurnEvent.END_OF_TURN)
    t_cut = next(e.audio_window_end for e in turninfos(cut) if e.event is TurnEvent.END_OF_TURN)
    assert t_cut > t_done + 0.2


def test_two_turns_tile_the_stream():
    events, _ = run(pcm16(*TURN, tone(1.3), quiet(2.0)))
    ti = turninfos(events)
    ends = [e for e in ti if e.event is TurnEvent.END_OF_TURN]
    assert [e.turn_index for e in ends] == [0, 1]
    assert ends[1].audio_window_start == ends[0].audio_window_end
    assert all(w.start >= ends[0].audio_window_end - 0.31 for w in ends[1].words)


def test_eager_then_end_repeats_the_eager_transcript():
    events, _ = run(pcm16(*TURN), p=params(eager_eot_threshold=0.4, eot_threshold=0.97))
    ti = turninfos(events)
    ev = names(events)
    assert "EagerEndOfTurn" in ev and "EndOfTurn" in ev
    eager = ti[ev.index("EagerEndOfTurn")]
    end = ti[ev.index("EndOfTurn")]
    assert eager.audio_window_end < end.audio_window_end
    assert end.transcript == eager.transcript and eager.transcript
    between = ti[ev.index("EagerEndOfTurn") + 1:ev.index("EndOfTurn")]
    assert all(e.transcript == eager.transcript for e in between)


def test_turn_resumed_when_speech_continues_after_eager():
    events, _ = run(pcm16(quiet(0.5), tone(1.3), quiet(0.5), tone(1.3), quiet(3.5)),
                    p=params(eager_eot_threshold=0.3, eot_threshold=0.97),
                    script="hello there how are you. i am fine thanks.")
    ev = [e for e in names(events) if e != "Update"]
    assert ev[:3] == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed"], ev
    assert ev[-1] == "EndOfTurn" and ev.count("EndOfTurn") == 1
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert len(end.words) >= 10, "the words after the resume belong to the same turn"


def test_model_end_in_eager_mode_always_follows_an_eager_end():
    events, _ = run(pcm16(*TURN), p=params(eager_eot_threshold=0.7, eot_threshold=0.7))
    ev = [e for e in names(events) if e != "Update"]
    assert ev == ["StartOfTurn", "EagerEndOfTurn", "EndOfTurn"]
    eager, end = [e for e in turninfos(events) if e.event.value in ("EagerEndOfTurn", "EndOfTurn")]
    assert end.audio_window_end == eager.audio_window_end, "crossing both thresholds at once: no extra frame"
    assert end.transcript == eager.transcript and end.trigger.value == "model"
    plain, _ = run(pcm16(*TURN))
    plain_end = next(e for e in turninfos(plain) if e.event is TurnEvent.END_OF_TURN)
    assert end.audio_window_end == plain_end.audio_window_end, "eager mode never delays the EndOfTurn"


def test_eot_threshold_one_disables_model_end_but_timeout_fires():
    events, _ = run(pcm16(quiet(0.5), tone(1.3), quiet(3.0)), p=params(eot_threshold=1.0, eot_timeout_ms=1000))
    ends = [e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN]
    assert len(ends) == 1 and ends[0].trigger.value == "timeout"
    assert 2.8 <= ends[0].audio_window_end <= 3.1  # speech ends at 1.8 s, + 1.0 s of silence


def test_force_end_turn_active_and_inactive():
    audio = pcm16(quiet(0.5), tone(1.0))
    events, _ = run(audio, p=params(eot_threshold=1.0, eot_timeout_ms=60000), actions=[(len(audio), FORCE)])
    ends = [e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN]
    assert len(ends) == 1 and ends[0].trigger.value == "manual" and ends[0].transcript
    assert not [e for e in events if isinstance(e, Warning)]
    events, _ = run(pcm16(quiet(1.0)), actions=[(0, FORCE)])
    warns = [e for e in events if isinstance(e, Warning)]
    assert len(warns) == 1 and warns[0].code == "FORCE_END_TURN_NO_ACTIVE_TURN"
    assert "EndOfTurn" not in names(events)


def test_force_end_turn_in_awaiting_end_uses_the_eager_transcript():
    audio = pcm16(quiet(0.5), tone(1.3), quiet(0.5))
    events, _ = run(audio, p=params(eager_eot_threshold=0.3, eot_threshold=1.0, eot_timeout_ms=60000),
                    actions=[(len(audio), FORCE)])
    ti = turninfos(events)
    ev = names(events)
    assert ti[ev.index("EndOfTurn")].transcript == ti[ev.index("EagerEndOfTurn")].transcript


def test_close_stream_mid_turn_ends_with_update_covering_all_audio():
    audio = pcm16(quiet(0.3), tone(2.0))[:-37 * 2]  # not a whole number of frames
    events, s = run(audio, p=params(eot_threshold=1.0, eot_timeout_ms=60000))
    ti = turninfos(events)
    assert "StartOfTurn" in names(events) and "EndOfTurn" not in names(events)
    assert ti[-1].event is TurnEvent.UPDATE and ti[-1].transcript
    assert ti[-1].audio_window_end == pytest.approx(len(audio) / 32000, abs=1e-3)
    assert s.closed


def test_configure_mid_stream_takes_effect_from_that_point():
    cfg = json.dumps({"type": "Configure", "thresholds": {"eot_threshold": 1.0, "eot_timeout_ms": 1500}})
    events, _ = run(pcm16(*TURN), actions=[(16000, cfg)])
    ends = [e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN]
    assert len(ends) == 1 and ends[0].trigger.value == "timeout"


def test_bad_messages():
    events, s = run(pcm16(quiet(0.5)), actions=[(0, json.dumps({"type": "Finalize"}))])
    assert [e.code for e in events if isinstance(e, Warning)] == ["UNKNOWN_MESSAGE_TYPE"]
    events, s = run(pcm16(quiet(1.0)), actions=[(3200, "{oops")], close=False)
    assert isinstance(events[-1], Error) and events[-1].code == "UNPARSABLE_CLIENT_MESSAGE"
    assert events[-1].close_code == 1008 and s.closed
    s.receive_audio(pcm16(quiet(1.0)))
    s.receive_text(FORCE)
    assert s.events_to_send() == [], "nothing after the Error"


def test_undecodable_container_is_an_error():
    s = InlineSession(ListenParams(encoding=None, sample_rate=None), fake_engines())
    s.receive_audio(bytes(range(256)) * 4)
    ev = s.events_to_send()
    assert isinstance(ev[-1], Error) and ev[-1].code == "UNSUPPORTED_AUDIO_FORMAT" and ev[-1].close_code == 1008


def test_empty_frames_are_ignored():
    events, _ = run(b"", close=True)
    assert len(turninfos(events)) == 1 and turninfos(events)[0].audio_window_end == 0


def serialise(events):
    return [repr(e) for e in events]


AUDIO = pcm16(quiet(0.4), tone(1.3), quiet(0.9), tone(0.8), quiet(2.0))


def test_chunking_invariance_fixed_splits():
    ref, _ = run(AUDIO, chunk=len(AUDIO))
    for chunk in (2, 333, 2560, 7777):
        got, _ = run(AUDIO, chunk=chunk)
        assert serialise(got) == serialise(ref), chunk
    short = pcm16(quiet(0.2), tone(0.5), quiet(0.4))
    assert serialise(run(short, chunk=1)[0]) == serialise(run(short, chunk=len(short))[0])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9000), min_size=1, max_size=40))
def test_chunking_invariance_random_splits(sizes):
    ref, _ = run(AUDIO, chunk=len(AUDIO))
    s = InlineSession(params(), fake_engines("hello there how are you."), policy=TEST_POLICY)
    got, off, i = [], 0, 0
    while off < len(AUDIO):
        n = sizes[i % len(sizes)]
        s.receive_audio(AUDIO[off:off + n])
        got += s.events_to_send()
        off, i = off + n, i + 1
    s.receive_text('{"type":"CloseStream"}')
    got += s.events_to_send()
    assert serialise(got) == serialise(ref)


def test_long_turn_keeps_memory_and_asr_window_bounded():
    engines = fake_engines(" ".join(f"w{i}" for i in range(400)))
    s = InlineSession(params(eot_threshold=1.0, eot_timeout_ms=60000), engines)
    chunk = pcm16(tone(2.0))
    for _ in range(45):  # 90 s of uninterrupted speech
        s.receive_audio(chunk)
        s.events_to_send()
    assert isinstance(engines.asr, ScriptedAsr)
    longest = max(len(r.audio) for r in engines.asr.calls) / 16000
    assert longest <= s.policy.window.max_window_s + 0.5
    assert s.session.activity.ring.nbytes <= s.policy.activity.history_s * 16000 * 4
    s.receive_text(FORCE)
    end = next(e for e in turninfos(s.events_to_send()) if e.event is TurnEvent.END_OF_TURN)
    assert len(end.words) >= 300, "frozen words of a long turn are kept in the transcript"
    assert all(a.start <= b.start for a, b in itertools.pairwise(end.words))


def test_protocol_core_imports_no_io():
    code = ("import sys\n"
            "for name in ('asyncio', 'socket', 'websockets', 'ctranslate2', 'onnxruntime'):\n"
            "    sys.modules[name] = None\n"
            "import turnscribe.core.session, turnscribe.engines.fake\n")
    res = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_identical_audio_identical_events_in_two_sessions():
    a, _ = run(AUDIO)
    b, _ = run(AUDIO)
    assert serialise(a) == serialise(b)
    assert np.all(np.diff([e.audio_window_end for e in turninfos(a)]) >= 0)


def test_numerals_and_redact_apply_to_words_and_transcript():
    script = "my number is four one five."
    cfg = json.dumps({"type": "Configure", "numerals": True})
    events, _ = run(pcm16(quiet(0.5), tone(1.6), quiet(2.0)), script=script, actions=[(0, cfg)])
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert end.transcript == "my number is 415."
    assert end.words[-1].text == "415." and end.words[-1].start < end.words[-1].end
    events, _ = run(pcm16(quiet(0.5), tone(1.6), quiet(2.0)), script=script,
                    p=ListenParams(redact=("numbers",)))
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert end.transcript == "my number is [NUMBER]."


def test_keyterms_snap_recognised_words_on_the_wire():
    p = ListenParams(keyterms=("Deepgram",))
    events, _ = run(pcm16(quiet(0.5), tone(1.3), quiet(2.0)), script="i use deep gram daily.", p=p)
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert end.transcript == "i use Deepgram daily."
    events, _ = run(pcm16(quiet(0.5), tone(1.3), quiet(2.0)), script="i use deep gram daily.")
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert end.transcript == "i use deep gram daily."


class _RecordingTurn:
    """Acoustic engine that records the audio it was asked about (lengths in seconds)."""

    def __init__(self):
        self.seconds = []

    def score(self, batch):
        self.seconds += [len(r.audio) / 16000 for r in batch]
        return [0.1] * len(batch)


def test_acoustic_model_hears_earlier_pauses_shortened_and_the_current_pause_whole():
    rec = _RecordingTurn()
    eng = dataclasses.replace(fake_engines(), turn=rec)
    # speech 1.0 s, a 1.2 s pause inside the turn, speech 1.0 s, then silence (never ends: low score)
    audio = pcm16(quiet(0.5), tone(1.0), quiet(1.2), tone(1.0), quiet(1.0))
    # an infinite lead asks at every pause (no model end is possible at eot_threshold 1.0)
    s = InlineSession(params(eot_threshold=1.0), eng, policy=dataclasses.replace(TEST_POLICY, final_lead_s=math.inf))
    s.receive_audio(audio)
    assert len(rec.seconds) == 2, "asked once per pause"
    first, second = rec.seconds
    gap = TEST_POLICY.activity.acoustic_gap_s
    # first ask: the turn's speech plus ~0.1 s of the current pause
    assert first < 1.0 + 0.3 + 0.25
    # second ask: both speech runs, the 1.2 s pause cut to `gap`, plus the current pause so far
    assert second == pytest.approx(first + gap + 1.0, abs=0.15)
    assert second < first + 1.2 + 1.0 - 0.5, "the earlier pause was shortened"


class _ClockedTurn(_RecordingTurn):
    """Also records the session's clock at each ask."""

    def __init__(self):
        super().__init__()
        self.at = []
        self.session = None

    def score(self, batch):
        self.at += [round(self.session.now, 3)] * len(batch)
        return super().score(batch)


def test_smart_turn_waits_until_an_end_is_possible_and_hears_the_same_audio_then():
    """Smart Turn is asked once the turn can end within final_lead_s (before that every frame holds,
    whatever it answers): where no model end is possible it is not asked at all, and a deferred
    ask hears the audio up to its ask point, as an ask made there would."""
    audio = pcm16(quiet(0.5), tone(1.0), quiet(1.2), tone(1.0), quiet(3.0))
    never = _RecordingTurn()
    InlineSession(params(eot_threshold=1.0), dataclasses.replace(fake_engines(), turn=never),
                  policy=TEST_POLICY).receive_audio(audio)
    assert never.seconds == [], "no end possible: no Smart Turn call"
    # every text class needs ~0.65 s of silence before an end is possible
    slow = dataclasses.replace(TEST_MODEL, complete_prior=-8.0, answer_prior=-8.0, plain_prior=-8.0,
                               continues_prior=-8.0)
    asks = {}
    for lead in (math.inf, 0.0):
        rec = asks[lead] = _ClockedTurn()
        s = InlineSession(params(), dataclasses.replace(fake_engines(), turn=rec),
                          policy=dataclasses.replace(TEST_POLICY, model=slow, final_lead_s=lead))
        rec.session = s
        s.receive_audio(audio)
    at_once, deferred = asks[math.inf], asks[0.0]
    assert len(at_once.seconds) == len(deferred.seconds) == 2
    assert all(b >= a + 0.2 for a, b in zip(at_once.at, deferred.at, strict=True)), "asked later ..."
    assert deferred.seconds == at_once.seconds, "... about the same audio"


def _end_time(audio):
    events, _ = run(audio)
    return next(e.audio_window_end for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)


def test_a_weak_tail_after_speech_delays_the_pause_but_only_briefly():
    room = 10 ** (-60 / 20)  # room tone at -60 dBFS: the noise floor
    floor = tone(0.5, amp=room * 1.41, freq=50)
    tail = tone(0.16, amp=0.008, freq=3000)  # -45 dBFS: under the VAD threshold, ~14 dB over the floor
    long_tail = tone(1.0, amp=0.008, freq=3000)
    plain = _end_time(pcm16(floor, tone(1.3), tone(2.5, amp=room * 1.41, freq=50)))
    tailed = _end_time(pcm16(floor, tone(1.3), tail, tone(2.34, amp=room * 1.41, freq=50)))
    droning = _end_time(pcm16(floor, tone(1.3), long_tail, tone(1.5, amp=room * 1.41, freq=50)))
    assert tailed - plain == pytest.approx(0.16, abs=0.09), "the pause starts after the unvoiced tail"
    assert droning - plain <= 0.25 + 0.09, "a lasting sound under the VAD never holds the turn open for long"


def test_a_turn_right_after_a_model_end_needs_more_evidence():
    from dataclasses import replace

    from helpers import TEST_MODEL

    from turnscribe.core.session import TurnPolicy

    # ends not floored by the slack; a short answer's steep patience would hide the effect
    policy = TurnPolicy(model=replace(TEST_MODEL, soon_after_end=-1.5, answer_patience=1.0), pause_slack_s=0.16)
    def second_end_after_speech(gap_s):
        # one word per tone: each turn is the finished sentence "done."
        events, _ = run(pcm16(quiet(0.5), tone(0.8), quiet(gap_s), tone(0.8), quiet(2.5)),
                        engines=fake_engines("done.", seconds_per_word=0.75), policy=policy,
                        p=params(eot_threshold=0.9))
        ends = [e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN]
        assert len(ends) == 2, [e.transcript for e in ends]
        return ends[1].audio_window_end - (0.5 + 0.8 + gap_s + 0.8)  # seconds after its speech stopped

    soon = second_end_after_speech(0.8)   # the speaker went on 0.8 s after the model's end
    late = second_end_after_speech(2.5)   # a new turn after a real gap
    assert soon >= late + 0.2, "the same words and silence need more evidence right after an end"
    assert soon < 1.5, "but the turn still ends"


class _ReformattingAsr:
    """Scripted ASR whose decode merges everything said into one word, like Whisper writing a
    dictated number as "601-448" and, once more digits follow, "601-448-9723"."""

    multilingual = False

    def __init__(self):
        self.inner = fake_engines().asr

    def transcribe(self, batch):
        out = []
        for res in self.inner.transcribe(batch):
            ws = res.words
            if ws:
                merged = "-".join(str(600 + i) for i in range(len(ws))) + "."
                ws = (type(ws[0])(merged, ws[0].start, ws[-1].end, 0.9),)
            out.append(dataclasses.replace(res, words=ws))
        return out


def test_a_reformatted_decode_that_reaches_past_the_eager_words_is_a_resume():
    eng = dataclasses.replace(fake_engines(), asr=_ReformattingAsr())
    audio = pcm16(quiet(0.5), tone(1.0), quiet(0.3), tone(1.0), quiet(3.0))
    s = InlineSession(params(eager_eot_threshold=0.3, eot_threshold=0.97), eng, policy=TEST_POLICY)
    s.receive_audio(audio)
    s.receive_eof()
    ti = turninfos(s.events_to_send())
    ev = [e.event.value for e in ti if e.event is not TurnEvent.UPDATE]
    assert ev[:3] == ["StartOfTurn", "EagerEndOfTurn", "TurnResumed"], ev
    end = next(e for e in ti if e.event is TurnEvent.END_OF_TURN)
    eager = next(e for e in ti if e.event is TurnEvent.EAGER_END_OF_TURN)
    assert len(end.transcript) > len(eager.transcript), "the EndOfTurn carries the digits said after the eager end"


def test_shorten_pauses_keeps_the_release_and_the_onset_of_each_long_pause():
    from turnscribe.core.activity import shorten_pauses

    x = np.arange(100, dtype=np.float32)
    # pauses at 20..60 (long) and 70..75 (shorter than keep); keep 9 samples = 6 head + 3 tail
    y = shorten_pauses(x, [(20, 60), (70, 75)], 9)
    assert y.tolist() == [*range(26), *range(57, 100)]
    assert shorten_pauses(x, [(-50, -10)], 9).tolist() == x.tolist(), "a pause before the audio is ignored"


def drive_core(p, audio, script, take, policy=TEST_POLICY):
    """A sans-I/O Session fed ``audio`` at once, every engine request answered inline unless
    ``take(session, request)`` returns True (the test holds, sheds or answers it itself).
    Returns the session, the engines and the events."""
    from turnscribe.core.session import Session
    from turnscribe.runtime.driver import run_requests

    engines = fake_engines(script)
    s = Session(p, vad_state=engines.vad.new_state(), vad_chunk=engines.vad.chunk_samples, policy=policy)
    s.receive_audio(audio)
    events = []
    for _ in range(10_000):
        work = s.pending_work()
        if not work:
            break
        for req in work:
            if not take(s, req):
                s.deliver(run_requests(engines, [req])[0])
        events += s.events_to_send()
    return s, engines, events


def holding_finals():
    """A ``drive_core`` take-function that holds back every final-quality decode, and the list it
    holds them in (the test answers them when it chooses)."""
    from turnscribe.types.engine import AsrRequest

    held = []

    def hold_finals(_s, req):
        final = isinstance(req.payload, AsrRequest) and req.payload.final
        if final:
            held.append(req)
        return final

    return held, hold_finals


def test_the_pause_decode_does_not_hold_updates_and_ends_wait_for_it():
    """The final-quality decode a pause starts is applied ``pause_slack_s`` into the pause: while
    it is computed the stream's Updates go on, no end is decided before it is in, and the events
    are the same as when every answer comes back at once."""
    from turnscribe.runtime.driver import run_requests

    held, hold_finals = holding_finals()
    s, engines, events = drive_core(params(), pcm16(*TURN), "hello there how are you.", hold_finals)
    assert held, "the pause asked for a final-quality decode"
    infos = turninfos(events)
    assert all(e.event is not TurnEvent.END_OF_TURN for e in infos)
    pause_start = 0.5 + 1.3
    assert TEST_POLICY.pause_slack_s >= 0.16
    assert s.now >= pause_start + TEST_POLICY.pause_slack_s, "the stream went on into the pause ..."
    assert s.now < pause_start + TEST_POLICY.pause_slack_s + 0.3, "... and waits where the words are due"
    assert infos[-1].audio_window_end > pause_start, "Updates were sent while the decode was out"
    for req in held:
        s.deliver(run_requests(engines, [req])[0])
    while work := s.pending_work():
        for res in run_requests(engines, work):
            s.deliver(res)
    s.receive_text('{"type":"CloseStream"}')
    while work := s.pending_work():
        for res in run_requests(engines, work):
            s.deliver(res)
    events += s.events_to_send()
    ref, _ = run(pcm16(*TURN), chunk=len(pcm16(*TURN)))
    assert serialise(events) == serialise(ref)
    assert any(e.event is TurnEvent.END_OF_TURN for e in turninfos(events))


def test_by_default_an_end_is_decided_at_the_first_frame_of_the_pause_with_its_final_words():
    """pause_slack_s 0 (the default): the pause's final-quality decode is waited for at the first
    frame of the pause, and a clear ending is decided there, carrying those words."""
    from turnscribe.core.session import TurnPolicy
    from turnscribe.runtime.driver import run_requests

    held, hold_finals = holding_finals()
    policy = dataclasses.replace(TEST_POLICY, pause_slack_s=TurnPolicy().pause_slack_s)
    assert policy.pause_slack_s == 0.0
    s, engines, events = drive_core(params(), pcm16(*TURN), "hello there how are you.", hold_finals, policy)
    pause_start = 0.5 + 1.3
    waited_at = s.now
    assert held and waited_at <= pause_start + 0.2 + 1e-9, "the stream waits at the pause start (frames of 80 ms)"
    for req in held:
        s.deliver(run_requests(engines, [req])[0])
    while work := s.pending_work():
        for res in run_requests(engines, work):
            s.deliver(res)
    events += s.events_to_send()
    end = next(e for e in turninfos(events) if e.event is TurnEvent.END_OF_TURN)
    assert end.audio_window_end == pytest.approx(waited_at), "decided at the frame it waited at"
    assert end.transcript == "hello there how are you."


def test_speech_resuming_before_the_pause_decode_is_due_abandons_it():
    """A short pause: the speaker goes on before the pause's words were due, so the decode is
    reported abandoned (the runner may drop it unrun) and its late answer changes nothing."""
    from turnscribe.core.session import Session
    from turnscribe.runtime.driver import run_requests
    from turnscribe.types.engine import AsrRequest

    audio = pcm16(quiet(0.5), tone(1.0), quiet(0.16), tone(1.0), quiet(2.0))
    engines = fake_engines("hello there how are you.")
    policy = dataclasses.replace(TEST_POLICY, drop_resumed_pause=True)
    s = Session(params(), vad_state=engines.vad.new_state(), vad_chunk=engines.vad.chunk_samples, policy=policy)
    s.receive_audio(audio)
    held: list[EngineRequest] = []
    abandoned: list[int] = []
    for _ in range(10_000):
        work = s.pending_work()
        abandoned += s.take_abandoned()
        if not work:
            break
        for req in work:
            if isinstance(req.payload, AsrRequest) and req.payload.final and not held:
                held.append(req)  # the first pause's decode: never answered in time
            else:
                s.deliver(run_requests(engines, [req])[0])
    assert held and held[0].seq in abandoned
    s.deliver(run_requests(engines, held)[0])  # a late answer for it is ignored
    s.receive_text('{"type":"CloseStream"}')
    while work := s.pending_work():
        for res in run_requests(engines, work):
            s.deliver(res)
    ref, _ = run(audio, chunk=len(audio), policy=policy)
    got = turninfos(s.events_to_send())
    assert any(e.event is TurnEvent.END_OF_TURN for e in got)
    assert [e.event for e in got][-3:] == [e.event for e in turninfos(ref)][-3:]


def test_the_stream_learns_its_speakers_pauses():
    """Pauses that speech resumed after reach the end-of-turn model as the speaker's own holds;
    a silence between turns (over 2 s) is not one."""
    policy = dataclasses.replace(TEST_POLICY, trace=True)
    audio = pcm16(quiet(0.5), tone(1.0), quiet(0.3), tone(1.0), quiet(0.9), tone(1.0), quiet(2.6), tone(1.0),
                  quiet(1.0))
    _, s = run(audio, p=params(eot_threshold=1.0, eot_timeout_ms=60000), policy=policy)
    last = s.trace[-1][1].recent_pauses
    assert len(last) == 2 and last[0] == pytest.approx(0.3, abs=0.07) and last[1] == pytest.approx(0.9, abs=0.07)
    early = [c for t, c in s.trace if t < 0.5 + 1.0 + 0.3]
    assert early and all(c.recent_pauses == () for c in early), "only pauses already resumed from count"


def test_start_of_turn_holds_back_a_word_still_being_said():
    """While the speaker goes on, a word that ends at the decoded audio's edge may be cut off
    ("Too deep?" for "To decrease"): StartOfTurn leaves it out when other words remain, and is
    not delayed for it when none do."""
    # 0.23 s per scripted word: the first attempt (0.46 s of speech) ends on a word's last frame
    events, _ = run(pcm16(quiet(0.5), tone(2.0), quiet(2.0)), p=params(eot_threshold=1.0, eot_timeout_ms=60000),
                    engines=fake_engines("to decrease the audio volume now.", seconds_per_word=0.23))
    start = next(e for e in turninfos(events) if e.event is TurnEvent.START_OF_TURN)
    assert [w.text for w in start.words] == ["to"], "'decrease' ended at the audio's edge: held back"
    assert start.words, "the turn still starts with words"
    assert all(w.end <= start.audio_window_end - TEST_POLICY.start_holdback_s + 1e-9 for w in start.words)
    # 0.46 s per word: the first attempt has one word, at the edge; the turn starts with it
    events, _ = run(pcm16(quiet(0.5), tone(2.0), quiet(2.0)), p=params(eot_threshold=1.0, eot_timeout_ms=60000),
                    engines=fake_engines("to decrease the audio volume now.", seconds_per_word=0.46))
    start = next(e for e in turninfos(events) if e.event is TurnEvent.START_OF_TURN)
    assert [w.text for w in start.words] == ["to"] and start.audio_window_end <= 0.96 + 1e-9


def test_a_live_partial_is_waited_for_only_at_its_due_time_later_on_multi():
    """Holding back the first live partial, the stream goes on until the partial is due: 240 ms
    after it was asked for, 400 ms on flux-general-multi (Whisper base decodes its partials)."""
    from turnscribe.types.engine import AsrRequest
    from turnscribe.wire.params import ListenParams

    def stalled_at(p):
        asked: list[float] = []

        def hold_first_partial(_s, req):
            live = isinstance(req.payload, AsrRequest) and req.payload.short_window and not asked
            if live:
                asked.append(req.payload.offset + len(req.payload.audio) / 16000)  # never answered
            return live

        s, _, _ = drive_core(p, pcm16(quiet(0.5), tone(4.0)), "hello there how are you and more words here.",
                             hold_first_partial)
        assert asked, "a live partial was asked for"
        return s.now - asked[0]

    en = stalled_at(params())
    multi = stalled_at(ListenParams(model="flux-general-multi"))
    assert abs(en - TEST_POLICY.partial_slack_s) < 0.09, en
    assert abs(multi - TEST_POLICY.multi_partial_slack_s) < 0.09, multi


def test_a_partial_asked_when_the_words_are_stale_is_not_best_effort():
    """Best-effort partials may all be shed under load; once the latest decode is
    ``partial_stale_s`` old, the next one is urgent (the scheduler never drops it)."""
    from turnscribe.types.engine import AsrRequest

    live = []

    def shed_best_effort_partials(s, req):
        if not (isinstance(req.payload, AsrRequest) and req.payload.short_window):
            return False
        live.append(req)
        if not req.urgent:
            s.deliver(req.answer(None))  # shed, as under load
        return not req.urgent

    drive_core(params(), pcm16(quiet(0.5), tone(5.0)),
               "hello there how are you and more words here and still more.", shed_best_effort_partials)
    assert live and not live[0].urgent, "partials start best-effort"
    urgent = [r for r in live if r.urgent]
    assert urgent, "after partial_stale_s without a decode, a partial is urgent"
    first = urgent[0].payload
    asked_at = first.offset + len(first.audio) / 16000
    assert asked_at >= 0.5 + TEST_POLICY.partial_stale_s - 0.5  # the turn's first words came from its start decode


def test_a_hold_resumed_before_the_earliest_end_costs_no_final_decode_and_changes_no_decision():
    """Shipped model and lead: a 0.2 s hold after a full sentence cannot end the turn (with Smart
    Turn unsure the earliest end is ~0.56 s), so it asks for no final-quality decode; the pause
    after the last words does. Asked for at the pause start instead (final_lead_s inf, as eval eot
    records), the same events go out."""
    import math

    from turnscribe.core.session import TurnPolicy
    from turnscribe.engines.fake import EnergyVad, ScriptedAsr, ScriptedTurn
    from turnscribe.types.engine import Engines

    audio = pcm16(quiet(0.5), tone(1.3), quiet(0.2), tone(1.0), quiet(2.5))
    runs = {}
    for lead in (TurnPolicy().final_lead_s, math.inf):
        asr = ScriptedAsr("hello there how are you.")
        engines = Engines(vad=EnergyVad(), asr=asr, turn=ScriptedTurn(fixed=0.5))
        events, _ = run(audio, engines=engines, policy=TurnPolicy(final_lead_s=lead))
        finals = [round(r.offset + len(r.audio) / 16000, 2) for r in asr.calls if r.final]
        runs[lead] = (events, finals)
    (lazy, lazy_finals), (eager, eager_finals) = runs[TurnPolicy().final_lead_s], runs[math.inf]
    hold_end = 0.5 + 1.3
    assert not any(abs(t - hold_end) < 0.25 for t in lazy_finals), lazy_finals
    assert any(abs(t - hold_end) < 0.25 for t in eager_finals), eager_finals
    assert len(lazy_finals) < len(eager_finals)
    ends = [(e.event, e.audio_window_end, e.transcript) for e in turninfos(lazy) if e.event is not TurnEvent.UPDATE]
    assert ends == [(e.event, e.audio_window_end, e.transcript) for e in turninfos(eager)
                    if e.event is not TurnEvent.UPDATE]
    assert any(e[0] is TurnEvent.END_OF_TURN for e in ends)


def test_a_short_reply_asks_its_final_decode_a_frame_before_the_pause_not_after_smart_turn():
    """Shipped policy: at the first silent frame after "Yes." (before it is a pause) the
    final-quality decode the pause will owe is asked for, and Smart Turn at the pause's first frame
    (before that decode's answer is in), so the EndOfTurn waits for one model's compute, not two in
    a row, and that one started a frame sooner. After a longer sentence the decode waits for Smart
    Turn's answer (it would be asked at most pauses for nothing). The events are those of a run
    where every answer comes back at once."""
    from turnscribe.core.session import TurnPolicy
    from turnscribe.types.engine import AsrRequest, TurnRequest

    def asked_before_acoustic(script):
        held = []

        def hold(_s, req):
            if isinstance(req.payload, TurnRequest) or (isinstance(req.payload, AsrRequest) and req.payload.final):
                held.append(req)
                return True
            return False

        audio = pcm16(quiet(0.5), tone(0.6 if len(script.split()) == 1 else 1.3), quiet(2.0))
        s, engines, events = drive_core(params(), audio, script, hold, TurnPolicy())
        kinds = [("turn" if isinstance(r.payload, TurnRequest) else "final") for r in held]
        return kinds, s, engines, held, audio, events

    kinds, s, engines, held, audio, events = asked_before_acoustic("Yes.")
    assert kinds == ["final", "turn"], kinds  # both out while the session waits for Smart Turn
    speech_end, pause_min = 0.5 + 0.6, TurnPolicy().pause_min_s
    final = held[0].payload
    assert s.now >= speech_end + pause_min, "the session waits at the pause's first frame for Smart Turn"
    asked_at = final.offset + len(final.audio) / 16000
    assert speech_end < asked_at <= s.now - 0.08 + 1e-9, "the decode was asked a frame sooner"
    from turnscribe.runtime.driver import run_requests
    for req in held:
        s.deliver(run_requests(engines, [req])[0])
    events += s.events_to_send()
    while work := s.pending_work():
        for res in run_requests(engines, work):
            s.deliver(res)
        events += s.events_to_send()
    ref, _ = run(audio, engines=fake_engines("Yes."), policy=TurnPolicy())
    assert any(e.event is TurnEvent.END_OF_TURN for e in turninfos(ref))
    ends = [(e.event, e.audio_window_end, e.transcript) for e in turninfos(ref) if e.event is not TurnEvent.UPDATE]
    got = [(e.event, e.audio_window_end, e.transcript) for e in turninfos(events) if e.event is not TurnEvent.UPDATE]
    assert got == ends

    kinds, *_ = asked_before_acoustic("hello there how are you doing today.")
    assert kinds == ["turn"], kinds  # the decode is asked once Smart Turn's answer is read


def test_a_short_reply_that_goes_on_after_a_word_gap_abandons_the_decode_asked_before_the_pause():
    """"Yes" then a gap shorter than a pause, then more words: the decode asked at the gap (the
    words so far may be a whole reply) is abandoned when the speech goes on (never applied, never
    waited for), and the turn's events are those of a run where it was answered at once."""
    from turnscribe.core.session import TurnPolicy
    from turnscribe.types.engine import AsrRequest

    audio = pcm16(quiet(0.5), tone(0.7), quiet(0.09), tone(1.2), quiet(2.0))
    script = "Yes I would like a taxi please."
    early = []

    def hold_early(_s, req):
        r = req.payload
        if isinstance(r, AsrRequest) and r.final and r.offset + len(r.audio) / 16000 < 0.5 + 0.7 + 0.2:
            early.append(req)
            return True  # never answered: the session must not wait for it
        return False

    s, _, events = drive_core(params(), audio, script, hold_early, TurnPolicy())
    assert len(early) == 1, "one decode asked at the gap"
    assert early[0].seq in s.take_abandoned(), "abandoned when the speech went on"
    s.receive_text('{"type":"CloseStream"}')
    assert s.now >= 0.5 + 0.7 + 0.09 + 1.2, "the stream went on past the gap without its answer"
    ref, _ = run(audio, engines=fake_engines(script), policy=TurnPolicy())
    ends = [(e.event, e.audio_window_end, e.transcript) for e in turninfos(ref) if e.event is not TurnEvent.UPDATE]
    got = [(e.event, e.audio_window_end, e.transcript) for e in turninfos(events) if e.event is not TurnEvent.UPDATE]
    assert any(e[0] is TurnEvent.END_OF_TURN for e in ends) and got == ends


def test_with_an_infinite_lead_every_frame_of_a_pause_reads_the_pause_words():
    """eval eot records with ``final_lead_s`` inf so that a swept policy sees, at every frame, the
    words it would read live at its own earliest end: the pause's final-quality words, from the
    first frame on (not a live partial that misses the end of the speech)."""
    import math

    from turnscribe.core.session import TurnPolicy

    audio = pcm16(quiet(0.5), tone(1.3), quiet(0.4), tone(1.0), quiet(2.5))
    _, s = run(audio, policy=TurnPolicy(trace=True, final_lead_s=math.inf), chunk=len(audio))
    assert s.trace, "the end decisions were traced"
    assert all(cues.unheard_s == 0.0 for _, cues in s.trace), [c.unheard_s for _, c in s.trace]
    _, lazy = run(audio, policy=TurnPolicy(trace=True), chunk=len(audio))
    assert any(cues.unheard_s > 0.0 for _, cues in lazy.trace), "the shipped lead reads the partial first"
