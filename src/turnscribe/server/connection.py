"""Per-connection pump: socket → Session → engine work → Session → socket.

Three things run per stream: the *reader* (socket frames into the session; the idle timeout and
the lag limit, the only wall-clock rules), the *writer* (session events out as JSON text frames,
woken whenever the session may have produced some) and the engine work the session asks for,
which runs wherever ``AppState.work`` sends it (the shared scheduler, or inline) and comes back
on the event loop as ``Session.deliver``. Nothing here waits on a model.

Anything unexpected becomes ``Error`` ``INTERNAL_SERVER_ERROR`` + close 1011 for this stream
only, logged with its traceback and request id, never a silent or normal close. Two places see to
it: every call into the session goes through ``Stream.guard`` (``deliver`` runs as an event-loop
callback, outside the stream's tasks, where an exception would only be printed by asyncio and the
stream left to hang or close 1000), and ``handle_stream``'s catch-all takes what the stream's tasks
raise themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from websockets.exceptions import ConnectionClosed

from turnscribe.core.session import Session
from turnscribe.core.work import EngineResult
from turnscribe.errors import IdleTimeout, InternalError, Overloaded
from turnscribe.runtime.lanes import Work
from turnscribe.runtime.scheduler import LaneFull
from turnscribe.server.logs import REQUEST_ID
from turnscribe.server.records import log_closed, log_usage
from turnscribe.server.redaction import frame_asks_redaction, redacted_log
from turnscribe.server.state import AppState, FluxConnection
from turnscribe.wire.events import Error, TurnEvent, TurnInfo, WireEncoder

log = logging.getLogger("turnscribe.stream")

QUEUED_QUIET_S = 0.1  # draining: frames already sent are taken until none comes for this long ...
QUEUED_MAX_S = 0.5    # ... or for at most this long (a live client sends without end)
NORMAL_CLOSE = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
INTERNAL = "Internal server error; the stream was closed."  # all the client learns of a bug


class Draining(Exception):
    """The server is shutting down: flush this stream and close it with 1001."""


class ArrivalLog:
    """When each stretch of stream audio arrived (wall clock), to measure how late an event is:
    lag = time sent − time the audio up to its ``audio_window_end`` had arrived."""

    def __init__(self) -> None:
        self._marks: deque[tuple[float, float]] = deque()  # (stream seconds received, wall time)
        self._last: tuple[float, float] | None = None

    def received(self, stream_s: float, wall: float) -> None:
        self._marks.append((stream_s, wall))

    def arrival(self, stream_s: float) -> float | None:
        """Wall time at which the stream had received ``stream_s`` seconds (queries must not go
        back in time: events' ``audio_window_end`` never does)."""
        while self._marks and self._marks[0][0] < stream_s - 1e-6:
            self._last = self._marks.popleft()
        if self._marks:
            return self._marks[0][1]
        return self._last[1] if self._last is not None else None


class Receiver:
    """The next frame of a connection, with the idle timeout, and a way to stop waiting for it.

    ``recv`` raises ``IdleTimeout`` after ``idle_timeout`` s without any input (pings count) and
    ``Draining`` once ``leave()`` was called (the server is draining and this stream may go). One
    timer per frame and no task: racing ``recv()`` against the drain event in two new tasks at every
    20 ms frame was a large share of the event loop's CPU per stream. ``leave()`` moves the timer
    to now; websockets' ``recv()`` loses no data when cancelled."""

    def __init__(self, ws: FluxConnection, idle_timeout: float) -> None:
        self.ws, self.idle_timeout = ws, idle_timeout
        self.leaving = False
        self._timer: asyncio.Timeout | None = None  # the wait for the current frame

    def leave(self) -> None:
        self.leaving = True
        if self._timer is not None and not self._timer.expired():
            self._timer.reschedule(asyncio.get_running_loop().time())

    async def recv(self) -> str | bytes:
        loop = asyncio.get_running_loop()
        while True:
            if self.leaving:
                raise Draining
            deadline = max(self.ws.last_activity + self.idle_timeout, loop.time() + 0.001)
            try:
                async with asyncio.timeout_at(deadline) as self._timer:
                    frame = await self.ws.recv()
            except TimeoutError:
                if not self.leaving and loop.time() - self.ws.last_activity >= self.idle_timeout:
                    raise IdleTimeout(f"No audio or messages received for {self.idle_timeout:g} s.") from None
                continue  # a ping moved the deadline, or leave() was called
            finally:
                self._timer = None
            assert isinstance(frame, (str, bytes))
            return frame


class Stream:
    def __init__(self, ws: FluxConnection, state: AppState, work: Work) -> None:
        assert ws.params is not None and state.engines is not None
        self.ws, self.state, self.work = ws, state, work
        self.loop = asyncio.get_running_loop()
        vad = state.engines.vad
        self.limits = state.settings.limits
        self.session = Session(ws.params, vad_state=vad.new_state(), vad_chunk=vad.chunk_samples,
                               stream_id=ws.request_id, limits=self.limits)
        self.encoder = WireEncoder(ws.request_id)
        self.arrivals = ArrivalLog()
        self.wake = asyncio.Event()
        self.progress = asyncio.Event()  # the session took engine results (its backlog may be shorter)
        self.receiver = Receiver(ws, state.settings.idle_timeout_s)  # left when draining reaches a turn boundary
        self.close_code: int | None = None
        self.going_away = False
        self.first_audio: float | None = None  # wall time the first audio arrived
        self.failure_logged = False  # the session's own ``failure`` (a bug in its step) was logged
        self.unfailable: BaseException | None = None  # the session could not even record a failure
        self.crashed = False  # a call into the session raised: it is not called again (its Error is out)

    # ------------------------------------------------------------------ failures

    @contextmanager
    def guard(self, where: str) -> Iterator[None]:
        """Wrap every call into the session: an exception becomes this stream's Error
        ``INTERNAL_SERVER_ERROR`` + 1011 (``crash``) instead of escaping; a bug the session caught
        itself (``session.failure``, already its Error) is logged here, once."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001 - any bug: this stream fails, the rest go on
            self.crash(where, exc)
        failure = self.session.failure
        if failure is not None and not self.failure_logged:
            self.failure_logged = True
            self.log_internal("the session's step", failure)

    def crash(self, where: str, exc: BaseException) -> None:
        self.crashed = True
        self.log_internal(where, exc)
        try:
            self.session.fail(InternalError(INTERNAL))
        except Exception as again:  # noqa: BLE001 - then the writer raises it to the catch-all
            self.unfailable = again
        self.wake.set()
        self.progress.set()

    def log_internal(self, where: str, exc: BaseException) -> None:
        # with the request id as a field too: ``deliver`` runs outside the stream's task context
        rid = self.ws.request_id
        redacted_log(log.error, self.ws.redact_logs, "stream %s: internal error in %s", rid, where,
                     exc=exc, extra={"request_id": rid})

    # ------------------------------------------------------------------ session plumbing

    def behind_s(self) -> float:
        """How far the decisions are behind real time: the audio waiting to be decided on, but no
        more than the wall time since the first audio allows (a client may send faster than real
        time; that is not lag)."""
        if self.first_audio is None:
            return 0.0
        s = self.session
        return min(s.backlog_s, self.loop.time() - self.first_audio - s.now)

    def note_redaction(self) -> None:
        """A Configure the session applied may have turned redact_usage on: from now on this
        stream's logs leave client text out (sticky: server/redaction.py says why)."""
        if self.session.params.redact_usage:
            self.ws.redact_logs = True

    def pump(self) -> None:
        """Send the session's new engine work off, enforce the lag limit, wake the writer."""
        if self.crashed:  # a session that raised once may raise again: its one Error is already queued
            return
        with self.guard("pump"):
            self.submit_work()
        self.progress.set()
        if self.session.has_events or self.session.closed:  # (most frames make no event: no writer step)
            self.wake.set()

    def submit_work(self) -> None:
        self.note_redaction()  # before the writer may send (and the library log) a ConfigureSuccess
        limit = self.state.settings.max_lag_s
        if limit > 0 and not self.session.closed and (behind := self.behind_s()) > limit:
            log.warning("stream %s fell %.1f s behind real time (--max-lag %g s): closing it",
                        self.ws.request_id, behind, limit)
            self.session.fail(Overloaded(f"The stream fell {behind:.1f} s behind real time (limit "
                                         f"{limit:g} s); the server is overloaded."))
        abandoned = self.session.take_abandoned()
        if abandoned:
            self.work.cancel(self.ws.request_id, abandoned)
        work = self.session.pending_work()
        if work:
            try:
                self.work.submit(work, self.deliver)
            except LaneFull:
                log.warning("stream %s: engine queue full: closing it", self.ws.request_id)
                self.session.fail(Overloaded("The server is overloaded; the stream was closed."))

    def deliver(self, result: EngineResult | BaseException) -> None:
        """An engine result (or failure), on the event loop; never raises (``guard``)."""
        if self.crashed:  # a late answer for a stream that failed
            return
        with self.guard("deliver"):
            if isinstance(result, BaseException):
                redacted_log(log.error, self.ws.redact_logs, "stream %s: engine failure",
                             self.ws.request_id, exc=result)
                self.session.fail(InternalError(INTERNAL))
            else:
                self.session.deliver(result)
        self.pump()

    # ------------------------------------------------------------------ the two tasks

    async def read(self) -> None:
        s = self.session
        while not s.closed:
            try:
                frame = await self.receiver.recv()
            except IdleTimeout as exc:
                with self.guard("fail"):
                    s.fail(exc)
                self.pump()
                return
            except Draining:
                await self.take_queued()
                self.going_away = True
                with self.guard("receive_eof"):
                    s.receive_eof()  # every sample read is flushed like CloseStream, then close 1001
                self.pump()
                return
            await self.take(frame)
            if s.input_ended:
                return  # the writer closes the connection once the flush is done

    async def take(self, frame: str | bytes) -> None:
        """Hand one frame to the session."""
        s, metrics = self.session, self.state.metrics
        if isinstance(frame, bytes):
            before = s.received_s
            with self.guard("receive_audio"):
                s.receive_audio(frame)
            got = s.received_s - before
            if got > 0:
                metrics.add_audio(got)
                self.arrivals.received(s.received_s, self.loop.time())
                if self.first_audio is None:
                    self.first_audio = self.loop.time()
            self.pump()
            await self.throttle()
            return
        if frame_asks_redaction(frame):  # before the session applies it, perhaps much later
            self.ws.redact_logs = True
        with self.guard("receive_text"):
            s.receive_text(frame)
        self.pump()

    async def take_queued(self) -> None:
        """Before a draining server closes the stream: take the frames the client has already sent
        (until none comes for ``QUEUED_QUIET_S``, at most ``QUEUED_MAX_S``), so they are answered."""
        end = self.loop.time() + QUEUED_MAX_S
        while not self.session.input_ended and (left := end - self.loop.time()) > 0:
            try:
                frame = await asyncio.wait_for(self.ws.recv(), timeout=min(QUEUED_QUIET_S, left))
            except (TimeoutError, ConnectionClosed):
                return
            assert isinstance(frame, (str, bytes))
            await self.take(frame)

    async def leave_at_turn_boundary(self) -> None:
        """While the server drains, the stream is served until no turn is open (or the drain
        deadline passes); then the reader stops taking new audio."""
        await self.state.draining.wait()
        s = self.session
        while not s.closed and not self.at_turn_boundary() and self.loop.time() < self.state.drain_deadline:
            self.progress.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.progress.wait(), timeout=0.1)
        self.receiver.leave()

    def at_turn_boundary(self) -> bool:
        with self.guard("at_turn_boundary"):  # (this task's exceptions would go unseen)
            return self.session.at_turn_boundary()
        return True  # it crashed: the stream is closed, nothing to wait for

    async def throttle(self) -> None:
        """A client far ahead of the decisions (faster than real time) is not read from until the
        server has caught up: TCP then slows it down, and its audio is never buffered without bound."""
        s = self.session
        while not s.closed and s.backlog_s > self.limits.max_backlog_s:
            self.progress.clear()
            await self.progress.wait()
        self.ws.last_activity = self.loop.time()  # time spent not reading is not the client's idleness

    async def send(self, message: str) -> bool:
        """Send one message; False when the client has not taken it within ``max_send_wait_s``
        (it does not read its socket: the stream is closed rather than let messages pile up)."""
        try:
            await asyncio.wait_for(self.ws.send(message), timeout=self.limits.max_send_wait_s)
        except TimeoutError:
            log.warning("stream %s: the client has not read for %g s: closing it", self.ws.request_id,
                        self.limits.max_send_wait_s)
            self.close_code = POLICY_VIOLATION
            self.state.metrics.stream_error("SLOW_CLIENT")
            return False
        return True

    async def write(self) -> None:
        metrics = self.state.metrics
        while True:
            await self.wake.wait()
            self.wake.clear()
            # events the session made while a send was waiting go out before the closed check
            while events := self.session.events_to_send():
                for ev in events:
                    if not await self.send(self.encoder.encode(ev)):
                        return
                    if isinstance(ev, TurnInfo):
                        arrived = self.arrivals.arrival(ev.audio_window_end)
                        if arrived is not None:
                            metrics.observe_update_lag(self.loop.time() - arrived,
                                                       end_of_turn=ev.event is TurnEvent.END_OF_TURN)
                        if ev.event is TurnEvent.UPDATE and ev.words:
                            metrics.observe_word_age(ev.audio_window_end - max(w.end for w in ev.words))
                    elif isinstance(ev, Error):
                        self.close_code = ev.close_code
                        metrics.stream_error(ev.code)
            if self.unfailable is not None:
                raise self.unfailable  # no Error from the session: handle_stream's catch-all sends it
            if self.session.closed:
                return

    async def run(self) -> None:
        self.pump()  # Connected
        reader = asyncio.ensure_future(self.read())
        writer = asyncio.ensure_future(self.write())
        watcher = asyncio.ensure_future(self.leave_at_turn_boundary())
        try:
            done, _ = await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()  # a closed socket raises here
                await writer
            else:
                writer.result()
        finally:
            reader.cancel()
            writer.cancel()
            watcher.cancel()
            self.work.cancel(self.ws.request_id)
        default = GOING_AWAY if self.going_away else NORMAL_CLOSE
        await self.ws.close(self.close_code or default)


