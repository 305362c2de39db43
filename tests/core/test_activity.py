"""Speech activity: the audio history, the two clocks, VAD applied at the decision clock, the
unvoiced tail, pauses kept as gaps, the speaker's resumed pauses."""

import numpy as np
import pytest
from core_parts import CHUNK, Parts

from turnscribe.core.activity import ActivityPolicy, AudioRing, SpeechActivity, levels_db


def test_the_ring_keeps_the_last_samples_by_stream_index():
    ring = AudioRing(10)
    ring.append(np.arange(7, dtype=np.float32))
    ring.append(np.arange(7, 14, dtype=np.float32))
    assert ring.end == 14
    assert ring.slice(4, 14).tolist() == list(range(4, 14))
    assert ring.slice(0, 6).tolist() == [4.0, 5.0], "older samples are gone"
    ring.append(np.arange(100, 125, dtype=np.float32))  # longer than the ring
    assert ring.end == 39 and ring.slice(29, 39).tolist() == list(range(115, 125))


def test_ring_slices_equal_the_stream_itself_wrapped_or_not():
    """Any slice, across the ring's wrap point or not, is the stream's own samples (the ones the
    ring still holds), copied: appending later does not change a slice taken before."""
    rng = np.random.default_rng(0)
    for cap in (7, 16, 100):
        ring, stream = AudioRing(cap), np.zeros(0, dtype=np.float32)
        for _ in range(200):
            x = rng.standard_normal(int(rng.integers(0, 2 * cap))).astype(np.float32)
            ring.append(x)
            stream = np.concatenate([stream, x])
            for _ in range(4):
                start = int(rng.integers(-5, ring.end + 5))
                stop = int(rng.integers(start - 3, ring.end + 6))
                got = ring.slice(start, stop)
                lo, hi = max(start, ring.end - cap, 0), min(stop, ring.end)
                assert got.dtype == np.float32
                assert np.array_equal(got, stream[lo:hi] if hi > lo else stream[:0])
        kept = ring.slice(ring.end - 3, ring.end)
        before = kept.copy()
        ring.append(np.ones(cap, dtype=np.float32))
        assert np.array_equal(kept, before)


def test_levels_db_per_chunk():
    x = np.concatenate([np.zeros(4), np.ones(4)]).astype(np.float32)
    lv = levels_db(x, 4)
    assert lv[0] < -100 and lv[1] == pytest.approx(0.0, abs=1e-6)


def test_dc_offset_is_removed_before_the_engines_hear_it():
    act = SpeechActivity(ActivityPolicy(), CHUNK)
    for _ in range(200):
        act.push(np.full(1280, 0.3, dtype=np.float32))
    act.advance(1280 * 200)
    assert abs(float(act.audio(act.clock - 1280).mean())) < 0.01


def test_vad_is_applied_only_up_to_the_decision_clock():
    p = Parts()
    act = p.activity
    act.push(np.zeros(CHUNK * 4, dtype=np.float32))
    act.vad_answered(np.array([0.9, 0.9, 0.9, 0.9], dtype=np.float32))
    assert act.received_s == pytest.approx(CHUNK * 4 / 16000) and act.backlog_s == act.received_s
    act.advance(CHUNK * 2)
    assert act.vad_ready() and act.apply_vad(turn_active=False)
    assert act.last_speech == pytest.approx(2 * CHUNK / 16000), "chunks past the clock wait"
    assert act.speech_onset == 0.0
    act.forget_onset()
    assert act.speech_onset is None


def test_a_pause_the_speaker_resumed_after_is_remembered():
    p = Parts()
    p.audio(0.512, speech=True)
    p.audio(0.512, speech=False)
    p.audio(0.256, speech=True)
    act = p.activity
    assert act.resumed_after == pytest.approx((0.512, 1.024))
    assert list(act.resumed_pauses) == [pytest.approx(0.512)]
    assert act.gaps and act.gaps[-1] == (round(0.512 * 16000), round(1.024 * 16000))
    assert act.silence() == 0.0


