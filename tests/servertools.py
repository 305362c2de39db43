"""An in-process turnscribe server on a free port, in a background thread (fake engines unless given)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from turnscribe.bench.server_process import server_command, wait_ready
from turnscribe.engines.fake import fake_engines
from turnscribe.server.app import start_server, start_work
from turnscribe.server.config import Settings
from turnscribe.server.state import AppState


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


def refused(url: str, **kw) -> tuple[int, dict, dict]:
    """A handshake the server refuses: (status, headers lower-cased, JSON body)."""
    async def go():
        with pytest.raises(InvalidStatus) as e:
            await websockets.connect(url, **kw)
        r = e.value.response
        return r.status_code, {k.lower(): v for k, v in r.headers.raw_items()}, json.loads(r.body)
    return asyncio.run(go())


@contextmanager
def serve_process(args: Sequence[str], log_path: Path, *, ready_s: float = 60.0) -> Iterator[tuple[subprocess.Popen, int]]:
    """A real ``turnscribe serve`` process on a free port (extra ``args``), ready; stopped after."""
    port = free_port()
    cmd = [*server_command(), "serve", "--port", str(port), *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", ready_s, proc, log_path)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


class Captured(logging.Handler):
    """Every record of the server's loggers (turnscribe.*), formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def usage(self, request_id: str, timeout_s: float = 5.0) -> dict[str, object]:
        """The usage record of a stream; it is written just after the close reaches the client."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith("INFO turnscribe.usage:") and request_id in line:
                    return dict(json.loads(line.split(" usage ", 1)[1]))
            time.sleep(0.02)
        raise AssertionError(f"no usage record for {request_id}")
