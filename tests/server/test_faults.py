"""Injected engine faults over real sockets: an engine call that raises or hangs fails that stream
with Error INTERNAL_SERVER_ERROR + 1011, and nothing else; /readyz says degraded while a call hangs."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request

from helpers import pcm16, quiet, tone
from servertools import RunningServer, free_port, stream

from turnscribe.engines.fake import EnergyVad, ScriptedAsr, ScriptedTurn
from turnscribe.server.config import Settings
from turnscribe.types.engine import Engines

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
AUDIO = pcm16(quiet(0.3), tone(1.25), quiet(1.5), tone(1.0), quiet(1.0))


class FaultyAsr(ScriptedAsr):
    """Raises for a stream whose keyterms hold "Boom"; hangs (until released) for "Hang"."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def transcribe(self, batch):
        keyterms = {k for r in batch for k in r.keyterms}
        if "Boom" in keyterms:
            raise RuntimeError("injected engine failure")
        if "Hang" in keyterms:
            self.release.wait(30)
        return super().transcribe(batch)


def faulty_server(**settings) -> tuple[RunningServer, FaultyAsr]:
    asr = FaultyAsr()
    engines = Engines(vad=EnergyVad(), asr=asr, turn=ScriptedTurn(),
                      names={"vad": "energy", "asr": "faulty", "turn": "scripted"})
    return RunningServer(Settings(port=free_port(), **settings), engines=engines), asr


def get_json(srv: RunningServer, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(srv.http + path, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def ready(srv: RunningServer) -> tuple[int, dict]:
    return get_json(srv, "/readyz")


def health(srv: RunningServer) -> tuple[int, dict]:
    return get_json(srv, "/healthz")


def turns(msgs: list[dict]) -> list[tuple[str, str]]:
    return [(m["event"], m["transcript"]) for m in msgs if m["type"] == "TurnInfo"]


async def side_by_side(url: str, bad_keyterm: str) -> tuple[tuple, tuple]:
    bad = stream(url + Q + "&keyterm=" + bad_keyterm, AUDIO, chunk=len(AUDIO))
    good = stream(url + Q, AUDIO, chunk=3200)
    return tuple(await asyncio.gather(bad, good))


def test_an_engine_that_raises_fails_that_stream_only() -> None:
    srv, _ = faulty_server()
    try:
        alone, code, _ = asyncio.run(stream(srv.url + Q, AUDIO, chunk=3200))
        assert code == 1000 and any(e == "EndOfTurn" for e, _ in turns(alone))
        (bad, bad_code, _), (good, good_code, _) = asyncio.run(side_by_side(srv.url, "Boom"))
        assert bad[-1]["type"] == "Error" and bad[-1]["code"] == "INTERNAL_SERVER_ERROR" and bad_code == 1011
        assert "injected" not in bad[-1]["description"], "no internals on the wire"
        assert good_code == 1000 and turns(good) == turns(alone), "the other stream is not disturbed"
        assert ready(srv)[0] == 200
    finally:
        srv.stop()


def test_an_engine_that_hangs_fails_that_stream_and_the_server_recovers() -> None:
    srv, asr = faulty_server(engine_timeout_s=1.0, unhealthy_after_stall_s=2.0)
    try:
        t0 = time.monotonic()
        bad, code, _ = asyncio.run(stream(srv.url + Q + "&keyterm=Hang", AUDIO, chunk=len(AUDIO)))
        assert bad[-1]["type"] == "Error" and bad[-1]["code"] == "INTERNAL_SERVER_ERROR" and code == 1011
        assert time.monotonic() - t0 < 15
        status, doc = ready(srv)
        assert status == 503 and doc["status"] == "degraded" and doc["stalled_engine_calls"] >= 1
        good, code, _ = asyncio.run(stream(srv.url + Q, AUDIO, chunk=3200))  # a new worker serves it
        assert code == 1000 and any(e == "EndOfTurn" for e, _ in turns(good))
        assert health(srv)[0] == 200, "alive while the hang is younger than unhealthy_after_stall_s"
        time.sleep(max(0.0, t0 + 3.2 - time.monotonic()))  # the hang is now older than 2 s
        status, doc = health(srv)
        assert status == 503 and doc["status"] == "stalled" and doc["stalled_s"] > 2.0
        asr.release.set()
        for _ in range(100):
            if ready(srv)[0] == 200:
                break
            time.sleep(0.05)
        assert ready(srv)[0] == 200, "ready again once the hung call returned"
        assert health(srv) == (200, {"status": "ok"})
    finally:
        asr.release.set()
        srv.stop()
