"""Speech activity of one stream: DC removal, the audio history, VAD bookkeeping, pauses.

Two clocks, both in stream samples at 16 kHz:

- ``received``: audio decoded so far. Frames enter the history (minus the stream's DC offset) as
  soon as they arrive, so VAD — a pure, causal function of the audio — can run ahead of the
  decisions and be batched with other streams.
- ``clock``: audio the session has *decided on*. It advances one frame at a time, and a frame's
  VAD chunks are applied only when the clock reaches them, so the speech state at every frame is
  the same however the audio was split or however late the VAD answered.

Speech rules: a chunk is speech at ``vad_on``, unless it would start speech after non-speech and
is ``echo_db`` below the stream's own recent speech (the other party leaking back on the line: once
a run of speech has started, its quiet chunks stay in it); a chunk heard as silence right after speech,
well above the noise floor, is the speech's unvoiced tail (Silero misses a soft "s" or a breath),
for at most ``tail_max_s``. Non-speech runs longer than ``acoustic_gap_s`` are kept as gaps
(Smart Turn hears them shortened). The latest pauses that speech resumed after are kept too:
they are this speaker's own holds, from which the end-of-turn model learns its patience.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from turnscribe.core.eot import PATIENCE_PAUSE_S, PATIENCE_RECENT
from turnscribe.types.engine import SAMPLE_RATE, Audio

DC_RATE = 0.05             # per-frame update of the DC estimate (time constant ~1.6 s)
OWN_LEVELS = 64            # the stream's own speech level: a high percentile of this many latest speech chunks ...
OWN_MEMORY_S = 30.0        # ... heard within this long (without recent speech there is no reference)
OWN_PERCENTILE = 90        # (its loud syllables: the median sits ~10 dB lower, and so an echo's peaks came within reach)
# Speech this soon after the stream's own speech is the speaker (a plosive's release after its
# closure, a quick resumption): the other party answers later than that, so no echo test then.
ECHO_AFTER_S = 0.5


@dataclass(frozen=True, slots=True)
class ActivityPolicy:
    vad_on: float = 0.5
    tail_db: float = 12.0
    tail_max_s: float = 0.25
    acoustic_gap_s: float = 0.15
    history_s: float = 32.0
    # VAD speech this far below the stream's own speech level is not the speaker: it is the other
    # party's voice leaking back (line echo, ~40 dB down) or a TV across the room. 0: off
    echo_db: float = 25.0


def levels_db(audio: Audio, chunk: int) -> npt.NDArray[np.float64]:
    """RMS level (dBFS) of each ``chunk``-sample piece of ``audio``."""
    x = audio[: len(audio) // chunk * chunk].reshape(-1, chunk).astype(np.float64)
    return np.asarray(10.0 * np.log10(np.mean(x * x, axis=1) + 1e-12), dtype=np.float64)


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


class AudioRing:
    """The last ``capacity`` samples of the stream, addressable by stream sample index."""

    def __init__(self, capacity: int) -> None:
        self._buf = np.zeros(capacity, dtype=np.float32)
        self.end = 0  # stream index one past the last sample

    @property
    def nbytes(self) -> int:
        return int(self._buf.nbytes)

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
        a, b = start % cap, (stop - 1) % cap + 1
        if a < b:  # one piece (read per VAD chunk and per decode: no index arrays)
            return self._buf[a:b].copy()
        return np.concatenate((self._buf[a:], self._buf[:b]))


class SpeechActivity:
    """See the module docstring. Times in seconds are stream seconds of the decision clock."""

    def __init__(self, policy: ActivityPolicy, chunk: int) -> None:
        self.policy = policy
        self.chunk = chunk
        self.ring = AudioRing(int(policy.history_s * SAMPLE_RATE))
        self.clock = 0                       # samples decided on
        self._dc = 0.0                       # running estimate of the input's DC offset
        self.vad_requested = 0               # stream index up to which VAD has been asked for
        self._probs: deque[float] = deque()  # VAD answers not yet applied, from index `_applied`
        self._applied = 0                    # stream index of the next chunk to apply
        self.last_speech = -1.0              # end time of the last speech chunk (tail included)
        self.speech_onset: float | None = None  # start of the speech run not yet in a turn
        self.speech_run = 0.0                # seconds of speech since onset
        self._floor_db: float | None = None  # noise floor: a running minimum of chunk levels
        self._voiced_end = -1                # sample after the last chunk the VAD called speech
        self._speech_end = -1                # ... after the last chunk of speech, its tail included
        self._gap_start: int | None = None   # sample where the current non-speech run began
        self.gaps: deque[tuple[int, int]] = deque(maxlen=512)  # earlier non-speech runs (samples)
        # the latest pauses (s) speech resumed after: the speaker's own pause lengths
        self.resumed_pauses: deque[float] = deque(maxlen=PATIENCE_RECENT)
        # the latest pause speech resumed after: (end of the speech before it, onset after it), s
        self.resumed_after: tuple[float, float] | None = None
        self._own: deque[tuple[float, float]] = deque(maxlen=OWN_LEVELS)  # (time, dBFS) of speech chunks

    # ------------------------------------------------------------------ clocks

    @property
    def now(self) -> float:
        return self.clock / SAMPLE_RATE

    @property
    def received(self) -> int:
        return self.ring.end

    @property
    def received_s(self) -> float:
        return self.ring.end / SAMPLE_RATE

    @property
    def backlog_s(self) -> float:
        """Audio received but not yet decided on (the stream's lag behind its input)."""
        return (self.ring.end - self.clock) / SAMPLE_RATE

    def push(self, frame: Audio) -> None:
        """Append a frame, minus the stream's DC offset (a slow running mean: a bias of the
        client's ADC must not look like speech or noise to the engines)."""
        frame = frame.astype(np.float32, copy=False)
        self._dc += DC_RATE * (float(frame.mean()) - self._dc) if len(frame) else 0.0
        self.ring.append(frame - np.float32(self._dc))

    def advance(self, samples: int) -> None:
        self.clock = min(self.clock + samples, self.ring.end)

    def audio(self, start: int, stop: int | None = None) -> Audio:
        """Decided-on audio from stream sample ``start`` (to ``stop``, at most the clock)."""
        return self.ring.slice(start, self.clock if stop is None else min(stop, self.clock))

    # ------------------------------------------------------------------ VAD

    def vad_todo(self) -> tuple[int, int] | None:
        """The next span of whole chunks to ask the VAD about (run-ahead), or None."""
        n = (self.ring.end - self.vad_requested) // self.chunk
        if n <= 0:
            return None
        return self.vad_requested, self.vad_requested + n * self.chunk

    def vad_asked(self, stop: int) -> None:
        self.vad_requested = stop

    def vad_answered(self, probs: npt.NDArray[np.float32]) -> None:
        self._probs.extend(float(p) for p in probs)

    def vad_ready(self) -> bool:
        """Every chunk that ends by the clock has its VAD answer."""
        needed = self.clock // self.chunk
        return self._applied // self.chunk + len(self._probs) >= needed

    def apply_vad(self, *, turn_active: bool) -> bool:
        """Apply the VAD answers of the chunks that end by the clock; True if any was speech."""
        c, pol = self.chunk, self.policy
        spoke = False
        while self._probs and self._applied + c <= self.clock:
            p = self._probs.popleft()
            chunk_start = self._applied
            self._applied += c
            level = float(levels_db(self.ring.slice(chunk_start, chunk_start + c), c)[0])
            floor = self._track_floor(level)
            t0, t1 = chunk_start / SAMPLE_RATE, (chunk_start + c) / SAMPLE_RATE
            onset = self._voiced_end != chunk_start  # speech starting (or resuming) after non-speech
            echo = onset and t0 - self.last_speech > ECHO_AFTER_S and self._far_below_own_speech(level, t0)
            if p < pol.vad_on or echo:
                if (self._speech_end == chunk_start and self._voiced_end >= 0
                        and chunk_start + c - self._voiced_end <= int(pol.tail_max_s * SAMPLE_RATE)
                        and level > floor + pol.tail_db):
                    self._speech_end = chunk_start + c  # the pause starts after the unvoiced tail
                    self.last_speech = t1
                    continue
                if self._gap_start is None:
                    self._gap_start = chunk_start
                continue
            if self._gap_start is not None:
                if chunk_start - self._gap_start > int(pol.acoustic_gap_s * SAMPLE_RATE):
                    self.gaps.append((self._gap_start, chunk_start))
                self._gap_start = None
            if self.last_speech >= 0 and PATIENCE_PAUSE_S[0] <= t0 - self.last_speech <= PATIENCE_PAUSE_S[1]:
                self.resumed_pauses.append(round(t0 - self.last_speech, 3))
            if self.last_speech >= 0 and t0 > self.last_speech:
                self.resumed_after = (self.last_speech, t0)
            if not turn_active and (self.speech_onset is None or t0 - self.last_speech > 0.3):
                self.speech_onset, self.speech_run = t0, 0.0
            self.speech_run += c / SAMPLE_RATE
            self._own.append((t0, level))
            self.last_speech = t1
            self._voiced_end = self._speech_end = chunk_start + c
            spoke = True
        return spoke

    def _far_below_own_speech(self, level: float, t: float) -> bool:
        """A chunk ``echo_db`` below the median level of the stream's latest speech (heard within
        ``OWN_MEMORY_S``) is someone else's voice. Its chunks never join that median, so the echo
        cannot drag the reference down; the speaker's own voice, louder, always can join it."""
        own = self._own
        while own and own[0][0] < t - OWN_MEMORY_S:
            own.popleft()
        if self.policy.echo_db <= 0 or len(own) < OWN_LEVELS // 4:
            return False
        return level < float(np.percentile([lv for _, lv in own], OWN_PERCENTILE)) - self.policy.echo_db

    def _track_floor(self, level: float) -> float:
        """Noise floor in dBFS: falls at once to a quieter chunk, rises 1.5 dB per second; never
        below -70 dBFS (digital silence would make any residue look like a tail)."""
        rise = 1.5 * self.chunk / SAMPLE_RATE
        self._floor_db = level if self._floor_db is None else min(level, self._floor_db + rise)
        return max(self._floor_db, -70.0)

    def forget_onset(self) -> None:
        """The speech since the onset is in no turn (a turn ended, or it was a noise)."""
        self.speech_onset = None

    @property
    def in_gap(self) -> bool:
        """The latest chunk applied was non-speech past any unvoiced tail (``silence()`` alone is
        also above 0 mid-speech, by the part of a chunk the clock has reached)."""
        return self._gap_start is not None

    def silence(self) -> float:
        return self.now - self.last_speech if self.last_speech >= 0 else self.now

    def acoustic_audio(self, start: int, keep_gap_s: float, window_s: float = 8.0, stop: int | None = None) -> Audio:
        """The turn's audio from ``start`` up to the clock (or ``stop``) with its earlier pauses
        shortened (``shorten_pauses``; the current pause is kept whole), at most the last ``window_s``."""
        audio = self.audio(start, stop)
        gaps = [(a - start, b - start) for a, b in self.gaps]
        audio = shorten_pauses(audio, gaps, int(keep_gap_s * SAMPLE_RATE))
        return audio[-int(window_s * SAMPLE_RATE):]