def test_an_unvoiced_tail_just_after_speech_still_counts_as_speech():
    p = Parts()
    p.audio(0.256, speech=False)  # the noise floor
    p.audio(0.512, speech=True)
    act = p.activity
    noise = (np.random.default_rng(0).standard_normal(CHUNK * 2) * 0.05).astype(np.float32)
    act.push(noise)
    act.vad_answered(np.array([0.1, 0.1], dtype=np.float32))  # the VAD missed a soft "s"
    act.advance(CHUNK * 2)
    act.apply_vad(turn_active=True)
    assert act.last_speech == pytest.approx(0.768 + 2 * CHUNK / 16000)


def _feed(act: SpeechActivity, seconds: float, amp: float, prob: float) -> bool:
    """``seconds`` of a tone at ``amp`` the VAD calls speech with ``prob``; True if any was speech."""
    n = round(seconds * 16000 / CHUNK)
    t = np.arange(n * CHUNK) / 16000
    act.push((amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    act.vad_answered(np.full(n, prob, dtype=np.float32))
    act.advance(n * CHUNK)
    return act.apply_vad(turn_active=False)


def test_a_voice_far_below_the_speakers_own_is_not_speech():
    """Line echo: the other party's voice ~40 dB down, which the VAD calls speech, neither starts
    nor holds open a turn once the stream has heard its own speaker; a quieter speaker still counts,
    and so do the quiet chunks of a run of speech once it has started."""
    act = SpeechActivity(ActivityPolicy(), CHUNK)
    assert _feed(act, 0.5, 0.01, 0.99), "before any speech there is no reference: the echo is heard"
    assert _feed(act, 1.5, 0.3, 0.99), "the speaker"
    assert not _feed(act, 0.5, 0.0, 0.01)
    last = act.last_speech
    assert not _feed(act, 2.0, 0.003, 0.99) and act.last_speech == last, "40 dB down: echo, a silence"
    assert _feed(act, 1.0, 0.03, 0.99), "20 dB down: the speaker, quieter"
    assert _feed(act, 0.5, 0.003, 0.99), "a quiet stretch inside a run of speech stays in it"
    off = SpeechActivity(ActivityPolicy(echo_db=0.0), CHUNK)
    _feed(off, 1.5, 0.3, 0.99)
    assert _feed(off, 1.0, 0.003, 0.99), "echo_db 0 turns the rule off"


def _speak_unevenly(act: SpeechActivity, seconds: float) -> None:
    """A speaker whose loud syllables (every third chunk) stand 23 dB over the rest: the median
    chunk is the quiet kind."""
    for i in range(round(seconds * 16000 / CHUNK)):
        _feed(act, CHUNK / 16000, 0.3 if i % 3 == 0 else 0.02, 0.99)


def test_echo_is_judged_against_the_speakers_loud_syllables_not_the_median():
    """An echo 40 dB under the speaker's loud syllables is only ~22 dB under their median chunk:
    measured against the median, the echo's peaks passed for the speaker and held turns open."""
    act = SpeechActivity(ActivityPolicy(), CHUNK)
    _speak_unevenly(act, 2.0)
    assert not _feed(act, 1.0, 0.0, 0.01)
    last = act.last_speech
    assert not _feed(act, 2.0, 0.0015, 0.99) and act.last_speech == last, "the echo is no speech"
    assert _feed(act, 1.0, 0.02, 0.99), "the speaker's quiet voice still is"


def test_a_quiet_sound_just_after_the_speakers_own_speech_is_theirs():
    """A plosive's release after its closure ("Nope" + "p") or a quick soft resumption comes within
    ECHO_AFTER_S of the speaker's own speech: no echo test then (the other party answers later)."""
    act = SpeechActivity(ActivityPolicy(), CHUNK)
    assert _feed(act, 1.5, 0.3, 0.99)
    assert not _feed(act, 0.128, 0.0, 0.01)
    assert _feed(act, 0.064, 0.003, 0.99), "40 dB down, 0.13 s after the speaker: the release"
    assert not _feed(act, 0.8, 0.0, 0.01)
    last = act.last_speech
    assert not _feed(act, 0.5, 0.003, 0.99) and act.last_speech == last, "0.8 s later: echo"

