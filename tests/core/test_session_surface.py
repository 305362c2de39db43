"""The Session's own surface, with no engine answering: clocks, the turn boundary, input limits,
bad audio, Configure refused, and answers that are not this stream's."""

import dataclasses
import json

import pytest
from helpers import pcm16, quiet, tone

from turnscribe.core.session import Session
from turnscribe.core.work import EngineResult
from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import run_requests
from turnscribe.types.engine import AsrResult
from turnscribe.wire.events import ConfigureFailure, ConfigureSuccess, Error
from turnscribe.wire.limits import DEFAULT_LIMITS
from turnscribe.wire.params import ListenParams

ENGINES = fake_engines("hello there.")


def session(**kw: object) -> Session:
    return Session(ListenParams(), vad_state=ENGINES.vad.new_state(), vad_chunk=ENGINES.vad.chunk_samples,
                   stream_id="s1", **kw)  # type: ignore[arg-type]


def answer_all(s: Session) -> None:
    while work := s.pending_work():
        for res in run_requests(ENGINES, work):
            s.deliver(res)


def test_clocks_and_the_turn_boundary():
    s = session()
    assert s.stream_id == "s1" and s.turn_index == 0 and s.trace == []
    s.receive_audio(pcm16(quiet(0.5)))
    # whole 80 ms frames only (the rest waits in the framer); the first frame waits for its VAD
    assert s.received_s == pytest.approx(0.48) and s.now == pytest.approx(0.08)
    assert s.backlog_s == pytest.approx(0.40)
    answer_all(s)
    assert s.now == pytest.approx(0.48) and s.backlog_s == 0.0
    assert s.at_turn_boundary(), "nobody spoke"
    s.receive_audio(pcm16(tone(0.6)))
    answer_all(s)
    assert not s.at_turn_boundary(), "speech is going on"
    assert not s.input_ended
    s.receive_eof()
    assert s.input_ended


def test_frames_over_the_limits_end_the_stream_with_1009():
    limits = dataclasses.replace(DEFAULT_LIMITS, max_binary_frame_bytes=1000, max_text_frame_bytes=100)
    s = session(limits=limits)
    s.receive_audio(b"\0" * 1002)
    err = s.events_to_send()[-1]
    assert isinstance(err, Error) and (err.code, err.close_code) == ("MESSAGE_TOO_LARGE", 1009) and s.closed
    t = session(limits=limits)
    t.receive_text(json.dumps({"type": "KeepAlive", "pad": "x" * 200}))
    err = t.events_to_send()[-1]
    assert isinstance(err, Error) and err.close_code == 1009


def test_audio_that_does_not_decode_is_the_streams_error():
    s = Session(ListenParams(encoding=None, sample_rate=None), vad_state=ENGINES.vad.new_state(),
                vad_chunk=ENGINES.vad.chunk_samples)
    s.receive_audio(b"this is no container" * 10)
    err = s.events_to_send()[-1]
    assert isinstance(err, Error) and s.closed
    s.receive_text(json.dumps({"type": "KeepAlive"}))
    s.receive_eof()
    assert s.events_to_send() == [], "nothing after the Error"


def test_configure_refused_keeps_the_old_settings():
    s = session()
    s.receive_text(json.dumps({"type": "Configure", "thresholds": {"eot_threshold": 0.2}}))
    s.receive_text(json.dumps({"type": "Configure", "thresholds": {"eot_threshold": 0.8}}))
    failure, success = s.events_to_send()[1:]
    assert isinstance(failure, ConfigureFailure) and isinstance(success, ConfigureSuccess)
    assert s.params.thresholds.eot_threshold == 0.8


def test_answers_for_another_stream_or_a_dropped_vad_answer_change_nothing():
    s = session()
    s.receive_audio(pcm16(quiet(0.16)))
    (vad,) = s.pending_work()
    s.deliver(EngineResult("another", vad.generation, vad.seq, AsrResult()))
    assert s.now == pytest.approx(0.08), "still waiting for the first frame's VAD"
    s.deliver(vad.answer(None))  # the scheduler dropped it (the stream is closing)
    assert s.now == pytest.approx(0.08) and not s.closed
