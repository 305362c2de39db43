"""A bug inside one stream's session (an ``IllegalTransition``, an assert, anything) fails that
stream with Error INTERNAL_SERVER_ERROR + close 1011, logged with its traceback and request id,
and leaves a concurrent stream's events exactly as they are when it runs alone (issue 25).

Before the fix, an exception in the session's step while an engine result was delivered escaped
``Stream.deliver`` inside the event loop's callback (asyncio only logged it), past the
connection's catch-all: the stream then hung or ended with a normal close 1000, and no Error.

The fault is injected for the streams tagged ``crash`` only, over real sockets on a real
in-process server: with the fake engines (deterministic and fast, every injection point) and with
the bundled models on real speech (the step fault).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import websockets
from helpers import pcm16, quiet, speech_like, tone
from servertools import Captured, RunningServer, make_server

from turnscribe.core.machine import IllegalTransition, Signal, TurnMachine
from turnscribe.core.session import Session

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
AUDIO = pcm16(quiet(0.3), tone(1.25), quiet(1.5), tone(1.0), quiet(1.0))
DOOMED_TAG = "crash"
CLIENT_WAIT_S = 30.0  # a stream the server never ends fails the test instead of hanging it
SPEECH = "wer/clean/ast_tt-weasels.wav"

# the session being driven right now (the event loop makes one call into a session at a time)
_current: contextvars.ContextVar[Session | None] = contextvars.ContextVar("current_session", default=None)


def _doomed(session: Session | None) -> bool:
    return session is not None and DOOMED_TAG in session.params.tags


def _tracking(method: Callable[..., object]) -> Callable[..., object]:
    """``method`` of Session, noting the session the step below it runs for."""
    @functools.wraps(method)
    def call(self: Session, *args: object) -> object:
        token = _current.set(self)
        try:
            return method(self, *args)
        finally:
            _current.reset(token)
    return call


def _raising(method: Callable[..., object], name: str) -> Callable[..., object]:
    """``method`` of Session, raising instead for a doomed stream once it has 1 s of audio."""
    @functools.wraps(method)
    def call(self: Session, *args: object) -> object:
        if _doomed(self) and self.received_s >= 1.0:
            raise RuntimeError(f"injected bug in Session.{name}")
        return method(self, *args)
    return call


@pytest.fixture
def fault(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Install a fault for the streams tagged ``crash``:

    - ``step``: ``TurnMachine.fire`` raises ``IllegalTransition`` at StartOfTurn, inside the
      session's step, which runs when an engine result is delivered (or input comes in);
    - ``deliver`` / ``receive_audio`` / ``receive_text`` / ``pending_work``: that method of the
      Session raises itself (a bug the session does not catch), once the stream has 1 s of audio.
    """
    def install(where: str) -> None:
        if where != "step":
            monkeypatch.setattr(Session, where, _raising(getattr(Session, where), where))
            return
        for name in ("deliver", "receive_audio", "receive_text", "receive_eof"):
            monkeypatch.setattr(Session, name, _tracking(getattr(Session, name)))
        fire = TurnMachine.fire

        def broken_fire(self: TurnMachine, signal: Signal) -> object:
            if signal is Signal.START and _doomed(_current.get()):
                raise IllegalTransition("injected: no transition from Initial on start")
            return fire(self, signal)

        monkeypatch.setattr(TurnMachine, "fire", broken_fire)
    return install


@pytest.fixture(scope="module")
def srv() -> Iterator[RunningServer]:
    server = make_server()
    yield server
    server.stop()


async def stream(url: str, audio: bytes, messages: tuple[str, ...] = (), *, chunk: int,
                 pace_s: float = 0.005) -> tuple[list[dict], int | None]:
    """Send ``audio`` in ``chunk``-byte frames, ``pace_s`` apart (engine results then come back
    while audio still flows, as with a live client), then ``messages`` and CloseStream; return
    every message received and the close code (None: not closed within ``CLIENT_WAIT_S``)."""
    out: list[dict] = []
    async with websockets.connect(url) as ws:
        async def send() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):  # the server may end it first
                for off in range(0, len(audio), chunk):
                    await ws.send(audio[off:off + chunk])
                    await asyncio.sleep(pace_s)
                for m in (*messages, '{"type": "CloseStream"}'):
                    await ws.send(m)

        async def receive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    out.append(json.loads(raw))

        sender = asyncio.ensure_future(send())
        try:
            await asyncio.wait_for(receive(), CLIENT_WAIT_S)
        except TimeoutError:
            return out, None
        finally:
            sender.cancel()
        return out, ws.close_code


async def side_by_side(url: str, audio: bytes, messages: tuple[str, ...] = (), *, chunk: int,
                       pace_s: float = 0.005) -> tuple:
    """A doomed stream and a healthy one at once: ((messages, close code), (messages, close code))."""
    bad = stream(url + Q + "&tag=" + DOOMED_TAG, audio, messages, chunk=chunk, pace_s=pace_s)
    good = stream(url + Q, audio, chunk=chunk, pace_s=pace_s)
    return tuple(await asyncio.gather(bad, good))


