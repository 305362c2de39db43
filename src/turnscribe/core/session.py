"""Session: the sans-I/O core of one `/v2/listen` stream — a thin orchestrator.

Bytes and text go in (``receive_audio``, ``receive_text``, ``receive_eof``), wire events come out
(``events_to_send``), and model work goes out and comes back as data (``pending_work`` /
``deliver``, see ``work.py``). No sockets, threads, wall clock or model calls: time is the audio
clock — samples decided on at 16 kHz.

Its parts, each a plain object with its own state: ``Framer`` (bytes to 80 ms frames),
``SpeechActivity`` (audio history, VAD, pauses), ``VadFeed`` (VAD run-ahead), ``WorkLedger``
(requests and answers), and ``Turns`` (the turn decisions: ``DecodeSlots``, ``EndGate``,
``Transcriber``, ``TurnMachine``, rendering).

How the decision clock moves: input is queued in order (audio frames, control messages, end of
stream). One step (a generator) takes it one item, one frame at a time, and yields a typed wait
(``waits.py``) whenever it needs what is not here yet — more input, the frame's VAD, an engine
answer — and is resumed when that arrives. The step never reads anything timing-dependent, so the
events are a function of the audio, the messages and the answers alone: identical audio gives
identical events however it is split into frames and however late the answers come.

Invariants (flux-protocol.md §5–§7; the turn invariants are in ``turn.py``):
- the first event is ``Connected``; an ``Error`` is always the last event — an exception inside
  the step included (``INTERNAL_SERVER_ERROR``, close 1011; ``failure`` keeps it for the log);
- ``CloseStream`` processes every buffered sample, ends with an ``Update`` (never an
  ``EndOfTurn``) whose ``audio_window_end`` is the audio received, then the session closes.
"""

from __future__ import annotations

from collections import deque

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.eot import Cues
from turnscribe.core.framing import FRAME, EndOfInput, Framer, Frames, Tail
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.turn import Turns
from turnscribe.core.vadfeed import VadFeed
from turnscribe.core.waits import NEED_INPUT, NEED_VAD, NeedInput, NeedResult, NeedVad, Step, Wait
from turnscribe.core.work import EngineRequest, EngineResult
from turnscribe.errors import (
    AudioFormatError,
    ConfigureRejected,
    InternalError,
    MessageTooLarge,
    StreamError,
    UnparsableMessage,
)
from turnscribe.types.engine import Audio, VadState
from turnscribe.wire import messages as m
from turnscribe.wire.events import ConfigureFailure, ConfigureSuccess, Connected, Error, Event, Warning
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits
from turnscribe.wire.params import ListenParams

__all__ = ["FRAME", "Session", "TurnPolicy"]


_Input = Frames | Tail | EndOfInput | m.ClientMessage


