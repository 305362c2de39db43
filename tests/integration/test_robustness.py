"""Hard audio through the real Session and models: degrade gracefully, never crash, stay bounded."""

from __future__ import annotations

import json
import wave
from itertools import pairwise

import numpy as np
import pytest

from turnscribe.eval.wer import normalise
from turnscribe.runtime.driver import InlineSession
from turnscribe.wire.events import TurnEvent, TurnInfo
from turnscribe.wire.params import ListenParams, Thresholds

pytestmark = pytest.mark.model

CLIPS = ["wer/clean/ast_tt-weasels.wav", "wer/clean/ast_vm-msgforwarded.wav", "wer/clean/ast_dir-nomore.wav",
         "wer/clean/ast_conf-onlyperson.wav", "wer/clean/ast_agent-alreadyon.wav"]


def samples(shared, path) -> np.ndarray:
    with wave.open(str(shared / "data" / path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768


def reference(shared, path) -> str:
    import csv

    with open(shared / "data" / "manifest.tsv", newline="", encoding="utf-8") as f:
        return next(r["reference_text"] for r in csv.DictReader(f, delimiter="\t") if r["path"] == path)


def to_pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def stream(engines, pcm: bytes, params=None) -> tuple[list, InlineSession]:
    s = InlineSession(params or ListenParams(), engines)
    events = []
    for off in range(0, len(pcm), 2560):
        s.receive_audio(pcm[off:off + 2560])
        events += s.events_to_send()
    s.receive_text(json.dumps({"type": "CloseStream"}))
    return events + s.events_to_send(), s


def text_of(events) -> str:
    ti = [e for e in events if isinstance(e, TurnInfo)]
    ends = [e.transcript for e in ti if e.event is TurnEvent.END_OF_TURN]
    return " ".join(ends) or ti[-1].transcript


@pytest.mark.parametrize("label,transform", [
    ("clipped x8", lambda x: np.clip(x * 8, -1, 1)),
    ("DC offset +0.3", lambda x: x + 0.3),
    ("quiet -30 dB", lambda x: x * 0.03),
])
def test_distorted_speech_still_gives_most_words(real_engines, shared, label, transform):
    x = samples(shared, "wer/clean/ast_tt-weasels.wav")
    pad = np.zeros(8000, np.float32)
    events, _ = stream(real_engines, to_pcm(transform(np.concatenate([pad, x, pad, pad, pad]))))
    words = set(normalise(text_of(events)).split())
    assert len(words & {"weasels", "have", "eaten", "our", "phone", "system"}) >= 4, (label, text_of(events))


def test_dc_offset_alone_is_not_speech(real_engines):
    events, _ = stream(real_engines, to_pcm(np.full(16000 * 3, 0.25, np.float32)))
    assert all(e.event is TurnEvent.UPDATE and not e.transcript for e in events if isinstance(e, TurnInfo))


def test_a_minute_long_turn_stays_bounded_and_keeps_its_words(real_engines, shared):
    speech = [samples(shared, p) for p in CLIPS] * 3  # ~70 s of talk, 50 ms gaps: never a pause
    gap = np.zeros(800, np.float32)
    x = np.concatenate([v for s in speech for v in (s, gap)])
    p = ListenParams(thresholds=Thresholds(eot_threshold=1.0, eot_timeout_ms=60000))
    calls: list[float] = []
    asr = real_engines.asr
    original = asr.transcribe

    def spy(batch):
        calls.extend(len(r.audio) / 16000 for r in batch)
        return original(batch)

    asr.transcribe = spy
    try:
        events, s = stream(real_engines, to_pcm(x), p)
    finally:
        del asr.transcribe
    ti = [e for e in events if isinstance(e, TurnInfo)]
    assert [e.event for e in ti].count(TurnEvent.START_OF_TURN) == 1 and TurnEvent.END_OF_TURN not in [e.event for e in ti]
    assert max(calls) <= s.policy.window.max_window_s + 1.0, "the ASR window slides instead of growing"
    assert s.session.activity.ring.nbytes <= s.policy.activity.history_s * 16000 * 4
    last = ti[-1]
    import jiwer

    ref = " ".join(normalise(reference(shared, c)) for c in CLIPS * 3)
    out = jiwer.process_words(ref, normalise(last.transcript))
    assert out.hits / len(ref.split()) >= 0.85, last.transcript
    assert all(a.start <= b.start + 1e-6 for a, b in pairwise(last.words))
    assert normalise(last.transcript).count("weasels") >= 2
