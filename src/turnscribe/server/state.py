"""What the server's connections share (``AppState``) and the connection type they are served on."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame
from websockets.http11 import Request, Response

from turnscribe.runtime.lanes import Work
from turnscribe.runtime.metrics import Metrics
from turnscribe.server.config import Settings
from turnscribe.types.engine import Engines
from turnscribe.wire.params import ListenParams


@dataclass
class AppState:
    """Everything the connections share: settings, engines (once loaded), the worker pool."""

    settings: Settings
    executor: ThreadPoolExecutor
    engines: Engines | None = None
    load_error: str | None = None
    streams: int = 0                 # streams being served
    stream_ended: asyncio.Event = field(default_factory=asyncio.Event)  # set as each one ends (drain)
    admitted: int = 0                # handshakes accepted and not yet closed (admission control)
    load: float = 0.0                # their weight against max_streams (Settings.stream_weight)
    admitted_by_key: Counter[str] = field(default_factory=Counter)  # the same, per API key
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    drain_deadline: float = float("inf")  # loop time by which draining streams are closed regardless
    metrics: Metrics = field(default_factory=Metrics)
    work: Work | None = None         # where sessions' engine work runs (set once engines are loaded)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)  # background tasks kept alive

    @property
    def ready(self) -> bool:
        return self.engines is not None and self.work is not None

    def fits(self, weight: float) -> bool:
        """A stream of this weight can be admitted without going past the compute budget."""
        budget = self.settings.max_streams
        return budget <= 0 or self.load + weight <= budget + 1e-9

    @property
    def full(self) -> bool:
        """Not even a flux-general-en stream fits."""
        return not self.fits(1.0)

    def liveness(self) -> tuple[int, dict[str, object]]:
        """/healthz: 200 while the process can still recover by itself; 503 once an engine call has
        hung past ``unhealthy_after_stall_s`` (its thread cannot be freed: the orchestrator should
        restart the process)."""
        limit = self.settings.unhealthy_after_stall_s
        stall = self.work.longest_stall_s() if self.work is not None else 0.0
        if limit and stall > limit:
            return 503, {"status": "stalled", "stalled_s": round(stall, 1), "limit_s": limit}
        return 200, {"status": "ok"}

    def readiness(self) -> tuple[int, dict[str, object]]:
        """/readyz: 200 while streams can be admitted; 503 while loading, failed, full or draining."""
        limits = {"streams": self.admitted, "load": round(self.load, 3), "max_streams": self.settings.max_streams,
                  "max_lag_s": self.settings.max_lag_s, "scheduler": self.settings.scheduler}
        if not self.ready:
            return 503, {"status": "loading" if self.load_error is None else "failed",
                         "error": self.load_error, **limits}
        if self.draining.is_set():
            return 503, {"status": "draining", **limits}
        stalled = self.work.stalled if self.work is not None else 0
        if stalled:  # an engine call hung: this replica should take no new streams until it returns
            return 503, {"status": "degraded", "stalled_engine_calls": stalled, **limits}
        engines = self.engines.names if self.engines else {}
        return (503 if self.full else 200), {"status": "full" if self.full else "ready", "engines": engines,
                                              **limits}


class FluxConnection(ServerConnection):
    """A server connection that also remembers when the peer last sent anything (pings included)."""

    request_id: str = ""
    params: ListenParams | None = None
    last_activity: float = 0.0
    # redact_usage asked for at any point of this connection (query or Configure): its log lines
    # leave client text out from then on, to the end (server/redaction.py)
    redact_logs: bool = False

    def process_event(self, event: Request | Response | Frame) -> None:
        self.last_activity = self.loop.time()
        super().process_event(event)