class Session:
    """One Flux stream. See the module docstring for the contract."""

    def __init__(self, params: ListenParams, *, vad_state: VadState, vad_chunk: int = 512,
                 policy: TurnPolicy | None = None, stream_id: str = "",
                 limits: Limits = DEFAULT_LIMITS) -> None:
        policy = policy or TurnPolicy()
        self.limits = limits
        self._events: list[Event] = [Connected()]
        self._closed = False
        self.failure: BaseException | None = None  # an exception that ended the step (logged by the server)
        self._framer = Framer(params.encoding, params.sample_rate)
        self._inbox: deque[_Input] = deque()
        self.work = WorkLedger(stream_id)
        self.activity = SpeechActivity(policy.activity, vad_chunk)
        self._vad = VadFeed(vad_state)
        self.turns = Turns(params, policy, self.work, self.activity, self._events)
        self._step = self._run()
        self._waiting: Wait | None = None
        self._advance()

    # ------------------------------------------------------------------ public surface

    @property
    def params(self) -> ListenParams:
        return self.turns.params

    @property
    def policy(self) -> TurnPolicy:
        return self.turns.policy

    @property
    def stream_id(self) -> str:
        return self.work.stream_id

    @property
    def trace(self) -> list[tuple[float, Cues]]:
        """(time, cues) at each end decision, when ``policy.trace`` (eval eot)."""
        return self.turns.gate.trace

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def now(self) -> float:
        """Audio clock: seconds of stream audio decided on."""
        return self.activity.now

    @property
    def received_s(self) -> float:
        """Seconds of audio received (decoded), decided on or not."""
        return self.activity.received_s

    @property
    def turn_index(self) -> int:
        """The current turn's index: the number of turns ended so far."""
        return self.turns.machine.turn_index

    @property
    def input_ended(self) -> bool:
        """CloseStream (or end of input) was received: no more input is taken."""
        return self._framer.ended or self._closed

    def at_turn_boundary(self) -> bool:
        """No turn is open and the speaker has been silent a moment: closing the stream here cuts
        nobody off (a draining server waits for this)."""
        act = self.activity
        return not self.turns.active and (act.last_speech < 0 or act.silence() >= self.policy.pause_min_s)

    @property
    def backlog_s(self) -> float:
        """Seconds of received audio the decision clock has not reached yet."""
        return self.activity.backlog_s

    @property
    def has_events(self) -> bool:
        """Events are waiting for ``events_to_send``."""
        return bool(self._events)

    def events_to_send(self) -> list[Event]:
        out = self._events[:]
        self._events.clear()  # the same list: the turns append to it
        return out

    def pending_work(self) -> list[EngineRequest]:
        return self.work.take_requests()

    def take_abandoned(self) -> list[int]:
        """Requests abandoned since the last call (a newer decode or newer audio made them
        obsolete): the runner may drop them unrun. Their answers, if they come, are ignored."""
        return self.work.take_abandoned()

    def deliver(self, result: EngineResult) -> None:
        """Take an engine answer. Answers for another stream, an ended turn (older generation)
        or an abandoned request are dropped."""
        if self._closed or result.stream_id != self.stream_id:
            return
        if self._vad.is_answer(result):
            if not self._vad.take(result, self.activity):
                return  # dropped: the stream is being closed
            self._ask_vad()
        elif not self.work.file(result):
            return
        self._advance()

    def receive_audio(self, data: bytes) -> None:
        if self._closed or self._framer.ended or not data:
            return
        if len(data) > self.limits.max_binary_frame_bytes:
            self._fail(MessageTooLarge(f"A binary frame of {len(data)} bytes is over the limit of "
                                       f"{self.limits.max_binary_frame_bytes}; send audio in smaller chunks."))
            return
        try:
            frames = self._framer.frames(data)
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._queue(frames)
        self._advance()

    def receive_text(self, text: str) -> None:
        if self._closed or self._framer.ended:
            return
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.limits.max_text_frame_bytes:
            self._fail(MessageTooLarge(f"A text frame of {size} bytes is over the limit of "
                                       f"{self.limits.max_text_frame_bytes}."))
            return
        try:
            msg = m.parse_client_message(text)
        except UnparsableMessage as exc:
            self._fail(exc)
            return
        if isinstance(msg, m.CloseStream):
            self.receive_eof()
            return
        self._inbox.append(msg)
        self._advance()

    def receive_eof(self) -> None:
        """CloseStream / end of input: flush every buffered sample, final Update, close (§7.4)."""
        if self._closed or self._framer.ended:
            return
        try:
            frames, tail = self._framer.finish()
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._queue(frames)
        if len(tail):
            self.activity.push(tail)
            self._inbox.append(Tail(len(tail)))
            self._ask_vad()
        self._inbox.append(EndOfInput())
        self._advance()

    def fail(self, exc: StreamError) -> None:
        """Record a fatal error raised outside the session (idle timeout, engine failure, lag)."""
        self._fail(exc)

    # ------------------------------------------------------------------ driving the step

    def _fail(self, exc: StreamError) -> None:
        if not self._closed:
            self._events.append(Error(exc.code, str(exc) or exc.code, exc.close_code))
            self._closed = True
            self.work.cancel_queued()

    def _queue(self, frames: list[Audio]) -> None:
        for frame in frames:
            self.activity.push(frame)
        if frames:
            self._inbox.append(Frames(len(frames)))
            self._ask_vad()

    def _ask_vad(self) -> None:
        if not self._closed:
            self._vad.ask(self.activity, self.work)

    def _blocked(self, wait: Wait | None) -> bool:
        match wait:
            case NeedInput():
                return not self._inbox
            case NeedVad():
                return not self.activity.vad_ready()
            case NeedResult(seq):
                return not self.work.has(seq)
        return False

    def _advance(self) -> None:
        """Run the decision step until it needs what is not here yet."""
        while not self._closed and not self._blocked(self._waiting):
            try:
                self._waiting = next(self._step)
            except StopIteration:
                self._closed = True
            except Exception as exc:  # noqa: BLE001 — any bug in a decision ends this stream with an Error, never silently
                self.failure = exc
                self._fail(InternalError("Internal server error; the stream was closed."))

    # ------------------------------------------------------------------ the step

    def _run(self) -> Step[None]:
        turns = self.turns
        while True:
            while not self._inbox:
                yield NEED_INPUT
            item = self._inbox.popleft()
            if isinstance(item, Frames):
                for _ in range(item.count):
                    self.activity.advance(FRAME)
                    yield from self._vad_step()
                    yield from turns.frame()
            elif isinstance(item, Tail):
                self.activity.advance(item.samples)
                yield from self._vad_step()
            elif isinstance(item, EndOfInput):
                yield from turns.tick(final=True)
                return
            elif isinstance(item, m.ForceEndTurn):
                yield from turns.force_end()
            elif isinstance(item, m.Configure):
                self._configure(item)
            elif isinstance(item, m.UnknownMessage):
                self._events.append(Warning("UNKNOWN_MESSAGE_TYPE",
                                            f"Unknown message type {item.type!r}; the message was ignored."))
            # KeepAlive: accepted silently (§7.5)

    def _vad_step(self) -> Step[None]:
        while not self.activity.vad_ready():
            yield NEED_VAD
        if self.activity.apply_vad(turn_active=self.turns.active):
            self.turns.on_speech()

    def _configure(self, msg: m.Configure) -> None:
        try:
            self.turns.params = m.apply_configure(self.params, msg, self.limits)
        except ConfigureRejected as exc:
            self._events.append(ConfigureFailure(exc.code, exc.description))
            return
        self._events.append(ConfigureSuccess(self.params))
