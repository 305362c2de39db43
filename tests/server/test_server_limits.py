"""Every client limit (wire/limits.py), exceeded over a real socket: the exact wire response,
and the server goes on serving."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
import websockets
from helpers import pcm16, quiet, tone
from servertools import RunningServer, free_port, make_server, refused, stream
from websockets.exceptions import InvalidStatus

from turnscribe.core.session import Session
from turnscribe.engines.fake import ScriptedAsr, fake_engines
from turnscribe.server.config import Settings
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits, parse_limit

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"




def assert_refusal(got: tuple[int, dict[str, str], dict], status: int, err_code: str, text: str) -> None:
    code, headers, body = got
    assert code == status and body["err_code"] == err_code
    assert text in headers["dg-error"] and body["err_msg"] == headers["dg-error"]
    assert body["request_id"] == headers["dg-request-id"]


def still_serves(srv: RunningServer) -> None:
    msgs, code, _ = asyncio.run(stream(srv.url + Q, pcm16(tone(1.0), quiet(0.5))))
    assert msgs[0]["type"] == "Connected" and code == 1000


@pytest.fixture(scope="module")
def small() -> Iterator[RunningServer]:
    limits = Limits(max_query_bytes=400, max_text_frame_bytes=2000, max_binary_frame_bytes=8000)
    srv = make_server(limits=limits)
    yield srv
    srv.stop()


# ------------------------------------------------------------------ before the upgrade


def test_query_over_the_limit_is_414(small) -> None:
    long = "&".join(f"keyterm=term{i:03d}" for i in range(40))
    assert_refusal(refused(small.url + Q + "&" + long), 414, "URI_TOO_LONG", "the limit is 400")
    still_serves(small)


def test_default_query_limit_fits_every_keyterm_allowed(server) -> None:
    # 20 keyterms of 100 characters (the total budget) URL-encoded: past websockets' own 8 KiB
    # request-line limit had it not been raised for max_query_bytes
    terms = "&".join("keyterm=" + ("%C3%A9" * 100) for _ in range(20))
    assert len(Q + terms) > 8192
    msgs, code, _ = asyncio.run(stream(server.url + Q + "&" + terms, pcm16(quiet(0.3))))
    assert msgs[0]["type"] == "Connected" and code == 1000


def test_keyterm_over_100_characters_is_400(server) -> None:
    assert_refusal(refused(server.url + Q + "&keyterm=" + "a" * 101), 400, "Bad Request",
                   "at most 100 characters")
    msgs, _, _ = asyncio.run(stream(server.url + Q + "&keyterm=" + "a" * 100, pcm16(quiet(0.3))))
    assert msgs[0]["type"] == "Connected"


def test_keyterm_total_budget_is_400(server) -> None:
    terms = "&".join("keyterm=" + "b" * 80 + str(i) for i in range(30))  # 30 x 81 > 2000
    assert_refusal(refused(server.url + Q + "&" + terms), 400, "Bad Request", "2000 characters in all")


def test_keyterm_count_is_400(server) -> None:
    terms = "&".join(f"keyterm=k{i}" for i in range(101))
    assert_refusal(refused(server.url + Q + "&" + terms), 400, "Bad Request", "at most 100 keyterms")


def test_tag_count_and_length_are_400(server) -> None:
    tags = "&".join(f"tag=t{i}" for i in range(33))
    assert_refusal(refused(server.url + Q + "&" + tags), 400, "Bad Request", "at most 32 tags")
    assert_refusal(refused(server.url + Q + "&tag=" + "x" * 129), 400, "Bad Request", "128 characters")


def test_streams_per_key_is_429() -> None:
    srv = RunningServer(Settings(port=free_port(), api_keys=frozenset({"k1", "k2"}),
                                 limits=Limits(max_streams_per_key=1)))
    try:
        async def go() -> None:
            auth = {"Authorization": "Token k1"}
            async with websockets.connect(srv.url + Q, additional_headers=auth) as first:
                assert json.loads(await first.recv())["type"] == "Connected"
                with pytest.raises(InvalidStatus) as e:
                    await websockets.connect(srv.url + Q, additional_headers=auth)
                r = e.value.response
                body = json.loads(r.body)
                assert r.status_code == 429 and body["err_code"] == "TOO_MANY_REQUESTS"
                assert "limit per key" in r.headers["dg-error"]
                # another key is not held back by k1's streams
                async with websockets.connect(srv.url + Q, additional_headers={"Authorization": "Token k2"}) as other:
                    assert json.loads(await other.recv())["type"] == "Connected"
            for _ in range(50):  # the slot comes back once the first stream has closed
                if not srv.state.admitted_by_key:
                    break
                await asyncio.sleep(0.05)
            async with websockets.connect(srv.url + Q, additional_headers=auth) as again:
                assert json.loads(await again.recv())["type"] == "Connected"
        asyncio.run(go())
    finally:
        srv.stop()


# ------------------------------------------------------------------ after the upgrade


def test_configure_keyterm_over_the_limit_is_a_configure_failure(server) -> None:
    configure = json.dumps({"type": "Configure", "keyterms": ["c" * 101]})
    msgs, code, _ = asyncio.run(stream(server.url + Q, pcm16(tone(0.5)), [configure]))
    failure = next(m for m in msgs if m["type"] == "ConfigureFailure")
    assert "at most 100 characters" in failure["description"] and code == 1000


def test_text_frame_over_the_limit_is_error_1009(small) -> None:
    big = json.dumps({"type": "Configure", "keyterms": ["d" * 90] * 22})  # > 2000 bytes
    msgs, code, _ = asyncio.run(stream(small.url + Q, pcm16(tone(0.3)), [big], close=False))
    assert msgs[-1]["type"] == "Error" and msgs[-1]["code"] == "MESSAGE_TOO_LARGE" and code == 1009
    assert "2000" in msgs[-1]["description"]
    still_serves(small)


def test_binary_frame_over_the_limit_is_error_1009(small) -> None:
    msgs, code, _ = asyncio.run(stream(small.url + Q, bytes(9000), close=False, chunk=9000))
    assert msgs[-1]["type"] == "Error" and msgs[-1]["code"] == "MESSAGE_TOO_LARGE" and code == 1009
    # far past the limit the WebSocket library refuses the frame itself, still with 1009
    _, code, _ = asyncio.run(stream(small.url + Q, bytes(40000), close=False, chunk=40000))
    assert code == 1009
    still_serves(small)


class SlowAsr(ScriptedAsr):
    """The scripted ASR at a few times real time, so a fast client gets ahead of the decisions."""

    def transcribe(self, batch):
        time.sleep(0.03)
        return super().transcribe(batch)


def test_a_client_far_faster_than_real_time_is_throttled(monkeypatch) -> None:
    seen: list[float] = []
    receive = Session.receive_audio

    def watched(self, data: bytes) -> None:
        receive(self, data)
        seen.append(self.backlog_s)

    monkeypatch.setattr(Session, "receive_audio", watched)
    engines = dataclasses.replace(fake_engines(), asr=SlowAsr())
    srv = RunningServer(Settings(port=free_port(), limits=Limits(max_backlog_s=2.0)), engines=engines)
    try:
        audio = pcm16(*(part for _ in range(8) for part in (tone(2.0), quiet(1.0))))  # 24 s, at once
        msgs, code, _ = asyncio.run(stream(srv.url + Q, audio, chunk=3200))
        assert code == 1000 and msgs[-1]["audio_window_end"] == pytest.approx(24.0, abs=0.08)
        # never more than the limit plus the one 0.1 s frame read before the reader stopped (the
        # backlog counts whole 80 ms frames); unthrottled it reaches most of the 24 s
        assert max(seen) > 1.5 and max(seen) <= 2.0 + 0.1 + 0.08 + 1e-6
    finally:
        srv.stop()


def test_a_client_that_never_reads_is_closed() -> None:
    """Unit test of the writer: a send that never completes (the peer's buffers are full)."""
    from types import SimpleNamespace

    from turnscribe.server.connection import Stream

    class StuckSocket:
        request_id = "r"

        async def send(self, message: str) -> None:
            await asyncio.Event().wait()

    errors: list[str] = []
    fake = SimpleNamespace(ws=StuckSocket(), limits=Limits(max_send_wait_s=0.05), close_code=None,
                           state=SimpleNamespace(metrics=SimpleNamespace(stream_error=errors.append)))
    t0 = time.monotonic()
    assert asyncio.run(Stream.send(fake, "{}")) is False  # type: ignore[arg-type]
    assert time.monotonic() - t0 < 1.0 and fake.close_code == 1008 and errors == ["SLOW_CLIENT"]


# ------------------------------------------------------------------ settings


def test_limit_settings_parse_and_refuse_bad_ones() -> None:
    assert parse_limit("max_keyterm_chars=200") == ("max_keyterm_chars", 200)
    assert parse_limit("max-backlog-s=2.5") == ("max_backlog_s", 2.5)
    assert DEFAULT_LIMITS.with_settings(["max_tags=4"]).max_tags == 4
    for bad in ("max_tags", "nope=1", "max_tags=x", "max_tags=-1"):
        with pytest.raises(ValueError):
            parse_limit(bad)


def test_serve_refuses_a_bad_limit_flag(capsys) -> None:
    from turnscribe.cli import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--engine", "fake", "--limit", "max_frames=3"])
    assert e.value.code == 2 and "--limit takes NAME=VALUE" in capsys.readouterr().err



def test_a_half_open_connection_is_reaped_by_ping() -> None:
    srv = RunningServer(Settings(port=free_port(), ping_interval_s=0.3))
    try:
        async def go() -> None:
            ws = await websockets.connect(srv.url + Q, ping_interval=None)
            assert json.loads(await ws.recv())["type"] == "Connected"
            ws.transport.pause_reading()  # the peer is gone: nothing it is sent is read or answered
            for _ in range(60):
                await asyncio.sleep(0.1)
                if srv.state.streams == 0:
                    break
            ws.transport.abort()

        assert srv.state.streams == 0
        asyncio.run(go())
        assert srv.state.streams == 0, "the server closed the stream whose peer stopped answering pings"
    finally:
        srv.stop()
