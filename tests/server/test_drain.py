"""Rolling updates: on SIGTERM the server refuses new streams, keeps serving live ones to a turn
boundary, flushes every sample it read like CloseStream, closes 1001 and exits 0."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets
from helpers import pcm16, quiet, tone
from servertools import make_server, serve_process
from websockets.exceptions import ConnectionClosed, InvalidStatus

from turnscribe.core.session import Session
from turnscribe.server.app import drain

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
FRAME = 3200  # 100 ms of 16 kHz linear16


async def speak_through_drain(url: str, audio: bytes, start_drain, *, drain_after_s: float) -> tuple[list[dict], int | None, int]:
    """Stream ``audio`` at real time, start the drain ``drain_after_s`` in, keep sending until the
    server closes; return (messages, close code, bytes sent)."""
    msgs: list[dict] = []
    sent = 0
    async with websockets.connect(url) as ws:
        async def read() -> None:
            try:
                async for raw in ws:
                    msgs.append(json.loads(raw))
            except ConnectionClosed:
                pass

        reader = asyncio.create_task(read())
        drained = None
        for off in range(0, len(audio), FRAME):
            if drained is None and off >= drain_after_s * 32000:
                drained = start_drain()
            try:
                await ws.send(audio[off:off + FRAME])
            except ConnectionClosed:
                break
            sent += len(audio[off:off + FRAME])
            await asyncio.sleep(0.1)
        await reader
        if drained is not None:
            await drained
        return msgs, ws.close_code, sent


def test_a_speaking_stream_finishes_its_turn_before_the_drain_closes_it(monkeypatch) -> None:
    taken: list[int] = []  # bytes of audio the session was handed
    receive_audio = Session.receive_audio

    def watched(self: Session, data: bytes) -> None:
        taken.append(len(data))
        receive_audio(self, data)

    monkeypatch.setattr(Session, "receive_audio", watched)
    srv = make_server()
    try:
        def start_drain():
            return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(drain(srv.state, 10), srv._loop))

        # speech starts before the drain and goes on after it; then the speaker stops
        audio = pcm16(quiet(0.3), tone(1.25), quiet(3.0))
        msgs, code, _ = asyncio.run(speak_through_drain(srv.url + Q, audio, start_drain, drain_after_s=0.8))
        events = [m["event"] for m in msgs if m["type"] == "TurnInfo"]
        assert code == 1001
        assert "StartOfTurn" in events and "EndOfTurn" in events, "the turn was served to its end"
        assert events[-1] == "Update" and events.index("EndOfTurn") < len(events) - 1
        # the last message answers every sample the server read, to the sample (ms on the wire)
        assert msgs[-1]["audio_window_end"] == pytest.approx(sum(taken) / 32000, abs=5e-4)
        assert sum(taken) < len(audio) * 0.8, "closed at the turn boundary, not at the end of the audio"
    finally:
        srv.stop()


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


@pytest.mark.timeout(120)
def test_sigterm_drains_and_exits_0(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve_process(["--engine", "fake", "--drain-timeout", "20"], log_path) as (proc, port):
        base = f"http://127.0.0.1:{port}"
        url = f"ws://127.0.0.1:{port}" + Q
        checks: dict[str, int] = {}

        async def sigterm_and_check():
            proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            checks["readyz"] = await asyncio.to_thread(http_status, base + "/readyz")
            with pytest.raises(InvalidStatus) as e:
                await websockets.connect(url)
            checks["new_stream"] = e.value.response.status_code

        def start_drain():
            return asyncio.ensure_future(sigterm_and_check())

        audio = pcm16(quiet(0.3), tone(1.25), quiet(3.0))
        msgs, code, _ = asyncio.run(speak_through_drain(url, audio, start_drain, drain_after_s=0.8))
        events = [m["event"] for m in msgs if m["type"] == "TurnInfo"]
        assert checks == {"readyz": 503, "new_stream": 503}
        assert code == 1001 and "EndOfTurn" in events and events[-1] == "Update"
        assert proc.wait(30) == 0, log_path.read_text()
