"""Session: the sans-I/O core of one `/v2/listen` stream.

Bytes and text go in (``receive_audio``, ``receive_text``), wire events come out
(``events_to_send``). No sockets, threads, tasks or wall clock: time is the audio clock —
samples consumed at 16 kHz. Engines are injected and called synchronously with batches of
one; the server may hand in batching proxies that merge calls across streams.

Invariants (flux-protocol.md §5–§7):
- the first event is ``Connected``; an ``Error`` is always the last event;
- one ``TurnInfo`` per 240 ms of audio (3 frames of 80 ms), during speech and silence; a
  state change replaces that tick's ``Update``. Turn *ends* (eager, model, timeout) are decided
  on every 80 ms frame and sent at once, replacing the Update of the tick they fall in, so an
  ``EndOfTurn`` is not held back to the next 240 ms boundary; ``ForceEndTurn`` is off-tick too;
- turn transitions go through ``TurnMachine`` (one table, ``turns.py``);
- ``StartOfTurn``/``EagerEndOfTurn`` carry non-empty words; after an ``EagerEndOfTurn`` the
  transcript is frozen until ``TurnResumed`` or ``EndOfTurn`` (which repeats it);
- ``CloseStream`` processes every buffered sample, ends with an ``Update`` (never an
  ``EndOfTurn``) whose ``audio_window_end`` is the audio received, then the session closes;
- identical audio gives identical events however it is split into frames.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from turnscribe.audio import make_decoder
from turnscribe.engines.base import SAMPLE_RATE, AsrRequest, Audio, Engines, TurnRequest, VadRequest, Word
from turnscribe.errors import AudioFormatError, ConfigureRejected, StreamError, UnparsableMessage
from turnscribe.protocol import messages as m
from turnscribe.protocol.eot import SOON_AFTER_END_S, Cues, EotModel, features
from turnscribe.protocol.events import (
    ConfigureFailure,
    ConfigureSuccess,
    Connected,
    Error,
    Event,
    Trigger,
    TurnEvent,
    TurnInfo,
    Warning,
)
from turnscribe.protocol.formatting import format_words
from turnscribe.protocol.keyterms import apply_keyterms
from turnscribe.protocol.params import LANGUAGES, ListenParams
from turnscribe.protocol.transcript import TurnTranscript, monotone, norm_word
from turnscribe.protocol.turns import Signal, TurnMachine, TurnState

FRAME = 1280               # 80 ms at 16 kHz
FRAMES_PER_TICK = 3        # one TurnInfo per 240 ms of audio (§6.1)
RESUME_REACH_S = 0.15      # a changed decode must reach this far past the eager words to be a resume
DC_RATE = 0.05             # per-frame update of the DC estimate (time constant ~1.6 s)


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """Tunables of the turn decisions (seconds unless named otherwise)."""

    vad_on: float = 0.5            # chunk is speech at or above this probability
    tail_db: float = 12.0          # a non-speech chunk this far above the noise floor ...
    tail_max_s: float = 0.25       # ... this soon after speech is the speech's tail (a weak "s", a breath)
    preroll_s: float = 0.3         # audio kept before the detected speech onset for ASR
    min_speech_s: float = 0.064    # speech needed before an ASR attempt to start a turn
    pause_min_s: float = 0.096     # silence that makes a pause: transcript refreshed, ends considered
    partial_every_s: float = 0.48  # transcript refresh period while the user is speaking
    acoustic_at_s: tuple[float, ...] = (0.096,)  # pause lengths at which Smart Turn is asked
    acoustic_gap_s: float = 0.15   # earlier pauses of the turn are shortened to this for Smart Turn
    max_window_s: float = 24.0     # ASR window length before it slides (long turns)
    keep_after_slide_s: float = 8.0
    history_s: float = 32.0        # audio kept in memory at most
    model: EotModel = field(default_factory=EotModel)
    trace: bool = False            # record (time, features) at every end decision (calibration)


def _levels_db(audio: Audio, chunk: int) -> np.ndarray:
    """RMS level (dBFS) of each ``chunk``-sample piece of ``audio``."""
    x = audio[: len(audio) // chunk * chunk].reshape(-1, chunk).astype(np.float64)
    return 10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12)


def shorten_pauses(audio: Audio, gaps: Iterable[tuple[int, int]], keep: int) -> Audio:
    """``audio`` with each pause longer than ``keep`` samples cut down to ``keep``: its first two
    thirds (the phrase's release) and its last third. ``gaps`` are (start, stop) sample offsets
    into ``audio``, in order; parts before the audio or overlapping a cut are skipped."""
    head = keep * 2 // 3
    pieces, pos = [], 0
    for a, b in gaps:
        if b <= pos or b - a <= keep:
            continue
        a = max(a, pos)
        if b - a > keep:
            pieces.append(audio[pos:a + head])
            pos = b - (keep - head)
    pieces.append(audio[pos:])
    return np.concatenate(pieces) if len(pieces) > 1 else pieces[0]


class _AudioRing:
    """The last ``capacity`` samples of the stream, addressable by stream sample index."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self.end = 0  # stream index one past the last sample

    def append(self, x: Audio) -> None:
        cap = len(self._buf)
        if len(x) >= cap:
            x, self.end = x[-cap:], self.end + len(x) - cap
        pos = self.end % cap
        first = min(len(x), cap - pos)
        self._buf[pos:pos + first] = x[:first]
        self._buf[:len(x) - first] = x[first:]
        self.end += len(x)

    def slice(self, start: int, stop: int) -> Audio:
        cap = len(self._buf)
        start = max(start, self.end - cap, 0)
        stop = min(stop, self.end)
        if stop <= start:
            return np.zeros(0, dtype=np.float32)
        idx = np.arange(start, stop) % cap
        return self._buf[idx]


class Session:
    """One Flux stream. See the module docstring for the contract."""

    def __init__(self, params: ListenParams, engines: Engines, *, policy: TurnPolicy | None = None) -> None:
        self.params = params
        self.engines = engines
        self.policy = policy or TurnPolicy()
        self._events: list[Event] = [Connected()]
        self._closed = False
        self._decoder = make_decoder(params.encoding, params.sample_rate)
        self._pending = np.zeros(0, dtype=np.float32)  # decoded, not yet a whole frame
        self._ring = _AudioRing(int(self.policy.history_s * SAMPLE_RATE))
        self._frames_in_tick = 0
        self._dc = 0.0                       # running estimate of the input's DC offset
        # VAD
        self._vad_state = engines.vad.new_state()
        self._vad_chunk = engines.vad.chunk_samples
        self._vad_next = 0                   # stream index of the next VAD chunk
        self._last_speech = -1.0             # end time of the last speech chunk
        self._speech_onset: float | None = None  # start of the speech run not yet in a turn
        self._model_end_at: float | None = None  # last speech of the previous turn, if the model ended it
        self._soon_after_end = False              # this turn began right after such an end
        self._speech_run = 0.0               # seconds of speech since onset
        self._new_speech = False             # speech since the last ASR call
        self._floor_db: float | None = None  # noise floor: a running minimum of chunk levels
        self._voiced_end = -1                # stream sample after the last chunk the VAD called speech
        self._speech_end = -1                # ... after the last chunk of speech, its unvoiced tail included
        self._gap_start: int | None = None   # stream sample where the current non-speech run began
        self._gaps: deque[tuple[int, int]] = deque(maxlen=512)  # earlier non-speech runs (samples)
        # turn
        self.machine = TurnMachine()
        self._window_start = 0.0             # audio_window_start of the current turn (§6.4)
        self._transcript: TurnTranscript | None = None
        self._eager_words: tuple[Word, ...] | None = None
        self._language: str | None = None
        self._asks: list[float] = []         # acoustic P(complete) answers in the current pause
        self._confidence = 0.0
        self._start_pending = False          # speech not yet covered by a start attempt
        self._tick_spoken = False            # an end decision already spoke for this tick
        self._hyp: tuple[Word, ...] = ()     # last partial hypothesis of the window ...
        self._hyp_end = 0                    # ... the stream sample it covers up to ...
        self._hyp_final = False              # ... and whether it was a final-quality decode
        self.trace: list[tuple[float, Cues]] = []  # (time, cues) at each end decision if policy.trace

    # ------------------------------------------------------------------ public surface

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def now(self) -> float:
        """Audio clock: seconds of stream audio processed."""
        return self._ring.end / SAMPLE_RATE

    def events_to_send(self) -> list[Event]:
        out, self._events = self._events, []
        return out

    def receive_audio(self, data: bytes) -> None:
        if self._closed or not data:
            return
        try:
            samples = self._decoder.feed(data)
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._consume(samples)

    def receive_text(self, text: str) -> None:
        if self._closed:
            return
        try:
            msg = m.parse_client_message(text)
        except UnparsableMessage as exc:
            self._fail(exc)
            return
        if isinstance(msg, m.CloseStream):
            self.receive_eof()
        elif isinstance(msg, m.ForceEndTurn):
            self._force_end_turn()
        elif isinstance(msg, m.Configure):
            self._configure(msg)
        elif isinstance(msg, m.UnknownMessage):
            self._events.append(Warning("UNKNOWN_MESSAGE_TYPE",
                                        f"Unknown message type {msg.type!r}; the message was ignored."))
        # KeepAlive: accepted silently (§7.5)

    def receive_eof(self) -> None:
        """CloseStream / end of input: flush every buffered sample, final Update, close (§7.4)."""
        if self._closed:
            return
        try:
            tail = self._decoder.flush()
        except AudioFormatError as exc:
            self._fail(exc)
            return
        self._consume(tail)
        if self._closed:
            return
        if len(self._pending):
            self._push_frame(self._pending)
            self._pending = np.zeros(0, dtype=np.float32)
        self._run_vad()
        self._tick(final=True)
        self._closed = True

    def fail(self, exc: StreamError) -> None:
        """Record a fatal error raised outside the session (idle timeout, engine failure)."""
        self._fail(exc)

    # ------------------------------------------------------------------ audio clock

    def _fail(self, exc: StreamError) -> None:
        if not self._closed:
            self._events.append(Error(exc.code, str(exc) or exc.code, exc.close_code))
            self._closed = True

    def _consume(self, samples: Audio) -> None:
        if len(samples) == 0:
            return
        buf = np.concatenate([self._pending, samples]) if len(self._pending) else samples
        n_frames = len(buf) // FRAME
        for i in range(n_frames):
            if self._closed:
                return
            self._push_frame(buf[i * FRAME:(i + 1) * FRAME])
            self._run_vad()
            self._frame_decision()
            self._frames_in_tick += 1
            if self._frames_in_tick == FRAMES_PER_TICK:
                self._frames_in_tick = 0
                if self._tick_spoken:
                    self._tick_spoken = False  # an end was sent in this tick: it replaced the Update
                else:
                    self._tick(final=False)
        self._pending = buf[n_frames * FRAME:].copy()

    def _push_frame(self, frame: Audio) -> None:
        """Append a frame, minus the stream's DC offset (a slow running mean: a bias of the
        client's ADC must not look like speech or noise to the engines)."""
        frame = frame.astype(np.float32, copy=False)
        self._dc += DC_RATE * (float(frame.mean()) - self._dc) if len(frame) else 0.0
        self._ring.append(frame - np.float32(self._dc))

    # ------------------------------------------------------------------ VAD

    def _run_vad(self) -> None:
        c = self._vad_chunk
        n = (self._ring.end - self._vad_next) // c
        if n <= 0:
            return
        audio = self._ring.slice(self._vad_next, self._vad_next + n * c)
        (probs,) = self.engines.vad.process([VadRequest(self._vad_state, audio)])
        levels = _levels_db(audio, c)
        for i, p in enumerate(probs):
            t0 = (self._vad_next + i * c) / SAMPLE_RATE
            t1 = t0 + c / SAMPLE_RATE
            chunk_start = self._vad_next + i * c
            floor = self._track_floor(float(levels[i]))
            if p < self.policy.vad_on:
                if (self._speech_end == chunk_start and self._voiced_end >= 0
                        and chunk_start + c - self._voiced_end <= int(self.policy.tail_max_s * SAMPLE_RATE)
                        and levels[i] > floor + self.policy.tail_db):
                    self._speech_end = chunk_start + c  # Silero misses unvoiced tails: the pause starts after them
                    self._last_speech = t1
                    continue
                if self._gap_start is None:
                    self._gap_start = chunk_start
                continue
            if self._gap_start is not None:
                if chunk_start - self._gap_start > int(self.policy.acoustic_gap_s * SAMPLE_RATE):
                    self._gaps.append((self._gap_start, chunk_start))
                self._gap_start = None
            if not self.machine.active and (self._speech_onset is None or t0 - self._last_speech > 0.3):
                self._speech_onset, self._speech_run = t0, 0.0
            self._speech_run += c / SAMPLE_RATE
            self._last_speech = t1
            self._voiced_end = self._speech_end = chunk_start + c
            self._new_speech = True
            self._start_pending = True
            self._asks = []
        self._vad_next += n * c

    def _track_floor(self, level: float) -> float:
        """Noise floor in dBFS: falls at once to a quieter chunk, rises 1.5 dB per second; never
        below -70 dBFS (digital silence would make any residue look like a tail)."""
        rise = 1.5 * self._vad_chunk / SAMPLE_RATE
        self._floor_db = level if self._floor_db is None else min(level, self._floor_db + rise)
        return max(self._floor_db, -70.0)

    def _silence(self) -> float:
        return self.now - self._last_speech if self._last_speech >= 0 else self.now

    # ------------------------------------------------------------------ ASR helpers

    def _asr(self, start: float, *, final: bool) -> tuple[Word, ...]:
        audio = self._ring.slice(int(start * SAMPLE_RATE), self._ring.end)
        prompt = self._transcript.prompt if self._transcript else ""
        language = self.params.language_hints[0] if len(self.params.language_hints) == 1 else None
        if not self.params.multilingual:
            language = "en"
        (res,) = self.engines.asr_for(self.params.multilingual).transcribe([AsrRequest(
            audio=audio, offset=start, final=final, prompt=prompt, keyterms=self.params.keyterms,
            language=language, languages=self.params.language_hints or LANGUAGES)])
        if res.words and res.language:
            self._language = res.language
        return res.words

    def _partial_due(self) -> bool:
        """While the user speaks, partials refresh every ``partial_every_s`` of audio (each one
        re-decodes the turn); the pause that follows always refreshes at once."""
        return self._ring.end - self._hyp_end >= int(self.policy.partial_every_s * SAMPLE_RATE)

    def _refresh(self, *, final: bool = False) -> tuple[Word, ...]:
        """Re-transcribe the turn's window; the session remembers what the decode covers and
        whether it was a final-quality one."""
        assert self._transcript is not None
        self._new_speech = False
        self._slide_window()
        words = self._asr(self._transcript.window_start, final=final)
        self._hyp, self._hyp_end, self._hyp_final = words, self._ring.end, final
        return words

    # ------------------------------------------------------------------ ticks (240 ms)

    def _tick(self, *, final: bool) -> None:
        event = TurnEvent.UPDATE
        state = self.machine.state
        if final:  # the flush tick reports the last audio; it never changes state (§7.4)
            if state is TurnState.ONGOING:
                self._final_words()  # clients treat this last Update as the turn's text: decode it whole
        elif state is TurnState.INITIAL:
            event = self._maybe_start()
        elif self._new_speech and (state is TurnState.AWAITING_END or self._partial_due()):
            event = self._speech_in_turn()
        if self.machine.active:
            self._confidence = self._fused()
        self._emit(event, None)

    def _maybe_start(self) -> TurnEvent:
        onset = self._speech_onset
        if onset is None or not self._start_pending or self._speech_run < self.policy.min_speech_s:
            self._confidence = 0.0
            return TurnEvent.UPDATE
        start = max(self._window_start, onset - self.policy.preroll_s)
        self._transcript = TurnTranscript(start)
        words = self._refresh()
        if self._silence() >= self.policy.pause_min_s:
            self._start_pending = False  # the attempt covered the whole utterance
        if not words:
            self._transcript = None
            if self._silence() > 1.0:  # a cough or a noise burst: forget it
                self._speech_onset = None
            return TurnEvent.UPDATE
        self._transcript.update(words)
        self._start_pending = False
        self._soon_after_end = self._model_end_at is not None and onset - self._model_end_at < SOON_AFTER_END_S
        self._model_end_at = None
        return self.machine.fire(Signal.START)

    def _speech_in_turn(self, *, final: bool = False) -> TurnEvent:
        """New speech during a turn: refresh the partial; after an eager end, maybe resume.
        ``final`` when a pause starts: that decode is likely the turn's last."""
        assert self._transcript is not None
        words = self._refresh(final=final)
        if self.machine.state is TurnState.AWAITING_END:
            if not self._resumed(words):
                return TurnEvent.UPDATE
            self._eager_words = None
            self._transcript.update(words)
            return self.machine.fire(Signal.RESUME)
        self._transcript.update(words)
        return TurnEvent.UPDATE

    def _resumed(self, words: tuple[Word, ...]) -> bool:
        """After an eager end, did the speaker go on? Yes when words begin after the eager
        transcript, or when the new decode says something else and reaches past it (a number
        re-formatted with the digits that followed: "601-448." then "601-448-9723"). A cough
        neither adds words nor changes them."""
        assert self._transcript is not None
        eager = self._eager_words or ()
        eager_end = eager[-1].end if eager else self._transcript.window_start
        if any(w.start > eager_end + 0.05 for w in words):
            return True
        in_window = eager[len(self._transcript.frozen):]  # the decode covers the window only
        changed = [norm_word(w.text) for w in words] != [norm_word(w.text) for w in in_window]
        return changed and any(w.end > eager_end + RESUME_REACH_S for w in words)

    # ------------------------------------------------------------------ end decisions (80 ms)

    def _frame_decision(self) -> None:
        if not self.machine.active:
            return
        silence = self._silence()
        if silence < self.policy.pause_min_s:
            return
        if self._new_speech:  # the pause starts: bring the transcript up to date first
            if self._speech_in_turn(final=True) is TurnEvent.TURN_RESUMED:
                self._emit(TurnEvent.TURN_RESUMED, None)
                self._tick_spoken = True
                return
        asks = self.policy.acoustic_at_s
        if len(self._asks) < len(asks) and silence >= asks[len(self._asks)]:
            p = self._acoustic_score()
            while len(self._asks) < len(asks) and silence >= asks[len(self._asks)]:
                self._asks.append(p)
        self._confidence = self._fused()
        if self.policy.trace:
            self.trace.append((self.now, self._cues()))
        th = self.params.thresholds
        decision: tuple[TurnEvent, Trigger | None] | None = None
        if silence * 1000 >= th.eot_timeout_ms:
            decision = self._end_turn(Trigger.TIMEOUT)
        elif th.eot_threshold < 1.0 and self._confidence >= th.eot_threshold:
            if th.eager_eot_threshold is not None and self.machine.state is TurnState.ONGOING:
                # eager mode: a model end is always preceded by an eager one; when the confidence
                # crosses both thresholds in one frame, both go out back to back (no 80 ms wait)
                eager = self._eager()
                if eager[0] is TurnEvent.UPDATE:
                    return
                self._emit(*eager)
            decision = self._end_turn(Trigger.MODEL)
        elif (th.eager_eot_threshold is not None and self.machine.state is TurnState.ONGOING
              and self._confidence >= th.eager_eot_threshold):
            decision = self._eager()
        if decision is not None and decision[0] is not TurnEvent.UPDATE:
            self._emit(*decision)
            self._tick_spoken = True

    def _acoustic_score(self) -> float:
        assert self._transcript is not None
        audio = self._turn_audio_for_acoustic(int(self._transcript.window_start * SAMPLE_RATE))
        (p,) = self.engines.turn.score([TurnRequest(audio=audio, transcript=self._transcript.text)])
        return float(p)

    def _turn_audio_for_acoustic(self, start: int) -> Audio:
        """The turn's audio up to now with its earlier pauses shortened (``shorten_pauses``; the
        current pause is kept whole): closer to the single utterances Smart Turn was trained on,
        since long silences inside its 8 s window read as a turn trailing off
        (``benchmarks/smart_turn_pauses.py`` measures the effect)."""
        audio = self._ring.slice(start, self._ring.end)
        gaps = [(a - start, b - start) for a, b in self._gaps]
        audio = shorten_pauses(audio, gaps, int(self.policy.acoustic_gap_s * SAMPLE_RATE))
        return audio[-int(8.0 * SAMPLE_RATE):]

    def _cues(self) -> Cues:
        assert self._transcript is not None
        if self._eager_words is not None:
            words = self._eager_words
        elif self._hyp:  # the latest decode of the window: the stabilised transcript can lag it
            words = monotone((*self._transcript.frozen, *self._hyp))  # ("738. 226." vs "738-226-19")
        else:
            words = self._transcript.words
        return Cues(silence_s=self._silence(), acoustic=tuple(self._asks), words=tuple(words),
                    soon_after_end=self._soon_after_end)

    def _features(self) -> tuple[float, ...]:
        return features(self._cues())

    def _fused(self) -> float:
        return self.policy.model.probability(self._features())

    def _slide_window(self) -> None:
        assert self._transcript is not None
        tr = self._transcript
        if self.now - tr.window_start > self.policy.max_window_s:
            tr.slide(self.now - self.policy.keep_after_slide_s)

    def _final_words(self) -> tuple[Word, ...]:
        """The turn's final words, from the whole window: the last partial when it already
        covers every sample of speech, else a fresh final decode."""
        assert self._transcript is not None
        tr = self._transcript
        before = tr.words
        covered = (self._hyp_final and not self._new_speech
                   and self._hyp_end >= int(self._last_speech * SAMPLE_RATE))
        hyp = self._hyp if covered else self._asr(tr.window_start, final=True)
        final = tr.finalize(hyp)
        return final if final else before

    def _eager(self) -> tuple[TurnEvent, Trigger | None]:
        words = self._final_words()
        if not words:
            return TurnEvent.UPDATE, None
        self._eager_words = words
        return self.machine.fire(Signal.EAGER), None

    def _end_turn(self, trigger: Trigger) -> tuple[TurnEvent, Trigger | None]:
        self._model_end_at = self._last_speech if trigger is Trigger.MODEL else None
        if self._eager_words is None:
            self._eager_words = self._final_words()
        return self.machine.fire(Signal.END), trigger

    # ------------------------------------------------------------------ emitting

    def _words_now(self) -> tuple[Word, ...]:
        if not self.machine.active and self._eager_words is None:
            return ()
        if self._eager_words is not None:
            return self._eager_words
        return self._transcript.words if self._transcript else ()

    def _emit(self, event: TurnEvent, trigger: Trigger | None) -> None:
        p = self.params
        words = self._words_now()
        if words and p.keyterms:
            words = apply_keyterms(words, p.keyterms)
        if words and (p.numerals or p.profanity_filter or p.redact):
            lang = self._language or (p.language_hints[0] if p.language_hints else "en")
            words = format_words(words, numerals_on=p.numerals, profanity_filter=p.profanity_filter,
                                 redact_modes=p.redact, lang=lang)
        multi = p.multilingual
        languages = ((self._language,) if (self._language and words) else ()) if multi else None
        hinted = p.language_hints if (multi and p.language_hints) else None
        confidence = self._confidence if (self.machine.active or event is TurnEvent.END_OF_TURN) else 0.0
        self._events.append(TurnInfo(
            event=event, turn_index=self.machine.turn_index, audio_window_start=self._window_start,
            audio_window_end=self.now, words=words, end_of_turn_confidence=confidence, trigger=trigger,
            languages=languages, languages_hinted=hinted))
        if event is TurnEvent.END_OF_TURN:
            self._after_end()

    def _after_end(self) -> None:
        self.machine.advance_index()
        self._window_start = self.now
        self._transcript = None
        self._eager_words = None
        self._asks = []
        self._confidence = 0.0
        self._speech_onset = None
        self._new_speech = False
        self._start_pending = False
        self._language = None
        self._hyp, self._hyp_end, self._hyp_final = (), 0, False

    # ------------------------------------------------------------------ control messages

    def _force_end_turn(self) -> None:
        if not self.machine.active:
            self._events.append(Warning(
                "FORCE_END_TURN_NO_ACTIVE_TURN",
                "Received ForceEndTurn while no turn was active; the request was ignored."))
            return
        event, trigger = self._end_turn(Trigger.MANUAL)
        self._emit(event, trigger)

    def _configure(self, msg: m.Configure) -> None:
        try:
            self.params = m.apply_configure(self.params, msg)
        except ConfigureRejected as exc:
            self._events.append(ConfigureFailure(exc.code, exc.description))
            return
        self._events.append(ConfigureSuccess(self.params))
