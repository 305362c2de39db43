"""Admission control, readiness with limits, the lag limit, and a stream's events not depending on
the other streams sharing the scheduler (real sockets, in-process server, fake engines)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from helpers import speech_like
from servertools import make_server, stream


def readyz(http: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(http + "/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def test_streams_beyond_the_limit_are_refused_with_503_and_readyz_shows_the_limit():
    srv = make_server(max_streams=2)
    try:
        status, doc = readyz(srv.http)
        assert status == 200 and doc["max_streams"] == 2 and doc["streams"] == 0

        async def main():
            url = srv.url + "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
            a = await websockets.connect(url)
            b = await websockets.connect(url)
            status_full, doc_full = await asyncio.to_thread(readyz, srv.http)
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(url)
            resp = refused.value.response
            await a.close()
            await b.close()
            for _ in range(100):  # the slots are released once the connections are closed
                if (await asyncio.to_thread(readyz, srv.http))[0] == 200:
                    break
                await asyncio.sleep(0.02)
            c = await websockets.connect(url)  # admitted again
            await c.close()
            return status_full, doc_full, resp

        status_full, doc_full, resp = asyncio.run(main())
        assert status_full == 503 and doc_full["status"] == "full" and doc_full["streams"] == 2
        assert resp.status_code == 503
        assert resp.headers["dg-error"] and resp.headers["dg-request-id"]
        assert json.loads(resp.body)["err_code"] == "SERVICE_UNAVAILABLE"
    finally:
        srv.stop()


def test_admission_counts_what_a_stream_costs_a_multilingual_one_weighs_more():
    """The budget is compute: with room for 4 English streams, a multilingual one (weight 3) and
    one English stream fill it; a second multilingual one is refused while English still fits."""
    srv = make_server(max_streams=4, multi_stream_weight=3.0)  # (not the default weight: round numbers)
    try:
        async def main():
            base = srv.url + "/v2/listen?encoding=linear16&sample_rate=16000&model="
            multi = await websockets.connect(base + "flux-general-multi")
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(base + "flux-general-multi")  # 3 + 3 > 4
            en = await websockets.connect(base + "flux-general-en")  # 3 + 1 = 4
            doc = (await asyncio.to_thread(readyz, srv.http))[1]
            with pytest.raises(websockets.exceptions.InvalidStatus):
                await websockets.connect(base + "flux-general-en")
            await multi.close()
            for _ in range(100):  # its weight is released once it is closed
                if (await asyncio.to_thread(readyz, srv.http))[1]["load"] == 1.0:
                    break
                await asyncio.sleep(0.02)
            again = await websockets.connect(base + "flux-general-multi")
            await again.close()
            await en.close()
            return refused.value.response, doc

        resp, doc = asyncio.run(main())
        assert resp.status_code == 503 and "weighs 3" in json.loads(resp.body)["err_msg"]
        assert doc["status"] == "full" and doc["streams"] == 2 and doc["load"] == 4.0
    finally:
        srv.stop()


def test_a_stream_gives_identical_events_alone_and_among_eight_others():
    """Results must not depend on which other streams shared a batch (fake engines are exact)."""
    srv = make_server(max_streams=0)
    url = srv.url + "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
    mine = speech_like(12.0, seed=1)

    def strip(msgs):
        return [{k: v for k, v in m.items() if k not in ("request_id",)} for m in msgs]

    async def crowd():
        others = [stream(url, speech_like(12.0, seed=10 + i), chunk=640) for i in range(8)]
        results = await asyncio.gather(stream(url, mine, chunk=640), *others)
        return results[0]

    try:
        alone, code_alone, _ = asyncio.run(stream(url, mine, chunk=640))
        among, code_among, _ = asyncio.run(crowd())
    finally:
        srv.stop()
    assert code_alone == code_among == 1000
    events = [m.get("event") for m in alone if m.get("type") == "TurnInfo"]
    assert "EndOfTurn" in events and "StartOfTurn" in events
    assert strip(alone) == strip(among)


def test_a_stream_that_falls_too_far_behind_gets_an_error_not_silent_lag():
    srv = make_server(max_lag_s=0.3)
    srv.state.work._pool._runner = _slow(srv.state.work._pool._runner)
    audio = speech_like(4.0, seed=3)

    async def realtime():
        out = []
        async with websockets.connect(srv.url + "/v2/listen?model=flux-general-en&encoding=linear16"
                                      "&sample_rate=16000") as ws:
            for off in range(0, len(audio), 640):  # 20 ms frames at real time
                try:
                    await ws.send(audio[off:off + 640])
                except websockets.exceptions.ConnectionClosed:
                    break
                await asyncio.sleep(0.02)
            try:
                async for raw in ws:
                    out.append(json.loads(raw))
            except websockets.exceptions.ConnectionClosed:
                pass
            return out, ws.close_code

    try:
        msgs, code = asyncio.run(realtime())
    finally:
        srv.stop()
    errors = [m for m in msgs if m["type"] == "Error"]
    assert errors and errors[-1]["code"] == "SERVICE_UNAVAILABLE" and "behind real time" in errors[-1]["description"]
    assert msgs[-1]["type"] == "Error" and code == 1011


def test_a_client_sending_faster_than_real_time_is_not_lagging():
    """A burst (a file uploaded at once) leaves audio waiting, but nothing is behind real time."""
    srv = make_server(max_lag_s=0.3)
    try:
        msgs, code, _ = asyncio.run(stream(srv.url + "/v2/listen?model=flux-general-en&encoding=linear16"
                                           "&sample_rate=16000", speech_like(20.0, seed=4), chunk=64000))
    finally:
        srv.stop()
    assert code == 1000 and not [m for m in msgs if m["type"] == "Error"]
    assert msgs[-1]["audio_window_end"] == pytest.approx(20.0, abs=0.01)


def _slow(runner):
    import time

    def run(batch):
        time.sleep(0.5)  # every engine call is slow: the stream's decisions fall behind its audio
        return runner(batch)

    return run
