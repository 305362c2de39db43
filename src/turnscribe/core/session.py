"""Session: the sans-I/O core of one `/v2/listen` stream.

Bytes and text go in (``receive_audio``, ``receive_text``, ``receive_eof``), wire events come out
(``events_to_send``), and model work goes out and comes back as data (``pending_work`` /
``deliver``, see ``work.py``). No sockets, threads, wall clock or model calls: time is the audio
clock — samples decided on at 16 kHz.

How the decision clock moves: input is queued in order (audio frames, control messages, end of
stream). Each 80 ms frame is processed by a small step (a generator) that yields whenever it needs
an engine answer — the frame's VAD, Smart Turn at a pause, the decode that starts a turn, a
decode that has come due — and resumes when it is delivered. The step never reads anything
timing-dependent, so the events are a function of the audio, the messages and the answers alone: identical audio gives
identical events however it is split into frames and however late the answers come.

Live partials while the user speaks, and the final-quality decode a pause starts, are not waited
for at once: a partial asked for at clock t is applied at t + ``partial_slack_s``, the pause's
decode at t + ``pause_slack_s`` (waiting then only if it is still not back; no end is decided
before the pause's words are in), so their compute overlaps the audio that follows instead of
holding the stream's Updates. On the wall clock an end at the pause start then arrives after
max(slack, compute) instead of after the compute, with the stream held meanwhile. A decode made
obsolete by a newer one is abandoned (its answer is ignored; the scheduler may never run it).
When a pause starts after a partial already covered the speech, the final-quality decode an end
would report is computed ahead (``_prefetch_final``), so the EndOfTurn does not wait for it.

Invariants (flux-protocol.md §5–§7):
- the first event is ``Connected``; an ``Error`` is always the last event;
- one ``TurnInfo`` per 240 ms of audio (3 frames of 80 ms), during speech and silence; a state
  change replaces that tick's ``Update``. Turn *ends* (eager, model, timeout) are decided on every
  80 ms frame and sent at once, replacing the Update of the tick they fall in; ``ForceEndTurn``
  is off-tick too;
- turn transitions go through ``TurnMachine`` (one table, ``turns.py``);
- ``StartOfTurn``/``EagerEndOfTurn`` carry non-empty words; after an ``EagerEndOfTurn`` the
  transcript is frozen until ``TurnResumed`` or ``EndOfTurn`` (which repeats it);
- ``CloseStream`` processes every buffered sample, ends with an ``Update`` (never an
  ``EndOfTurn``) whose ``audio_window_end`` is the audio received, then the session closes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np

from turnscribe.audio import make_decoder
from turnscribe.core.activity import ActivityPolicy, SpeechActivity
from turnscribe.core.endgate import Decision, decide
from turnscribe.core.eot import SOON_AFTER_END_S, Cues, EotModel
from turnscribe.core.machine import Signal, TurnMachine, TurnState
from turnscribe.core.reasons import explain
from turnscribe.core.transcriber import Transcriber, WindowPolicy
from turnscribe.core.transcript import norm_word
from turnscribe.core.work import EngineRequest, EngineResult, Payload, Value
from turnscribe.errors import (
    AudioFormatError,
    ConfigureRejected,
    MessageTooLarge,
    StreamError,
    UnparsableMessage,
)
from turnscribe.text.formatting import format_words
from turnscribe.text.keyterms import apply_keyterms
from turnscribe.types.engine import SAMPLE_RATE, AsrResult, Audio, TurnRequest, VadRequest, VadState, Word
from turnscribe.wire import messages as m
from turnscribe.wire.events import (
    ConfigureFailure,
    ConfigureSuccess,
    Connected,
    DecisionReasons,
    Error,
    Event,
    Trigger,
    TurnEvent,
    TurnInfo,
    Warning,
)
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits
from turnscribe.wire.params import ListenParams

FRAME = 1280               # 80 ms at 16 kHz
FRAMES_PER_TICK = 3        # one TurnInfo per 240 ms of audio (§6.1)
RESUME_REACH_S = 0.15      # a changed decode must reach this far past the eager words to be a resume
FOR_INPUT = -1             # what the step yields when it has consumed every queued input ...
FOR_VAD = -2               # ... and when the frame's VAD answer is not back yet


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """Tunables of the turn decisions (seconds unless named otherwise)."""

    vad_on: float = 0.5            # chunk is speech at or above this probability
    tail_db: float = 12.0          # a non-speech chunk this far above the noise floor ...
    tail_max_s: float = 0.25       # ... this soon after speech is the speech's tail (a weak "s", a breath)
    preroll_s: float = 0.3         # audio kept before the detected speech onset for ASR
    min_speech_s: float = 0.064    # speech needed before an ASR attempt to start a turn
    start_holdback_s: float = 0.2  # while speech goes on, StartOfTurn leaves out words ending closer to the edge
    pause_min_s: float = 0.096     # silence that makes a pause: transcript refreshed, ends considered
    partial_every_s: float = 0.48  # transcript refresh period while the user is speaking
    partial_slack_s: float = 0.24  # a live partial is applied this long after it was asked for ...
    multi_partial_slack_s: float = 0.4  # ... on flux-general-multi, whose partials Whisper base decodes
    # a live partial asked for when the transcript's latest decode is this old is not best-effort:
    # under load most partials are shed, and the words must not go stale for seconds
    partial_stale_s: float = 1.5
    acoustic_at_s: tuple[float, ...] = (0.096,)  # pause lengths at which Smart Turn is asked
    acoustic_gap_s: float = 0.15   # earlier pauses of the turn are shortened to this for Smart Turn
    max_window_s: float = 12.0     # ASR window length before it slides (long turns)
    keep_after_slide_s: float = 6.0
    anchor_after_s: float = 6.0    # a window this long restarts at a covered pause (transcriber.py) ...
    anchor_pause_s: float = 0.25   # ... of at least this length
    # final-quality decodes in short windows (types/engine.py): off, wer_clean 2.9 -> 3.1 % for ~2 % less CPU
    short_final_windows: bool = False
    pause_slack_s: float = 0.24    # the pause's final-quality decode is applied this long into the pause
    # (Whisper base takes ~0.2 s for it on one core: less slack stalls the stream at every pause)
    # ... and dropped if the speaker goes on before then: off, since the decode has nearly always run
    # by then (bench load, 8 streams: 2 of ~300 dropped) and its words still shape later cues
    drop_resumed_pause: bool = False
    history_s: float = 32.0        # audio kept in memory at most
    model: EotModel = field(default_factory=EotModel)
    trace: bool = False            # record (time, cues) at every end decision (eval eot)

    def activity(self) -> ActivityPolicy:
        return ActivityPolicy(vad_on=self.vad_on, tail_db=self.tail_db, tail_max_s=self.tail_max_s,
                              acoustic_gap_s=self.acoustic_gap_s, history_s=self.history_s)

    def window(self) -> WindowPolicy:
        return WindowPolicy(max_window_s=self.max_window_s, keep_after_slide_s=self.keep_after_slide_s,
                            anchor_after_s=self.anchor_after_s, anchor_pause_s=self.anchor_pause_s,
                            short_finals=self.short_final_windows)


@dataclass(frozen=True, slots=True)
class _Frames:
    count: int


@dataclass(frozen=True, slots=True)
class _Tail:
    samples: int  # the last, partial frame at the end of the stream


@dataclass(frozen=True, slots=True)
class _Eof:
    pass


_Input = _Frames | _Tail | _Eof | m.ClientMessage


@dataclass(slots=True)
class _Partial:
    """A decode in flight: asked for at ``covers`` (stream sample), applied at ``due``."""

    seq: int
    covers: int
    due: int


Step = Generator[int, None, None]


class Session:
    """One Flux stream. See the module docstring for the contract."""

    def __init__(self, params: ListenParams, *, vad_state: VadState, vad_chunk: int = 512,
                 policy: TurnPolicy | None = None, stream_id: str = "",
                 limits: Limits = DEFAULT_LIMITS) -> None:
        self.params = params
        self.policy = policy or TurnPolicy()
        self.limits = limits
        self.stream_id = stream_id
        self._events: list[Event] = [Connected()]
        self._closed = False
        self._decoder = make_decoder(params.encoding, params.sample_rate)
        self._pcm = np.zeros(0, dtype=np.float32)  # decoded, not yet a whole frame
        self.activity = SpeechActivity(self.policy.activity(), vad_chunk)
        self.transcriber = Transcriber(self.policy.window())
        self.machine = TurnMachine()
        # engine work
        self._vad_state = vad_state
        self._outbox: list[EngineRequest] = []
        self._results: dict[int, Value | None] = {}
        self._seq = 0
        self.generation = 0                  # bumped at each turn end: late answers are dropped
        self._vad_seq: int | None = None     # the VAD request in flight
        self._partial: _Partial | None = None   # live partial in flight
        self._prefetch: _Partial | None = None  # final decode computed ahead of an end
        self._pause: _Partial | None = None     # the pause's final-quality decode in flight
        self._abandoned: set[int] = set()    # requests whose answers are no longer wanted
        self._newly_abandoned: list[int] = []  # ... not yet reported (``take_abandoned``)
        # the decision step
        self._inbox: deque[_Input] = deque()
        self._step = self._run()
        self._waiting: int | None = None     # the seq the step waits for (FOR_INPUT: more input)
        self._eof_queued = False
        # turn
        self._frames_in_tick = 0
        self._tick_spoken = False            # an end decision already spoke for this tick
        self._window_start = 0.0             # audio_window_start of the current turn (§6.4)
        self._turn_start = 0.0               # where the turn's audio begins (its first decode window)
        self._eager_words: tuple[Word, ...] | None = None
        self._asks: list[float] = []         # acoustic P(complete) answers in the current pause
        self._acoustic: tuple[int, int] | None = None  # (seq, ask points it answers) in flight
        self._confidence = 0.0
        self._confidence_cues: Cues | None = None  # what ``_confidence`` was computed from (reasons)
        self._new_speech = False             # speech since the last ASR request
        self._start_pending = False          # speech not yet covered by a start attempt
        self._pause_decoded = False          # this pause already had its final-quality decode
        self._model_end_at: float | None = None  # last speech of the previous turn, if the model ended it
        self._soon_after_end = False              # this turn began right after such an end
        self.trace: list[tuple[float, Cues]] = []  # (time, cues) at each end decision if policy.trace
        self._advance()

    # ------------------------------------------------------------------ public surface

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
        return self.activity.received / SAMPLE_RATE

    @property
    def turn_index(self) -> int:
        """The current turn's index: the number of turns ended so far."""
        return self.machine.turn_index

    @property
    def input_ended(self) -> bool:
        """CloseStream (or end of input) was received: no more input is taken."""
        return self._eof_queued or self._closed

    def at_turn_boundary(self) -> bool:
        """No turn is open and the speaker has been silent a moment: closing the stream here cuts
        nobody off (a draining server waits for this)."""
        act = self.activity
        return not self.machine.active and (act.last_speech < 0 or act.silence() >= self.policy.pause_min_s)

    @property
    def backlog_s(self) -> float:
        """Seconds of received audio the decision clock has not reached yet."""
        return self.activity.backlog_s

    def events_to_send(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def pending_work(self) -> list[EngineRequest]:
        out, self._outbox = self._outbox, []
        return out

    def take_abandoned(self) -> list[int]:
        """Requests abandoned since the last call (a newer decode or newer audio made them
        obsolete): the runner may drop them unrun. Their answers, if they come, are ignored."""
        out, self._newly_abandoned = self._newly_abandoned, []
        return out

    def deliver(self, result: EngineResult) -> None:
        """Take an engine answer. Answers for another stream, an ended turn (older generation)
        or an abandoned request are dropped."""
        if self._closed or result.stream_id != self.stream_id:
            return
        if result.seq == self._vad_seq:
            self._vad_seq = None
            if result.value is None:  # dropped: the stream is being closed
                return
            if isinstance(result.value, (AsrResult, float)):
                raise TypeError("a VAD request needs its probabilities")
            self.activity.vad_answered(result.value)
            self._ask_vad()
        elif result.seq in self._abandoned or result.generation != self.generation:
            self._abandoned.discard(result.seq)
            return
        else:
            self._results[result.seq] = result.value
        self._advance()

    def receive_audio(self, data: bytes) -> None:
        if self._closed or self._eof_queued or not data:
            return
        if len(data) > self.limits.max_binary_frame_bytes:
            self._fail(MessageTooLarge(f"A binary frame of {len(data)} bytes is over the limit of "
                                       f"{self.limits.max_binary_frame_bytes}; send audio in smaller chunks."))
            return
        try:
            samples = self._decoder.feed(data)
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._queue_samples(samples)
        self._advance()

    def receive_text(self, text: str) -> None:
        if self._closed or self._eof_queued:
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
        if self._closed or self._eof_queued:
            return
        try:
            tail = self._decoder.flush()
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._queue_samples(tail)
        if len(self._pcm):
            self.activity.push(self._pcm)
            self._inbox.append(_Tail(len(self._pcm)))
            self._pcm = np.zeros(0, dtype=np.float32)
            self._ask_vad()
        self._inbox.append(_Eof())
        self._eof_queued = True
        self._advance()

    def fail(self, exc: StreamError) -> None:
        """Record a fatal error raised outside the session (idle timeout, engine failure, lag)."""
        self._fail(exc)

    # ------------------------------------------------------------------ driving the step

    def _fail(self, exc: StreamError) -> None:
        if not self._closed:
            self._events.append(Error(exc.code, str(exc) or exc.code, exc.close_code))
            self._closed = True
            self._outbox.clear()

    def _queue_samples(self, samples: Audio) -> None:
        if len(samples) == 0:
            return
        buf = np.concatenate([self._pcm, samples]) if len(self._pcm) else samples
        n = len(buf) // FRAME
        for i in range(n):
            self.activity.push(buf[i * FRAME:(i + 1) * FRAME])
        self._pcm = buf[n * FRAME:].copy()
        if n:
            self._inbox.append(_Frames(n))
            self._ask_vad()

    def _advance(self) -> None:
        """Run the decision step until it needs an answer that is not here, or more input."""
        while not self._closed:
            w = self._waiting
            if w == FOR_INPUT and not self._inbox:
                return
            if w == FOR_VAD and not self.activity.vad_ready():
                return
            if w is not None and w >= 0 and w not in self._results:
                return
            try:
                self._waiting = next(self._step)
            except StopIteration:
                self._closed = True
                return

    def _issue(self, payload: Payload, *, urgent: bool = True) -> int:
        self._seq += 1
        self._outbox.append(EngineRequest(self.stream_id, self.generation, self._seq, payload, urgent=urgent,
                                          multilingual=self.params.multilingual))
        return self._seq

    def _ask_vad(self) -> None:
        """VAD runs ahead of the decisions: one request in flight, for every whole chunk received."""
        if self._vad_seq is not None or self._closed:
            return
        span = self.activity.vad_todo()
        if span is None:
            return
        a, b = span
        self._vad_seq = self._issue(VadRequest(self._vad_state, self.activity.ring.slice(a, b)))
        self.activity.vad_asked(b)

    def _answer(self, seq: int) -> Generator[int, None, Value | None]:
        while seq not in self._results:
            yield seq
        return self._results.pop(seq)

    def _decode(self, *, final: bool) -> Generator[int, None, tuple[Word, ...]]:
        """A decode of the turn's window, waited for. It makes any partial in flight obsolete."""
        self._abandon_partial()
        self._new_speech = False
        covers = self.activity.clock
        seq = self._issue(self.transcriber.request(self.activity, self.params, final=final))
        res = yield from self._answer(seq)
        return self.transcriber.took(res if isinstance(res, AsrResult) else None, covers=covers, final=final)

    def _abandon(self, seq: int) -> None:
        if seq in self._results:
            del self._results[seq]
        else:
            self._abandoned.add(seq)
            self._newly_abandoned.append(seq)

    def _abandon_partial(self) -> None:
        """Drop the live partial, the pause's decode and the prefetched final decode in flight:
        newer audio or a newer decode made them obsolete."""
        for pending in (self._partial, self._prefetch, self._pause):
            if pending is not None:
                self._abandon(pending.seq)
        self._partial = self._prefetch = self._pause = None

    def _ask_pause_decode(self) -> None:
        """The pause starts after new speech: bring the transcript up to date with a final-quality
        decode. It is applied ``pause_slack_s`` into the pause (no end is decided before then), so
        the stream's Updates go on while it is computed instead of waiting for it."""
        self._new_speech = False
        covers = self.activity.clock
        seq = self._issue(self.transcriber.request(self.activity, self.params, final=True))
        self._pause = _Partial(seq, covers, covers + int(self.policy.pause_slack_s * SAMPLE_RATE))

    def _settle_pause(self) -> Step:
        """Apply the pause's decode once the clock reaches its due time (waiting only then)."""
        p = self._pause
        if p is None or self.activity.clock < p.due:
            return
        while p.seq not in self._results:
            yield p.seq
        res = self._results.pop(p.seq)
        self._pause = None
        words = self.transcriber.took(res if isinstance(res, AsrResult) else None, covers=p.covers, final=True)
        assert self.transcriber.transcript is not None
        self.transcriber.transcript.update(words)

    def _prefetch_final(self) -> None:
        """The pause starts after a live partial already covered the speech: the decisions read
        that partial, while the final-quality decode an end would report is computed ahead. As
        with the pause's own decode, no end is decided before ``pause_slack_s`` into the pause,
        so the EndOfTurn does not wait for that decode's compute."""
        covers = self.activity.clock
        seq = self._issue(self.transcriber.request(self.activity, self.params, final=True))
        self._prefetch = _Partial(seq, covers, covers + int(self.policy.pause_slack_s * SAMPLE_RATE))

    # ------------------------------------------------------------------ the step

    def _run(self) -> Step:
        while True:
            while not self._inbox:
                yield FOR_INPUT
            item = self._inbox.popleft()
            if isinstance(item, _Frames):
                for _ in range(item.count):
                    yield from self._frame()
            elif isinstance(item, _Tail):
                self.activity.advance(item.samples)
                yield from self._vad()
            elif isinstance(item, _Eof):
                yield from self._tick(final=True)
                return
            elif isinstance(item, m.ForceEndTurn):
                yield from self._force_end_turn()
            elif isinstance(item, m.Configure):
                self._configure(item)
            elif isinstance(item, m.UnknownMessage):
                self._events.append(Warning("UNKNOWN_MESSAGE_TYPE",
                                            f"Unknown message type {item.type!r}; the message was ignored."))
            # KeepAlive: accepted silently (§7.5)

    def _frame(self) -> Step:
        self.activity.advance(FRAME)
        yield from self._vad()
        yield from self._settle_partial()
        yield from self._settle_pause()
        yield from self._frame_decision()
        self._frames_in_tick += 1
        if self._frames_in_tick == FRAMES_PER_TICK:
            self._frames_in_tick = 0
            if self._tick_spoken:
                self._tick_spoken = False  # an end was sent in this tick: it replaced the Update
            else:
                yield from self._tick(final=False)

    def _vad(self) -> Step:
        while not self.activity.vad_ready():
            yield FOR_VAD
        if self.activity.apply_vad(turn_active=self.machine.active):
            if self._pause is not None and self.activity.clock < self._pause.due and self.policy.drop_resumed_pause:
                # the speaker went on before the pause's words were due: newer audio makes them
                # obsolete (the next decode covers this speech too), so most short pauses cost no decode
                self._abandon(self._pause.seq)
                self._pause = None
            self._drop_acoustic()
            resumed = self.activity.resumed_after
            if resumed is not None and self.machine.state is TurnState.ONGOING and self._pause is None:
                self.transcriber.anchor(*resumed)
            self._new_speech = True
            self._start_pending = True
            self._pause_decoded = False
            self._asks = []

    def _settle_partial(self, *, now: bool = False) -> Step:
        """Apply the live partial in flight once the clock reaches its due time (or ``now``: a
        pause starts, and the decisions need the latest words)."""
        p = self._partial
        if p is None or (self.activity.clock < p.due and not now):
            return
        while p.seq not in self._results:
            yield p.seq
        res = self._results.pop(p.seq)
        self._partial = None
        if isinstance(res, AsrResult):  # None: dropped under load; the next refresh comes as usual
            words = self.transcriber.took(res, covers=p.covers, final=False)
            assert self.transcriber.transcript is not None
            self.transcriber.transcript.update(words)

    # ------------------------------------------------------------------ ticks (240 ms)

    def _tick(self, *, final: bool) -> Step:
        event = TurnEvent.UPDATE
        state = self.machine.state
        if final:  # the flush tick reports the last audio; it never changes state (§7.4)
            self._abandon_partial()
            if state is TurnState.ONGOING:
                yield from self._final_words()  # clients treat this last Update as the turn's text
        elif state is TurnState.INITIAL:
            event = yield from self._maybe_start()
        elif self._new_speech and state is TurnState.AWAITING_END:
            event = yield from self._after_eager()
        elif self._new_speech and self._partial is None and self._partial_due():
            self._ask_partial()
        if self.machine.active:
            self._confidence = self._fused()
        self._emit(event, None)

    def _partial_due(self) -> bool:
        """While the user speaks, partials refresh every ``partial_every_s`` of audio."""
        return self.activity.clock - self.transcriber.hyp_end >= int(self.policy.partial_every_s * SAMPLE_RATE)

    def _ask_partial(self) -> None:
        self._new_speech = False
        covers = self.activity.clock
        stale = covers - self.transcriber.hyp_end >= int(self.policy.partial_stale_s * SAMPLE_RATE)
        seq = self._issue(self.transcriber.request(self.activity, self.params, final=False, live=True),
                          urgent=stale)
        slack = self.policy.multi_partial_slack_s if self.params.multilingual else self.policy.partial_slack_s
        self._partial = _Partial(seq, covers, covers + int(slack * SAMPLE_RATE))

    def _maybe_start(self) -> Generator[int, None, TurnEvent]:
        act = self.activity
        onset = act.speech_onset
        if onset is None or not self._start_pending or act.speech_run < self.policy.min_speech_s:
            self._confidence = 0.0
            return TurnEvent.UPDATE
        start = max(self._window_start, onset - self.policy.preroll_s)
        self.transcriber.begin(start)
        self._turn_start = start
        words = yield from self._decode(final=False)
        if act.silence() >= self.policy.pause_min_s:
            self._start_pending = False  # the attempt covered the whole utterance
        else:  # still speaking: a word that ends at the audio's edge may be cut ("Too deep?" for
            # "To decrease"); it is left out when others remain (StartOfTurn is not delayed for it)
            whole = tuple(w for w in words if w.end <= act.now - self.policy.start_holdback_s)
            words = whole or words
        if not words:
            self.transcriber.transcript = None
            if act.silence() > 1.0:  # a cough or a noise burst: forget it
                act.speech_onset = None
            return TurnEvent.UPDATE
        assert self.transcriber.transcript is not None
        self.transcriber.transcript.update(words)
        self._start_pending = False
        self._soon_after_end = self._model_end_at is not None and onset - self._model_end_at < SOON_AFTER_END_S
        self._model_end_at = None
        return self.machine.fire(Signal.START)

    def _after_eager(self, *, final: bool = False) -> Generator[int, None, TurnEvent]:
        """New speech after an eager end: decode, and resume if the speaker went on."""
        words = yield from self._decode(final=final)
        if not self._resumed(words):
            return TurnEvent.UPDATE
        self._eager_words = None
        assert self.transcriber.transcript is not None
        self.transcriber.transcript.update(words)
        return self.machine.fire(Signal.RESUME)

    def _resumed(self, words: tuple[Word, ...]) -> bool:
        """After an eager end, did the speaker go on? Yes when words begin after the eager
        transcript, or when the new decode says something else and reaches past it (a number
        re-formatted with the digits that followed: "601-448." then "601-448-9723"). A cough
        neither adds words nor changes them."""
        tr = self.transcriber.transcript
        assert tr is not None
        eager = self._eager_words or ()
        eager_end = eager[-1].end if eager else tr.window_start
        if any(w.start > eager_end + 0.05 for w in words):
            return True
        in_window = eager[len(tr.frozen):]  # the decode covers the window only
        changed = [norm_word(w.text) for w in words] != [norm_word(w.text) for w in in_window]
        return changed and any(w.end > eager_end + RESUME_REACH_S for w in words)

    # ------------------------------------------------------------------ end decisions (80 ms)

    def _frame_decision(self) -> Step:
        if not self.machine.active:
            return
        silence = self.activity.silence()
        if silence < self.policy.pause_min_s:
            return
        if not self._pause_decoded:
            # the pause starts: bring the transcript up to date with a final-quality decode, so the
            # end decision has its words and the EndOfTurn its final transcript ready
            self._pause_decoded = True
            yield from self._settle_partial(now=True)
            if self.machine.state is TurnState.AWAITING_END:
                if self._new_speech:
                    event = yield from self._after_eager(final=True)
                    if event is TurnEvent.TURN_RESUMED:
                        self._emit(TurnEvent.TURN_RESUMED, None)
                        self._tick_spoken = True
                        return
            elif self._new_speech:
                self._ask_pause_decode()
            elif not self.transcriber.covered(self._speech_end()):
                self._prefetch_final()
        asks = self.policy.acoustic_at_s
        if self._acoustic is None and len(self._asks) < len(asks) and silence >= asks[len(self._asks)]:
            reached = sum(1 for a in asks[len(self._asks):] if silence >= a)
            self._acoustic = (self._ask_acoustic(), reached)
        if self._pause is not None:
            yield from self._settle_pause()  # due at once when pause_slack_s is 0
            if self._pause is not None:
                return  # no end is decided before the pause's words are in (nor its acoustic answer)
        if self._prefetch is not None and self.activity.clock < self._prefetch.due:
            return  # nor before the final-quality words an end reports are due (else the end waits for them)
        if self._acoustic is not None:
            seq, reached = self._acoustic
            self._acoustic = None
            p = yield from self._answer(seq)
            self._asks += [float(p) if isinstance(p, float) else 0.5] * reached
        self._confidence = self._fused()
        if self.policy.trace:
            self.trace.append((self.now, self._cues()))
        decision = decide(self._confidence, silence, self.params.thresholds, self.machine.state)
        if decision is Decision.HOLD:
            return
        if decision in (Decision.EAGER, Decision.EAGER_AND_END):
            if not (yield from self._eager()):
                return
            self._emit(TurnEvent.EAGER_END_OF_TURN, None)
            self._tick_spoken = True
            if decision is Decision.EAGER:
                return
        trigger = Trigger.TIMEOUT if decision is Decision.TIMEOUT else Trigger.MODEL
        yield from self._end_turn(trigger)
        self._emit(TurnEvent.END_OF_TURN, trigger)
        self._tick_spoken = True

    def _speech_end(self) -> int:
        return int(self.activity.last_speech * SAMPLE_RATE)

    def _ask_acoustic(self) -> int:
        """Ask Smart Turn about the pause so far; the answer is read when a decision needs it
        (with the pause's words, when those are in flight too)."""
        tr = self.transcriber.transcript
        assert tr is not None
        audio = self.activity.acoustic_audio(int(self._turn_start * SAMPLE_RATE), self.policy.acoustic_gap_s)
        return self._issue(TurnRequest(audio=audio, transcript=tr.text))

    def _drop_acoustic(self) -> None:
        if self._acoustic is not None:
            self._abandon(self._acoustic[0])
            self._acoustic = None

    def _cues(self) -> Cues:
        words = self._eager_words if self._eager_words is not None else self.transcriber.latest_words()
        return Cues(silence_s=self.activity.silence(), acoustic=tuple(self._asks), words=tuple(words),
                    soon_after_end=self._soon_after_end, recent_pauses=tuple(self.activity.resumed_pauses))

    def _fused(self) -> float:
        self._confidence_cues = cues = self._cues()
        return self.policy.model.probability(cues)

    def _final_words(self) -> Generator[int, None, tuple[Word, ...]]:
        """The turn's final words, from the whole window: the latest decode when it is
        final-quality and covers every sample of speech (the usual case: the pause's decode),
        else a fresh final decode."""
        tr = self.transcriber.transcript
        assert tr is not None
        before = tr.words
        pre, self._prefetch = self._prefetch, None
        if self._pause is not None:  # the pause's own decode is newer than any prefetch
            if pre is not None:
                self._abandon(pre.seq)
            pre, self._pause = self._pause, None
        if self.transcriber.covered(self._speech_end()) and not self._new_speech:
            hyp = self.transcriber.hyp
            if pre is not None:
                self._abandon(pre.seq)
        elif pre is not None and not self._new_speech:
            res = yield from self._answer(pre.seq)
            hyp = self.transcriber.took(res if isinstance(res, AsrResult) else None, covers=pre.covers,
                                        final=True)
        else:
            if pre is not None:
                self._abandon(pre.seq)
            hyp = yield from self._decode(final=True)
        final = tr.finalize(hyp)
        return final if final else before

    def _eager(self) -> Generator[int, None, bool]:
        words = yield from self._final_words()
        if not words:
            return False
        self._eager_words = words
        self.machine.fire(Signal.EAGER)
        return True

    def _end_turn(self, trigger: Trigger) -> Step:
        self._model_end_at = self.activity.last_speech if trigger is Trigger.MODEL else None
        if self._eager_words is None:
            self._eager_words = yield from self._final_words()
        self.machine.fire(Signal.END)

    # ------------------------------------------------------------------ emitting

    def _words_now(self) -> tuple[Word, ...]:
        if self._eager_words is not None:
            return self._eager_words
        if not self.machine.active or self.transcriber.transcript is None:
            return ()
        return self.transcriber.transcript.words

    def _shown(self, words: tuple[Word, ...]) -> tuple[Word, ...]:
        """``words`` as the client sees them: keyterms, numerals, profanity filter, redaction."""
        p = self.params
        if words and p.keyterms:
            words = apply_keyterms(words, p.keyterms)
        if words and (p.numerals or p.profanity_filter or p.redact):
            lang = self.transcriber.language or (p.language_hints[0] if p.language_hints else "en")
            words = format_words(words, numerals_on=p.numerals, profanity_filter=p.profanity_filter,
                                 redact_modes=p.redact, lang=lang)
        return words

    def _reasons(self, event: TurnEvent, trigger: Trigger | None) -> DecisionReasons | None:
        """Decision reasons (``reasons.py``) for an end, when the stream asked for them."""
        ends = (TurnEvent.END_OF_TURN, TurnEvent.EAGER_END_OF_TURN)
        if not self.params.decision_reasons or event not in ends:
            return None
        cues = self._confidence_cues if self._confidence_cues is not None else self._cues()
        return explain(cues, self.policy.model, trigger.value if trigger is not None else "eager",
                       words=[w.text for w in self._shown(cues.words)])

    def _emit(self, event: TurnEvent, trigger: Trigger | None) -> None:
        p = self.params
        words = self._shown(self._words_now())
        multi = p.multilingual
        language = self.transcriber.language
        languages = ((language,) if (language and words) else ()) if multi else None
        hinted = p.language_hints if (multi and p.language_hints) else None
        confidence = self._confidence if (self.machine.active or event is TurnEvent.END_OF_TURN) else 0.0
        self._events.append(TurnInfo(
            event=event, turn_index=self.machine.turn_index, audio_window_start=self._window_start,
            audio_window_end=self.now, words=words, end_of_turn_confidence=confidence, trigger=trigger,
            languages=languages, languages_hinted=hinted, reasons=self._reasons(event, trigger)))
        if event is TurnEvent.END_OF_TURN:
            self._after_end()

    def _after_end(self) -> None:
        self.machine.advance_index()
        self._abandon_partial()
        self.generation += 1
        self._window_start = self.now
        self.transcriber.reset()
        self._eager_words = None
        self._asks = []
        self._drop_acoustic()
        self._confidence = 0.0
        self.activity.speech_onset = None
        self._new_speech = False
        self._start_pending = False

    # ------------------------------------------------------------------ control messages

    def _force_end_turn(self) -> Step:
        if not self.machine.active:
            self._events.append(Warning(
                "FORCE_END_TURN_NO_ACTIVE_TURN",
                "Received ForceEndTurn while no turn was active; the request was ignored."))
            return
        self._abandon_partial()
        yield from self._end_turn(Trigger.MANUAL)
        self._emit(TurnEvent.END_OF_TURN, Trigger.MANUAL)

    def _configure(self, msg: m.Configure) -> None:
        try:
            self.params = m.apply_configure(self.params, msg, self.limits)
        except ConfigureRejected as exc:
            self._events.append(ConfigureFailure(exc.code, exc.description))
            return
        self._events.append(ConfigureSuccess(self.params))