def summary(msgs: list[dict]) -> list[tuple[object, ...]]:
    """A stream's events without request ids, sequence numbers or timings."""
    return [(m["type"], m.get("event"), m.get("transcript"), m.get("turn_index")) for m in msgs]


def assert_failed_alone(bad: tuple, good: tuple, alone: list[dict], logs: Captured, text: str) -> None:
    """The doomed stream ended with one Error INTERNAL_SERVER_ERROR + 1011, logged with its
    traceback and request id; the other one is exactly ``alone``."""
    (bad_msgs, bad_code), (good_msgs, good_code) = bad, good
    assert bad_msgs and bad_msgs[0]["type"] == "Connected"
    last = bad_msgs[-1]
    outcome = (last["type"], last.get("code"), bad_code)
    assert outcome == ("Error", "INTERNAL_SERVER_ERROR", 1011), (outcome, summary(bad_msgs)[-3:])
    assert sum(m["type"] == "Error" for m in bad_msgs) == 1
    assert "injected" not in last["description"], "no internals on the wire"
    assert good_code == 1000 and summary(good_msgs) == summary(alone), "the other stream is untouched"
    rid = bad_msgs[0]["request_id"]
    crash = [line for line in logs.lines if line.startswith("ERROR turnscribe.stream") and rid in line]
    assert len(crash) == 1, f"the failure of {rid} is logged once: {crash}"
    assert "Traceback" in crash[0] and text in crash[0], crash[0]
    good_rid = good_msgs[0]["request_id"]
    assert not [line for line in logs.lines if line.startswith("ERROR") and good_rid in line]


def test_a_bug_in_the_step_while_a_result_is_delivered_fails_that_stream_only(
        srv: RunningServer, fault: Callable[[str], None], logs: Captured) -> None:
    alone, code = asyncio.run(stream(srv.url + Q, AUDIO, chunk=3200))
    assert code == 1000 and any(m.get("event") == "StartOfTurn" for m in alone)
    fault("step")
    bad, good = asyncio.run(side_by_side(srv.url, AUDIO, chunk=3200))
    assert_failed_alone(bad, good, alone, logs, "IllegalTransition: injected")
    again, code = asyncio.run(stream(srv.url + Q, AUDIO, chunk=3200))
    assert code == 1000 and summary(again) == summary(alone), "the server goes on serving"


@pytest.mark.parametrize("where", ["deliver", "receive_audio", "pending_work"])
def test_a_bug_in_any_call_into_the_session_fails_that_stream_only(
        srv: RunningServer, fault: Callable[[str], None], logs: Captured, where: str) -> None:
    audio = speech_like(6.0, seed=3)
    alone, code = asyncio.run(stream(srv.url + Q, audio, chunk=2560))
    assert code == 1000
    fault(where)
    bad, good = asyncio.run(side_by_side(srv.url, audio, chunk=2560))
    assert_failed_alone(bad, good, alone, logs, f"RuntimeError: injected bug in Session.{where}")


def test_a_bug_while_a_text_message_is_taken_fails_that_stream_only(
        srv: RunningServer, fault: Callable[[str], None], logs: Captured) -> None:
    alone, _ = asyncio.run(stream(srv.url + Q, AUDIO, chunk=3200))
    fault("receive_text")
    bad, good = asyncio.run(side_by_side(srv.url, AUDIO, ('{"type": "KeepAlive"}',), chunk=3200))
    assert_failed_alone(bad, good, alone, logs, "RuntimeError: injected bug in Session.receive_text")


def speech(shared: Path) -> bytes:
    """Real speech (PCM16, 16 kHz) with silence around it, so the turn ends before CloseStream."""
    with wave.open(str(shared / "data" / SPEECH)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (16000, 2, 1)
        clip = w.readframes(w.getnframes())
    return pcm16(quiet(0.5)) + clip + pcm16(quiet(2.0))


@pytest.mark.model
def test_a_crash_in_a_real_model_stream_fails_that_stream_only(
        real_server: RunningServer, shared: Path, fault: Callable[[str], None], logs: Captured) -> None:
    audio = speech(shared)
    # 80 ms of audio every 20 ms: 4x real time
    alone, code = asyncio.run(stream(real_server.url + Q, audio, chunk=2560, pace_s=0.02))
    assert code == 1000 and any(m.get("event") == "EndOfTurn" and m["transcript"] for m in alone)
    fault("step")
    bad, good = asyncio.run(side_by_side(real_server.url, audio, chunk=2560, pace_s=0.02))
    assert_failed_alone(bad, good, alone, logs, "IllegalTransition: injected")
