"""An in-process turnscribe server on a free port, in a background thread (fake engines unless given)."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import websockets
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from turnscribe.config import Settings
from turnscribe.engines.fake import fake_engines
from turnscribe.server.app import AppState, start_server, start_work


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RunningServer:
    def __init__(self, settings: Settings, *, ready: bool = True, engines=None) -> None:
        self.state = AppState(settings=settings, executor=ThreadPoolExecutor(4))
        self._engines = (engines or fake_engines()) if ready else None
        self.url = f"ws://127.0.0.1:{settings.port}"
        self.http = f"http://127.0.0.1:{settings.port}"
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._started.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            if self._engines is not None:
                start_work(self.state, self._engines)
            self._server = await start_server(self.state)
            self._started.set()
            await self._server.wait_closed()

        self._loop.run_until_complete(main())

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._thread.join(10)
        if self.state.work is not None:
            self.state.work.close()
        self.state.executor.shutdown(wait=False)


def make_server(**kw) -> RunningServer:
    ready = kw.pop("ready", True)
    return RunningServer(Settings(port=free_port(), **kw), ready=ready)


async def stream(url, audio=b"", messages=(), *, close=True, headers=None, subprotocols=None, chunk=2560):
    """Send ``audio`` in ``chunk``-byte frames, then ``messages`` (and CloseStream unless ``close`` is
    False); return (every JSON message received, close code, negotiated subprotocol)."""
    out = []
    async with websockets.connect(url, additional_headers=headers, subprotocols=subprotocols) as ws:
        for off in range(0, len(audio), chunk):
            await ws.send(audio[off:off + chunk])
        for m in messages:
            await ws.send(m)
        if close:
            await ws.send('{"type": "CloseStream"}')
        try:
            async for raw in ws:
                out.append(json.loads(raw))
        except ConnectionClosed:
            pass
        return out, ws.close_code, ws.subprotocol
