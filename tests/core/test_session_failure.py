"""An exception inside the decision step (a bug: an illegal transition, an assert) ends that
stream with ``Error INTERNAL_SERVER_ERROR`` + 1011 as its last event — never a silent, normal
close — and the session keeps the exception for the log."""

import pytest
from helpers import TEST_POLICY, params, pcm16, quiet, tone

from turnscribe.core.machine import IllegalTransition, TurnMachine
from turnscribe.core.session import Session
from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import run_requests
from turnscribe.wire.events import Error


def drive(s: Session, audio: bytes, *, close: bool = False) -> None:
    engines = fake_engines("hello there how are you.")
    chunks = [audio[off:off + 2560] for off in range(0, len(audio), 2560)]
    for chunk in [*chunks, None] if close else chunks:
        s.receive_audio(chunk) if chunk is not None else s.receive_eof()
        while work := s.pending_work():
            for res in run_requests(engines, work):
                s.deliver(res)


def fresh() -> Session:
    engines = fake_engines("hello there how are you.")
    return Session(params(), vad_state=engines.vad.new_state(), vad_chunk=engines.vad.chunk_samples,
                   policy=TEST_POLICY, stream_id="s")


@pytest.mark.parametrize("where", ["start", "end"])
def test_an_exception_in_the_step_is_the_streams_error_1011(monkeypatch, where):
    fire = TurnMachine.fire

    def broken(self, signal):
        if signal.value == where:
            raise IllegalTransition(f"injected at {where}")
        return fire(self, signal)

    monkeypatch.setattr(TurnMachine, "fire", broken)
    s = fresh()
    drive(s, pcm16(quiet(0.5), tone(1.3), quiet(2.0)))
    events = s.events_to_send()
    assert isinstance(events[-1], Error) and not any(isinstance(e, Error) for e in events[:-1])
    err = events[-1]
    assert (err.code, err.close_code) == ("INTERNAL_SERVER_ERROR", 1011)
    assert "injected" not in err.description, "no internal text on the wire"
    assert s.closed and isinstance(s.failure, IllegalTransition)
    assert s.pending_work() == []
    s.receive_audio(pcm16(tone(0.5)))
    s.receive_eof()
    assert s.events_to_send() == [], "nothing after the Error"


def test_a_healthy_stream_has_no_failure():
    s = fresh()
    drive(s, pcm16(quiet(0.5), tone(1.3), quiet(2.0)), close=True)
    assert s.closed and s.failure is None
    assert not any(isinstance(e, Error) for e in s.events_to_send())
