"""Per-connection pump: socket → Session → socket. The only wall clock is the idle timeout.

Frames are handed to the session in order, one at a time, on the shared worker pool (the
session and its engines do CPU work); the events it returns are sent as text frames. The
one catch-all of the server lives here: anything unexpected becomes ``Error``
``INTERNAL_SERVER_ERROR`` + close 1011 for this stream only.
"""

from __future__ import annotations

import asyncio
import logging

from websockets.exceptions import ConnectionClosed

from turnscribe.errors import IdleTimeout, InternalError
from turnscribe.protocol.events import Error, WireEncoder
from turnscribe.protocol.session import Session
from turnscribe.server.app import AppState, FluxConnection

log = logging.getLogger("turnscribe.stream")

NORMAL_CLOSE = 1000
GOING_AWAY = 1001


async def _send_events(ws: FluxConnection, session: Session, encoder: WireEncoder) -> int | None:
    """Send what the session produced; returns the close code of an Error, if one was sent."""
    close_code = None
    for ev in session.events_to_send():
        await ws.send(encoder.encode(ev))
        if isinstance(ev, Error):
            close_code = ev.close_code
    return close_code


class Draining(Exception):
    """The server is shutting down: flush this stream and close it with 1001."""


async def _recv(ws: FluxConnection, idle_timeout: float, draining: asyncio.Event) -> str | bytes:
    """The next frame; raises ``IdleTimeout`` after ``idle_timeout`` s without any input (pings
    count) and ``Draining`` when the server starts shutting down."""
    loop = asyncio.get_running_loop()
    while True:
        if draining.is_set():
            raise Draining
        remaining = ws.last_activity + idle_timeout - loop.time()
        recv = asyncio.ensure_future(ws.recv())
        stop = asyncio.ensure_future(draining.wait())
        done, _ = await asyncio.wait({recv, stop}, timeout=max(remaining, 0.001),
                                     return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if recv in done:
            return recv.result()
        recv.cancel()  # websockets: cancelling recv() loses no data
        if not draining.is_set() and loop.time() - ws.last_activity >= idle_timeout:
            raise IdleTimeout(f"No audio or messages received for {idle_timeout:g} s.")


async def handle_stream(ws: FluxConnection, state: AppState) -> None:
    assert ws.params is not None and state.engines is not None
    loop = asyncio.get_running_loop()
    ws.last_activity = loop.time()
    rid = ws.request_id
    state.streams += 1
    log.info("stream %s opened (%s)", rid, ws.params.model)
    encoder = WireEncoder(rid)
    session: Session | None = None
    close_code: int | None = None
    try:
        session = await loop.run_in_executor(state.executor, Session, ws.params, state.engines)
        close_code = await _send_events(ws, session, encoder)
        while not session.closed:
            try:
                frame = await _recv(ws, state.settings.idle_timeout_s, state.draining)
            except IdleTimeout as exc:
                session.fail(exc)
                close_code = await _send_events(ws, session, encoder)
                break
            except Draining:
                await loop.run_in_executor(state.executor, session.receive_eof)
                close_code = await _send_events(ws, session, encoder) or GOING_AWAY
                break
            if isinstance(frame, bytes):
                await loop.run_in_executor(state.executor, session.receive_audio, frame)
            else:
                await loop.run_in_executor(state.executor, session.receive_text, frame)
            close_code = await _send_events(ws, session, encoder)
        await ws.close(close_code or NORMAL_CLOSE)
    except ConnectionClosed:
        log.info("stream %s: client went away", rid)
    except Exception:  # the one catch-all: this stream fails, the server and other streams go on
        log.exception("stream %s: internal error", rid)
        try:
            err = InternalError("Internal server error; the stream was closed.")
            await ws.send(encoder.encode(Error(err.code, str(err), err.close_code)))
            await ws.close(err.close_code)
        except ConnectionClosed:
            pass
    finally:
        state.streams -= 1
        log.info("stream %s closed", rid)
