"""Per-turn transcript bookkeeping: agreed words stay fixed, only the tail may change.

A turn is re-transcribed as it grows. Words that two consecutive hypotheses agree on
(LocalAgreement-2) are *committed*: they do not change again in an ``Update``, with one exception:
when a new hypothesis merges committed words with new speech into a word of its own (a number
dictated in groups, "738. 226." then "738-226-19"), the merged word replaces them, so the new
speech is not lost. The rest of the latest hypothesis is the *tail*. Times are stream seconds.

For long turns the ASR window slides: words that end well before the window's new start are
*frozen* (kept as text and passed as the decoder prompt), so audio and compute stay bounded
however long the speaker talks.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

from turnscribe.types.engine import Word

_PUNCT = re.compile(r"[^\w']+", re.UNICODE)
PROMPT_CHARS = 200    # the decoder's prompt: the last this many characters said before its audio
REVISE_AFTER_S = 0.15  # a re-formatted word must reach this far past the committed words to revise them


def norm_word(text: str) -> str:
    return _PUNCT.sub("", text.lower())


def monotone(words: Sequence[Word]) -> tuple[Word, ...]:
    """Words whose spans never go back in time: pieces from different decodes can overlap by a
    few milliseconds; each word starts no earlier than the previous one ended."""
    out: list[Word] = []
    for w in words:
        if out and w.start < out[-1].end:
            start = out[-1].end
            w = Word(w.text, start, max(w.end, start), w.confidence)
        out.append(w)
    return tuple(out)


def after_frozen(frozen: Sequence[Word], rest: Sequence[Word]) -> tuple[Word, ...]:
    """``frozen`` then ``rest``. A decode that ended at a pause closes its text with a full stop;
    when the decode after the pause goes on in lower case, the sentence went on, and the stop
    goes ("Please enter your. agent number" -> "Please enter your agent number")."""
    if frozen and rest and rest[0].text[:1].islower() and frozen[-1].text.endswith("."):
        last = frozen[-1]
        frozen = [*frozen[:-1], Word(last.text.rstrip("."), last.start, last.end, last.confidence)]
    return monotone((*frozen, *rest))


def join_words(words: Sequence[Word]) -> str:
    return " ".join(w.text for w in words)


class TurnTranscript:
    """Words of the current turn. ``window_start`` is where the next ASR window begins."""

    def __init__(self, window_start: float) -> None:
        self.window_start = window_start
        self.frozen: list[Word] = []      # before window_start: never re-transcribed
        self.committed: list[Word] = []   # inside the window, agreed by two hypotheses
        self.tail: list[Word] = []        # latest hypothesis after the committed words
        self._prev_tail: list[Word] = []

    @property
    def words(self) -> tuple[Word, ...]:
        return after_frozen(self.frozen, (*self.committed, *self.tail))

    @property
    def text(self) -> str:
        return join_words(self.words)

    @property
    def prompt(self) -> str:
        """Text said before the ASR window (decoder context)."""
        return join_words(self.frozen)[-PROMPT_CHARS:]

    def _after_committed(self, hyp: Sequence[Word]) -> list[Word]:
        """The part of ``hyp`` after the committed words: the committed text is aligned to the
        hypothesis word by word (the model may re-split or re-spell earlier words), so the
        committed words are never repeated or lost."""
        if not self.committed:
            return list(hyp)
        a = [norm_word(w.text) for w in self.committed]
        b = [norm_word(w.text) for w in hyp]
        blocks = [m for m in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks() if m.size]
        if not blocks:
            boundary = self.committed[-1].end - 0.05
            return [w for w in hyp if w.start >= boundary]
        last = blocks[-1]
        end_b = min(last.b + last.size + (len(a) - (last.a + last.size)), len(b))
        # A word the alignment placed among the committed ones but matched to none of them, and
        # that runs past the committed words' end, carries new speech: the model re-formatted the
        # end of the turn ("738. 226." -> "738-226-19"). Those committed words give way to it.
        matched = {j for m in blocks for j in range(m.b, m.b + m.size)}
        committed_end = self.committed[-1].end
        for j in range(end_b):
            if j not in matched and hyp[j].end > committed_end + REVISE_AFTER_S:
                self.committed = [w for w in self.committed if (w.start + w.end) / 2 < hyp[j].start]
                return list(hyp[j:])
        return list(hyp[end_b:])

    def update(self, hyp: Sequence[Word]) -> None:
        """Take a new hypothesis of the whole window; commit what it agrees on with the last one."""
        new_tail = self._after_committed(hyp)
        agreed = 0
        for a, b in zip(self._prev_tail, new_tail, strict=False):  # the common head
            if norm_word(a.text) != norm_word(b.text):
                break
            agreed += 1
        self.committed.extend(new_tail[:agreed])
        self.tail = new_tail[agreed:]
        self._prev_tail = list(self.tail)

    def finalize(self, hyp: Sequence[Word]) -> tuple[Word, ...]:
        """The turn's final words: frozen text + the final hypothesis of the window."""
        final = after_frozen(self.frozen, hyp)
        self.committed, self.tail, self._prev_tail = list(hyp), [], []
        return final

    def slide(self, new_start: float, settled: Sequence[Word] | None = None) -> None:
        """Freeze the words that end by ``new_start`` and move the window start there. ``settled``:
        a final-quality decode of the window that covers ``new_start``; its words are the ones
        frozen (the committed words may come from cheaper partial decodes)."""
        words = [*self.committed, *self.tail]
        source = words if settled is None else [w for w in settled if w.start >= self.window_start - 0.05]
        self.frozen.extend(w for w in source if w.end <= new_start)
        self.committed = [w for w in self.committed if w.end > new_start]
        self.tail = [w for w in self.tail if w.end > new_start]
        self._prev_tail = list(self.tail)
        open_words = [*self.committed, *self.tail]
        if open_words:  # never split a word: the window starts at the first word still open
            new_start = min(new_start, open_words[0].start)
        self.window_start = max(self.window_start, new_start)