async def handle_stream(ws: FluxConnection, state: AppState) -> None:
    assert ws.params is not None and state.work is not None
    loop = asyncio.get_running_loop()
    ws.last_activity = opened = loop.time()
    rid = ws.request_id
    REQUEST_ID.set(rid)  # this task's context: every line the stream logs carries its id (JSON logs)
    state.streams += 1
    state.metrics.stream_opened(ws.params.model)
    log.info("stream %s opened (%s)", rid, ws.params.model)
    encoder = WireEncoder(rid)
    stream: Stream | None = None
    try:
        stream = Stream(ws, state, state.work)
        await stream.run()
    except ConnectionClosed:
        log.info("stream %s: client went away", rid)
    # the catch-all for what the stream's tasks raise: this stream fails, the server and other
    # streams go on (logged with its traceback by redacted_log, which ruff cannot see)
    except Exception as exc:  # noqa: BLE001
        redacted_log(log.error, ws.redact_logs, "stream %s: internal error", rid, exc=exc)
        try:
            err = InternalError(INTERNAL)
            await ws.send(encoder.encode(Error(err.code, str(err), err.close_code)))
            await ws.close(err.close_code)
        except ConnectionClosed:
            pass
    finally:
        state.streams -= 1
        state.stream_ended.set()
        state.metrics.stream_closed()
        session = stream.session if stream is not None else None
        log_usage(ws, session)
        log_closed(ws, session, stream.close_code if stream is not None else None, loop.time() - opened)
