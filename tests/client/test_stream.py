"""The paced sender, the receiver and one whole stream, against real local ``websockets`` servers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from turnscribe.client.stream import StreamResult, stream
from turnscribe.runtime.driver import frames_of
from turnscribe.wire.messages import CLOSE_STREAM

RATE_BPS = 32000.0                # 16 kHz linear16
FRAME = 640                       # 20 ms of it

Handler = Callable[[ServerConnection], Awaitable[None]]


async def _serve(handler: Handler, **kw: Any) -> tuple[Server, str]:
    server = await serve(handler, "127.0.0.1", 0, **kw)
    port = next(iter(server.sockets)).getsockname()[1]
    return server, f"ws://127.0.0.1:{port}/v2/listen"


def _run(handler: Handler, frames: list[bytes], **kw: Any) -> StreamResult:
    async def go() -> StreamResult:
        server, url = await _serve(handler)
        try:
            return await stream(url, frames, bytes_per_second=RATE_BPS, **kw)
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(go())


def test_sender_keeps_the_real_time_schedule_and_the_receiver_times_each_message() -> None:
    frame_arrivals: list[float] = []

    async def echo_times(ws: ServerConnection) -> None:
        async for msg in ws:
            if isinstance(msg, bytes):
                frame_arrivals.append(time.monotonic())
                if len(frame_arrivals) in (1, 15):
                    await ws.send(json.dumps({"frame": len(frame_arrivals)}))
            elif msg == CLOSE_STREAM:
                await ws.send(b"\x00")
                await ws.close(1000)

    res = _run(echo_times, frames_of(bytes(30 * FRAME), FRAME))
    assert len(frame_arrivals) == 30 and res.sent.frames == 30 and res.sent.closed_stream
    assert res.sent.audio_s == pytest.approx(0.6)
    # frame k is due 20 ms * k after the first: never early, never far behind on an idle loop
    for k, t in enumerate(frame_arrivals):
        assert t - frame_arrivals[0] >= k * 0.02 - 0.005
    assert frame_arrivals[-1] - frame_arrivals[0] < 0.58 + 0.25
    assert len(res.sent.lateness_s) == 30 and res.sent.worst_lateness_s < 0.1
    # the receiver's clock is the sender's: the reply to frame 15 came about 0.28 s after frame 1's
    assert [a.message for a in res.arrivals] == ['{"frame": 1}', '{"frame": 15}', b"\x00"]
    assert res.sent.started_at is not None
    gap = res.arrivals[1].at - res.arrivals[0].at
    assert 0.27 <= gap < 0.28 + 0.25
    assert res.arrivals[0].at >= res.sent.started_at
    assert res.arrivals[2].document() is None and res.arrivals[1].document() == {"frame": 15}
    assert res.close_code == 1000 and res.normal_close and not res.close_timed_out


def test_sender_records_how_late_frames_went_out_when_the_client_falls_behind() -> None:
    async def sink(ws: ServerConnection) -> None:
        async for msg in ws:
            if msg == CLOSE_STREAM:
                await ws.close(1000)

    async def go() -> StreamResult:
        server, url = await _serve(sink)

        def frames() -> Any:
            for k in range(10):
                if k == 5:
                    time.sleep(0.2)  # a busy client: the event loop is blocked between frames 4 and 5
                yield bytes(FRAME)

        try:
            return await stream(url, frames(), bytes_per_second=RATE_BPS)
        finally:
            server.close()
            await server.wait_closed()

    res = asyncio.run(go())
    late = res.sent.lateness_s
    assert len(late) == 10 and max(late[:5]) < 0.05
    assert 0.17 <= late[5] < 0.35, "frame 5 was due 20 ms after frame 4 but went out ~0.2 s later"
    assert late[6] >= 0.14, "frames after it stay late: the schedule is absolute"
    assert res.sent.worst_lateness_s == late[5]


def test_unpaced_sender_does_not_wait() -> None:
    async def sink(ws: ServerConnection) -> None:
        async for msg in ws:
            if msg == CLOSE_STREAM:
                await ws.close(1000)

    seen: list[float] = []
    t = time.monotonic()
    res = _run(sink, frames_of(bytes(100 * FRAME), FRAME), realtime=False, on_sent=seen.append)
    assert time.monotonic() - t < 1.0, "2 s of audio as fast as the socket takes it"
    assert res.sent.lateness_s == [] and seen == [pytest.approx(0.02)] * 100 and res.normal_close


def test_sending_stops_when_the_server_closes_first() -> None:
    async def fail(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "Error", "code": "INTERNAL_SERVER_ERROR"}))
        await ws.close(1011)

    res = _run(fail, frames_of(bytes(50 * FRAME), FRAME))
    assert res.close_code == 1011 and not res.normal_close
    assert res.sent.frames < 10 and not res.sent.closed_stream
    assert [a.document() for a in res.arrivals] == [{"type": "Error", "code": "INTERNAL_SERVER_ERROR"}]


def test_a_draining_server_closes_with_1001_which_is_normal() -> None:
    async def drain(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close(1001)

    res = _run(drain, frames_of(bytes(5 * FRAME), FRAME))
    assert res.close_code == 1001 and res.normal_close


def test_a_server_that_never_closes_times_out() -> None:
    async def silent(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    res = _run(silent, frames_of(bytes(2 * FRAME), FRAME), close_timeout_s=0.3)
    assert res.close_timed_out and res.sent.closed_stream


def test_refusals_and_unreachable_servers_are_results_not_exceptions() -> None:
    def refuse(conn: ServerConnection, request: Request) -> Response:
        return Response(503, "Service Unavailable",
                        Headers({"dg-error": "Too many concurrent streams", "Content-Length": "0"}), b"")

    async def never(ws: ServerConnection) -> None:
        raise AssertionError("refused streams never open")

    async def go() -> tuple[StreamResult, StreamResult]:
        server, url = await _serve(never, process_request=refuse)
        try:
            refused = await stream(url, [bytes(FRAME)], bytes_per_second=RATE_BPS)
        finally:
            server.close()
            await server.wait_closed()
        unreachable = await stream(url, [bytes(FRAME)], bytes_per_second=RATE_BPS)  # the port is closed now
        return refused, unreachable

    refused, unreachable = asyncio.run(go())
    assert refused.refusal is not None and refused.refusal.status == 503
    assert refused.refusal.reason == "Too many concurrent streams" and refused.close_code is None
    assert refused.open_failure == "the server refused the stream: HTTP 503 Too many concurrent streams"
    assert isinstance(unreachable.connect_error, OSError) and unreachable.refusal is None
    assert unreachable.open_failure is not None and unreachable.open_failure.startswith("cannot connect to ws://")


def test_an_error_raised_by_the_frames_comes_out_of_the_stream() -> None:
    async def sink(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    def frames() -> Any:
        yield bytes(FRAME)
        raise RuntimeError("the file stopped decoding")

    with pytest.raises(RuntimeError, match="stopped decoding"):
        _run(sink, frames())
