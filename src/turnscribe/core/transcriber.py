"""The transcriber of one turn: which audio to decode, and what the decodes said.

It owns the turn's ``TurnTranscript`` (stable words) and the latest decode of the window
(``hyp``: its words, the stream sample it covers up to, whether it was a final-quality decode).
It builds ``AsrRequest``s and takes their results; it never runs a model.

Windows: a decode covers the turn from ``window_start`` to the decision clock. A live partial
decodes only the *tail*: the audio after the latest pause of the window before which every word is
committed (agreed by two decodes), or from just before the last two committed words if that is
later, with the words before it as the decoder's prompt and as the head of its words — the tokens
it decodes are those of the words still moving, not of the whole turn. A turn longer than
``max_window_s`` slides its window forward to a phrase boundary that leaves ``keep_after_slide_s``
to twice that in the window (earlier words are frozen and become the decoder prompt), so the audio
and compute per decode stay bounded. The frozen words are those of the latest final-quality decode,
so a long turn's final transcript is final-quality throughout.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.transcript import PROMPT_CHARS, TurnTranscript, after_frozen, join_words
from turnscribe.types.engine import SAMPLE_RATE, AsrRequest, AsrResult, Word
from turnscribe.wire.params import LANGUAGES, ListenParams

MIN_SLIDE_GAP_S = 0.1  # a sentence end followed by at least this much silence is a phrase boundary
SLIDE_MARGIN_S = 2.0   # a slid window is at least this much shorter than the maximum
ANCHOR_PREROLL_S = 0.2  # an anchored window starts this long before the speech that resumed ...
ANCHOR_CLEARANCE_S = 0.05  # ... and at least this long after the last frozen word
TAIL_GAP_S = 0.15   # a live partial may start in a pause of at least this much silence ...
MAX_GAPS = 16       # ... among the latest this many pauses of the turn
# ... or, later still, before the last this many committed words, decoded again (they anchor the
# tail's words to the committed ones and give the model the sound before its new speech; with one,
# Update precision fell from 90 to 80 % on long streams), from this long before the first of them
TAIL_OVERLAP_WORDS = 2
WORD_PREROLL_S = 0.2


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    max_window_s: float = 12.0
    keep_after_slide_s: float = 6.0
    # A window that already holds this much audio restarts at a pause of at least anchor_pause_s
    # that its final-quality decode covered: later decodes only transcribe the speech after it
    # (what came before is frozen, and the decoder's prompt), so a long turn costs each decode
    # the tokens since its last pause, not since its start. 0 turns anchoring off.
    anchor_after_s: float = 6.0
    anchor_pause_s: float = 0.25
    # English final-quality decodes in short windows too (6 s class instead of 10 s): a short reply's
    # decode takes ~85 instead of ~125 ms, but the short window often drops the final period the end
    # gate reads ("... the pound key." -> "... the pound key": that EndOfTurn was not sent; golden
    # traces) and French lost 5 words of 196 (eval wer), so it is off
    short_finals: bool = False
    tail_partials: bool = True  # live partials decode the audio after the committed words only
    word_tails: bool = True     # ... starting between two committed words, not only in a pause


class Transcriber:
    def __init__(self, policy: WindowPolicy) -> None:
        self.policy = policy
        self.transcript: TurnTranscript | None = None
        self.language: str | None = None
        self.hyp: tuple[Word, ...] = ()   # latest decode of the window ...
        self.hyp_end = 0                  # ... the stream sample it covers up to ...
        self.hyp_final = False            # ... and whether it was a final-quality decode
        self.settled: tuple[Word, ...] = ()  # the latest final-quality decode's words ...
        self.settled_end = 0.0               # ... and the stream second it covers up to
        self.gaps: list[tuple[float, float]] = []  # the turn's pauses: (end of speech, onset), s

    @property
    def active(self) -> bool:
        return self.transcript is not None

    def begin(self, start: float) -> None:
        self.transcript = TurnTranscript(start)

    def drop(self) -> None:
        """A start attempt found no words: there is no turn to transcribe."""
        self.transcript = None

    def update(self, words: tuple[Word, ...]) -> None:
        """Show a decode's words in the turn's transcript (its stable words follow them)."""
        assert self.transcript is not None
        self.transcript.update(words)

    def reset(self) -> None:
        self.transcript = None
        self.language = None
        self.hyp, self.hyp_end, self.hyp_final = (), 0, False
        self.settled, self.settled_end = (), 0.0
        self.gaps = []

    def heard_gap(self, pause_start: float, onset: float) -> None:
        """Speech resumed at ``onset`` after silence from ``pause_start``."""
        if onset - pause_start >= TAIL_GAP_S and (not self.gaps or self.gaps[-1][0] < pause_start):
            self.gaps.append((pause_start, onset))
            del self.gaps[:-MAX_GAPS]

    def tail_start(self) -> tuple[float, tuple[Word, ...]] | None:
        """Where a live partial starts decoding, and the words before it: the latest of a pause of
        the window with only committed words before it and none across it (``_gap_tail``) and the
        boundary before the last ``TAIL_OVERLAP_WORDS`` committed words (``_word_tail``). None:
        the whole window."""
        tr = self.transcript
        if tr is None or not tr.committed or not self.policy.tail_partials:
            return None
        starts = [t for t in (self._gap_tail(tr), self._word_tail(tr)) if t is not None]
        return max(starts, key=lambda t: t[0]) if starts else None

    def _gap_tail(self, tr: TurnTranscript) -> tuple[float, tuple[Word, ...]] | None:
        done = tr.committed[-1].end
        for start, onset in reversed(self.gaps):
            if start < tr.window_start:
                break
            if start > done + ANCHOR_CLEARANCE_S:
                continue  # words before this pause are still moving
            head = tuple(w for w in tr.committed if w.end <= start + ANCHOR_CLEARANCE_S)
            if not head or any(w.start < start for w in tr.committed[len(head):]):
                continue  # a word runs across the pause
            at = max(head[-1].end + ANCHOR_CLEARANCE_S, onset - ANCHOR_PREROLL_S)
            if at < onset:
                return at, head
        return None

    def _word_tail(self, tr: TurnTranscript) -> tuple[float, tuple[Word, ...]] | None:
        """Speech need not pause for its words to settle: in fluent speech the latest pause is often
        seconds back while the committed words reach to ~1 s before now, and a partial decodes every
        token from its start. Word times are off by tens of ms, so the audio starts a little before
        the overlap (at most into the word before it, whose text is in the prompt)."""
        k = len(tr.committed) - TAIL_OVERLAP_WORDS
        if not self.policy.word_tails or k < 1:
            return None
        before, first = tr.committed[k - 1], tr.committed[k]
        return max(before.start + ANCHOR_CLEARANCE_S, first.start - WORD_PREROLL_S), tuple(tr.committed[:k])

    def request(self, activity: SpeechActivity, params: ListenParams, *, final: bool,
                live: bool = False, until: int | None = None, head: tuple[Word, ...] = (),
                head_start: float = 0.0) -> AsrRequest:
        """A decode of the turn's window up to the clock, or to stream sample ``until`` (sliding
        the window first if long). ``live``: a refresh of the partial transcript while the user
        speaks (short window). ``head``: words before ``head_start`` taken as they are (a tail
        partial, ``tail_start``): only the audio after it is decoded, with them as the prompt."""
        tr = self.transcript
        assert tr is not None
        if activity.now - tr.window_start > self.policy.max_window_s:
            at, settled = self._slide_point(tr, activity.now)
            tr.slide(at, settled)
            self.settled = tuple(w for w in self.settled if w.end > at)
        language = params.language_hints[0] if len(params.language_hints) == 1 else None
        if not params.multilingual:
            language = "en"
        start, prompt = tr.window_start, tr.prompt
        if head:
            start, prompt = head_start, join_words((*tr.frozen, *head))[-PROMPT_CHARS:]
            language = language or self.language  # a short tail is no basis to detect a language
        return AsrRequest(
            audio=activity.audio(int(start * SAMPLE_RATE), until), offset=start, final=final,
            prompt=prompt, keyterms=params.keyterms, language=language,
            languages=params.language_hints or LANGUAGES,
            short_window=live or (final and self.policy.short_finals and not params.multilingual))

    def _slide_point(self, tr: TurnTranscript, now: float) -> tuple[float, tuple[Word, ...] | None]:
        """Where a long window restarts, and the words to freeze before it. Preferably at the
        earliest sentence end, else the widest gap, between the words of the latest final-quality
        decode that leaves between ``keep_after_slide_s`` and twice that of audio in the window:
        the next decodes then start at a phrase boundary with as much context as the window
        allows, and the frozen words are final-quality. Without such a gap, at
        ``now - keep_after_slide_s`` with the transcript's own words."""
        keep = self.policy.keep_after_slide_s
        words = [w for w in self.settled if w.start >= tr.window_start - 0.05]
        gaps = [((a.end + b.start) / 2, b.start - a.end, a.text.endswith((".", "?", "!")))
                for a, b in itertools.pairwise(words)]
        # the window left must be short enough not to slide again at the next decode
        earliest = now - max(min(2 * keep, self.policy.max_window_s - SLIDE_MARGIN_S), keep)
        gaps = [g for g in gaps if earliest <= g[0] <= min(now - keep, self.settled_end)]
        # Whisper's word times often run words together: a sentence end is a phrase boundary
        # even without a measurable gap, a wide gap one even without a full stop
        ends = [g for g in gaps if g[2] and g[1] >= MIN_SLIDE_GAP_S] or [g for g in gaps if g[2]]
        wide = [g for g in gaps if g[1] >= MIN_SLIDE_GAP_S]
        if ends:
            return ends[0][0], tuple(words)
        if wide:
            return max(wide, key=lambda g: g[1])[0], tuple(words)
        return now - keep, None

    def anchor(self, pause_start: float, onset: float) -> bool:
        """Speech resumed at ``onset`` after a pause that began at ``pause_start``: restart the
        window in that pause when the latest decode is final-quality and covers the speech before
        it, and the window is long enough to be worth it. True if the window moved."""
        tr, pol = self.transcript, self.policy
        if (tr is None or pol.anchor_after_s <= 0 or not self.hyp_final or not self.hyp
                or onset - pause_start < pol.anchor_pause_s
                or pause_start - tr.window_start < pol.anchor_after_s
                or self.hyp_end < int(pause_start * SAMPLE_RATE)):
            return False
        at = max(self.hyp[-1].end + ANCHOR_CLEARANCE_S, onset - ANCHOR_PREROLL_S)  # words are monotone
        if at >= onset:
            return False
        tr.slide(at, self.hyp)
        self.settled = ()
        return tr.window_start >= at

    def took(self, res: AsrResult | None, *, covers: int, final: bool,
             head: tuple[Word, ...] = ()) -> tuple[Word, ...]:
        """Record a decode's result (None: the scheduler dropped it) as the latest hypothesis
        (after ``head``, the words before a tail partial's audio)."""
        words = (*head, *res.words) if res is not None else ()
        if res is not None and res.words and res.language:
            self.language = res.language
        self.hyp, self.hyp_end, self.hyp_final = words, covers, final
        if final and res is not None:
            self.settled, self.settled_end = words, covers / SAMPLE_RATE
        return words

    def anchorable(self, pause_start: float, silence_s: float) -> bool:
        """A pause that began at ``pause_start`` and has lasted ``silence_s`` is one the window
        can restart at (``anchor``) once a final-quality decode covers the speech before it: the
        window holds ``anchor_after_s`` and the pause ``anchor_pause_s``."""
        tr, pol = self.transcript, self.policy
        return (tr is not None and pol.anchor_after_s > 0 and silence_s >= pol.anchor_pause_s
                and pause_start - tr.window_start >= pol.anchor_after_s)

    def covered(self, speech_end: int) -> bool:
        """The latest decode is final-quality and covers every sample of speech."""
        return self.hyp_final and self.hyp_end >= speech_end

    def latest_words(self) -> tuple[Word, ...]:
        """The transcript as the latest decode has it (the stabilised words can lag it: a number
        re-formatted with the digits that followed, "738. 226." vs "738-226-19")."""
        tr = self.transcript
        assert tr is not None
        return after_frozen(tr.frozen, self.hyp) if self.hyp else tr.words
