"""Keyterm correction: snap near-misses of the user's keyterms onto their exact spelling.

The ASR is already biased towards the keyterms (they go into the decoder prompt). What still
slips through is usually a near-miss — "deep gram" for "Deepgram", "weasel's" for "weasels",
"Turn scribe" for "turnscribe". Here every span of one to (terms' words + 1) recognised words
is compared with each keyterm on letters (``rapidfuzz`` similarity) and on sound
(``jellyfish`` Metaphone); a close enough span that the ASR was unsure of is replaced by the
keyterm's words, spread over the span's time, keeping the span's outer punctuation and lowest
confidence.

Pure and deterministic: the same words and keyterms always give the same output.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import jellyfish
from rapidfuzz import fuzz

from turnscribe.types.engine import Word

MIN_LETTERS = 4        # shorter keyterms are only ever matched exactly (too many near-misses)
SPELLING_MIN = 85.0    # letter similarity (0-100) that is enough on its own ...
SOUND_SPELLING_MIN = 75.0  # ... or this much when the two also sound the same (Metaphone)
# A span the ASR was sure of ("first", "decrease", "who lives") is left alone: keyterm near-misses
# are the words the model hesitated on. Exact (case/punctuation-only) matches always apply.
SNAP_MAX_CONFIDENCE = 0.75
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.UNICODE)
_LETTERS = re.compile(r"[^a-z0-9]+")


def _letters(text: str) -> str:
    return _LETTERS.sub("", text.lower())


@dataclass(frozen=True, slots=True)
class _Term:
    text: str
    tokens: tuple[str, ...]
    letters: str
    sound: str


@functools.lru_cache(maxsize=256)
def _prepare(keyterms: tuple[str, ...]) -> tuple[_Term, ...]:
    out = []
    for k in keyterms:
        letters = _letters(k)
        if letters:
            out.append(_Term(k, tuple(k.split()), letters, jellyfish.metaphone(letters)))
    return tuple(sorted(out, key=lambda t: -len(t.tokens)))


def _match(span_letters: str, term: _Term) -> bool:
    if span_letters == term.letters:
        return True
    if len(term.letters) < MIN_LETTERS or not span_letters:
        return False
    if abs(len(span_letters) - len(term.letters)) > max(2, len(term.letters) // 4):
        return False  # never swallow a neighbouring word
    score = fuzz.ratio(span_letters, term.letters)
    if score >= SPELLING_MIN:
        return True
    return score >= SOUND_SPELLING_MIN and jellyfish.metaphone(span_letters) == term.sound


def _replace(span: Sequence[Word], term: _Term) -> list[Word]:
    lead = _EDGE.match(span[0].text).group(1)  # type: ignore[union-attr]
    trail = _EDGE.match(span[-1].text).group(3)  # type: ignore[union-attr]
    start, end = span[0].start, span[-1].end
    n = len(term.tokens)
    step = (end - start) / n
    conf = min(w.confidence for w in span)
    out = []
    for i, tok in enumerate(term.tokens):
        text = (lead if i == 0 else "") + tok + (trail if i == n - 1 else "")
        out.append(Word(text, round(start + i * step, 3), round(start + (i + 1) * step, 3), conf))
    return out


def apply_keyterms(words: Sequence[Word], keyterms: Sequence[str]) -> tuple[Word, ...]:
    if not keyterms or not words:
        return tuple(words)
    terms = _prepare(tuple(keyterms))
    out: list[Word] = []
    i = 0
    while i < len(words):
        for term in terms:
            hit = None
            for n in range(max(1, len(term.tokens) - 1), len(term.tokens) + 2):
                span = words[i:i + n]
                if len(span) < n:
                    break
                if [_EDGE.match(w.text).group(2) for w in span] == list(term.tokens):  # type: ignore[union-attr]
                    hit = span  # already exact: keep it as it is
                    break
                letters = "".join(_letters(w.text) for w in span)
                unsure = min(w.confidence for w in span) < SNAP_MAX_CONFIDENCE
                if (letters == term.letters or unsure) and _match(letters, term):
                    hit = span
                    break
            if hit is not None:
                exact = [_EDGE.match(w.text).group(2) for w in hit] == list(term.tokens)  # type: ignore[union-attr]
                out.extend(hit if exact else _replace(hit, term))
                i += len(hit)
                break
        else:
            out.append(words[i])
            i += 1
    return tuple(out)
