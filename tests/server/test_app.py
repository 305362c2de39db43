"""The WebSocket edge over a real socket (websockets client ↔ in-process server, fake engines)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

import pytest
import websockets
from helpers import pcm16, quiet, tone
from servertools import make_server, refused, stream
from websockets.exceptions import ConnectionClosed

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


def http_get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()






def test_health_and_ready(server):
    status, _, body = http_get(server.http + "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = http_get(server.http + "/readyz")
    assert status == 200 and json.loads(body)["engines"]["asr"] == "scripted"


def test_not_ready_until_models_load():
    srv = make_server(ready=False)
    try:
        assert http_get(srv.http + "/readyz")[0] == 503
        assert http_get(srv.http + "/healthz")[0] == 200
        status, headers, body = refused(srv.url + Q)
        assert status == 503 and body["err_code"] == "SERVICE_UNAVAILABLE" and headers["dg-error"]
    finally:
        srv.stop()


def test_bad_params_404_and_plain_http(server):
    status, headers, body = refused(server.url + Q + "&eot_threshold=2")
    assert status == 400 and "eot_threshold" in headers["dg-error"]
    assert body["err_msg"] == headers["dg-error"] and body["request_id"] == headers["dg-request-id"]
    status, headers, body = refused(server.url + "/v1/listen?model=nova-3")
    assert status == 404 and body["err_code"] == "NOT_FOUND"
    status, headers, _ = http_get(server.http + Q)
    assert status == 426 and headers["dg-error"]


def test_auth(keyed_server):
    url = keyed_server.url + Q
    for hdrs in ({}, {"Authorization": "Token nope"}, {"Authorization": "Basic k1"}, {"Authorization": "Token"}):
        status, headers, body = refused(url, additional_headers=hdrs)
        assert status == 401 and body["err_code"] == "INVALID_AUTH" and headers["dg-request-id"]
    for hdrs in ({"Authorization": "Token k1"}, {"Authorization": "bearer k2"}):
        msgs, code, _ = asyncio.run(stream(url, pcm16(quiet(0.3)), headers=hdrs))
        assert msgs[0]["type"] == "Connected" and code == 1000
    msgs, _, proto = asyncio.run(stream(url, subprotocols=["token", "k2", "x-deepgram-session-id", "abc"]))
    assert proto == "token" and msgs[0]["type"] == "Connected"
    assert refused(url, subprotocols=["token", "bad"])[0] == 401


def test_request_id_header_matches_messages(server):
    async def go():
        async with websockets.connect(server.url + Q) as ws:
            hdr = ws.response.headers["dg-request-id"]
            first = json.loads(await ws.recv())
            return hdr, first
    hdr, first = asyncio.run(go())
    assert first == {"type": "Connected", "request_id": hdr, "sequence_id": 0}


def test_full_turn_over_the_socket(server):
    msgs, code, _ = asyncio.run(stream(server.url + Q, pcm16(quiet(0.5), tone(1.3), quiet(2.0))))
    assert code == 1000
    assert [m["sequence_id"] for m in msgs] == list(range(len(msgs)))
    events = [m["event"] for m in msgs if m["type"] == "TurnInfo"]
    assert "StartOfTurn" in events and "EndOfTurn" in events and events[-1] == "Update"


def test_error_closes_1008_and_server_keeps_serving(server):
    msgs, code, _ = asyncio.run(stream(server.url + Q, messages=["[1,2]"], close=False))
    assert msgs[-1]["type"] == "Error" and msgs[-1]["code"] == "UNPARSABLE_CLIENT_MESSAGE" and code == 1008
    msgs, code, _ = asyncio.run(stream(server.url + Q, pcm16(quiet(0.5))))
    assert code == 1000 and msgs[0]["type"] == "Connected"


def test_idle_timeout_closes_1011(server):  # the fixture's idle timeout is 1 s
    async def go():
        async with websockets.connect(server.url + Q, ping_interval=None) as ws:
            msgs = []
            try:
                async for raw in ws:
                    msgs.append(json.loads(raw))
            except ConnectionClosed:
                pass
            return msgs, ws.close_code
    msgs, code = asyncio.run(asyncio.wait_for(go(), 10))
    assert msgs[-1]["type"] == "Error" and msgs[-1]["code"] == "IDLE_TIMEOUT" and code == 1011


def test_pings_keep_an_idle_stream_open(server):
    async def go():
        async with websockets.connect(server.url + Q, ping_interval=None) as ws:
            await ws.recv()
            for _ in range(6):  # 1.8 s > idle timeout, but a ping every 0.3 s
                await (await ws.ping())
                await asyncio.sleep(0.3)
            await ws.send('{"type": "CloseStream"}')
            msgs = [json.loads(m) async for m in ws]
            return msgs, ws.close_code
    msgs, code = asyncio.run(go())
    assert code == 1000 and not [m for m in msgs if m["type"] == "Error"]


def test_vanishing_client_does_not_disturb_another_stream(server):
    async def go():
        good = asyncio.create_task(stream(server.url + Q, pcm16(quiet(0.5), tone(1.3), quiet(2.0))))
        for _ in range(5):
            ws = await websockets.connect(server.url + Q)
            await ws.send(pcm16(tone(0.5)))
            ws.transport.abort()
        return await good
    msgs, code, _ = asyncio.run(go())
    assert code == 1000 and "EndOfTurn" in [m.get("event") for m in msgs]
    assert server.state.streams <= 1


def test_drain_flushes_open_streams_and_closes_1001():
    from turnscribe.server.app import drain

    srv = make_server()
    try:
        async def go():
            async with websockets.connect(srv.url + Q) as ws:
                await ws.send(pcm16(quiet(0.5), tone(1.0)))  # a turn is open, more audio may come
                msgs = [json.loads(await ws.recv())]
                while msgs[-1].get("audio_window_end", 0) < 1.4:
                    msgs.append(json.loads(await ws.recv()))
                fut = asyncio.wrap_future(asyncio.run_coroutine_threadsafe(drain(srv.state, 0.5), srv._loop))
                try:
                    async for raw in ws:
                        msgs.append(json.loads(raw))
                except ConnectionClosed:
                    pass
                await fut
                return msgs, ws.close_code
        msgs, code = asyncio.run(go())
        assert code == 1001
        events = [m["event"] for m in msgs if m["type"] == "TurnInfo"]
        assert "StartOfTurn" in events and events[-1] == "Update" and "EndOfTurn" not in events
        assert msgs[-1]["audio_window_end"] == pytest.approx(1.5, abs=0.01), "every sample was flushed"
        assert refused(srv.url + Q)[0] == 503, "no new streams while draining"
    finally:
        srv.stop()
