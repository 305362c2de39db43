"""Text options that change words: ``numerals``, ``profanity_filter``, ``redact`` (§2.1).

Formatting maps the recognised words to the words sent, keeping ``words[]`` and ``transcript``
in step: when several spoken words become one token ("four one five" → "415") the token spans
the first word's start to the last word's end, with the lowest confidence among them. It is a
pure function of (words, options), so the same turn always formats the same way.

- numerals: spelled numbers → digits with ``text_to_num.alpha2digit`` (the ``text2num``
  library), small ones included ("press one" → "press 1"); consecutive spoken digits join into one
  digit string ("four one five" → "415"; English "oh" among digits is a zero: "six oh one" →
  "601"), each group as spoken ("seven three eight, two two six" → "738, 226"); an hour and minutes
  after "at"/"by"/… or before "pm"/"tonight"/… are a time ("at seven thirty" → "at 7:30"); a
  year said in halves is one number ("twenty nineteen" → "2019").
  Without ``numerals`` numbers stay words: the ASR writes them so (Flux's default form).
- profanity_filter: words of ``better_profanity``'s word list → first letter + asterisks.
- redact: ``numbers`` replaces numbers of three or more digits (card, account, phone numbers),
  ``aggressive_numbers`` every number, with ``[NUMBER]``.
"""

from __future__ import annotations

import functools
import importlib.resources
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

from text_to_num import alpha2digit

from turnscribe.types.engine import Word

REDACTED = "[NUMBER]"
_LANGS = {"en", "es", "fr", "de", "pt", "it", "nl"}  # languages text2num handles (of the Flux hints)
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.UNICODE)
_DIGITS = re.compile(r"\d")


def _split(text: str) -> tuple[str, str, str]:
    m = _EDGE.match(text)
    assert m is not None
    return m.group(1), m.group(2), m.group(3)


def _merge(words: Sequence[Word], text: str) -> Word:
    return Word(text=text, start=words[0].start, end=words[-1].end,
                confidence=min(w.confidence for w in words))


def _convert(core: str, lang: str) -> str:
    return cast(str, alpha2digit(core, lang, threshold=0))


# English "oh" said for zero inside a digit string ("six oh one")
_ZERO_WORDS = {"en": frozenset({"oh", "o"})}
# a time is an hour and minutes next to one of these words
_TIME_BEFORE = {"en": frozenset({"at", "by", "around", "until", "till", "before", "after", "from", "since"})}
_TIME_AFTER = {"en": frozenset({"am", "pm", "a.m.", "p.m.", "tonight", "today", "tomorrow", "o'clock",
                                "sharp", "in"})}


_CONNECTORS = {"en": {"and", "a"}, "es": {"y"}, "fr": {"et"}, "de": {"und"}, "pt": {"e"}, "it": set(),
               "nl": {"en"}}


@functools.lru_cache(maxsize=4096)
def _is_number_word(core: str, lang: str) -> bool:
    return core.isdigit() or (bool(core) and alpha2digit(core, lang, threshold=0) != core)


def _number_core(words: Sequence[Word], k: int, lang: str) -> str:
    """Word ``k``'s core as text2num should read it: a zero-word next to a number is "zero"."""
    core = _split(words[k].text)[1].lower()
    if core in _ZERO_WORDS.get(lang, ()):
        near = [_split(words[x].text)[1].lower() for x in (k - 1, k + 1) if 0 <= x < len(words)]
        if any(_is_number_word(c, lang) for c in near):
            return "zero"
    return core


def _runs(words: Sequence[Word], lang: str) -> list[tuple[int, int]]:
    """Maximal [i, j) runs of number words (connectors such as "and" allowed inside), never
    crossing punctuation."""
    runs, i, n = [], 0, len(words)
    while i < n:
        if not _is_number_word(_number_core(words, i, lang), lang):
            i += 1
            continue
        j = i
        while j < n:
            lead, _, trail = _split(words[j].text)
            if j > i and lead:
                break
            core = _number_core(words, j, lang)
            if not _is_number_word(core, lang):
                nxt = _split(words[j + 1].text)[1].lower() if j + 1 < n else ""
                if trail or core not in _CONNECTORS.get(lang, set()) or not _is_number_word(nxt, lang):
                    break
            j += 1
            if trail:
                break
        runs.append((i, j))
        i = max(j, i + 1)
    return runs


def numerals(words: Sequence[Word], lang: str = "en") -> list[Word]:
    """Spelled numbers → digits, word timings preserved (see module docstring)."""
    if lang not in _LANGS:
        return list(words)
    out: list[Word] = []
    last = 0
    for i, j in _runs(words, lang):
        run = words[i:j]
        cores = [_number_core(words, k, lang) for k in range(i, j)]
        core = " ".join(cores)
        conv = _convert(core, lang)
        out.extend(words[last:i])
        last = j
        if conv == core:
            out.extend(run)
            continue
        lead, trail = _split(run[0].text)[0], _split(run[-1].text)[2]
        tokens = conv.split()
        digits = [_convert(c, lang) for c in cores]
        if len(digits) > 1 and all(len(d) == 1 and d.isdigit() for d in digits):
            tokens = digits  # a spoken digit string, zeros included: "6 0 1"
        time = _as_time(tokens) if _time_context(words, i, j, lang) else None
        if time is not None:
            out.append(_merge(run, lead + time + trail))
            continue
        if len(tokens) > 1 and all(len(t) == 1 and t.isdigit() for t in tokens):
            tokens = ["".join(tokens)]  # spoken digit strings: "4 1 5" → "415"
        elif _is_year(tokens):
            tokens = ["".join(tokens)]  # "nineteen ninety nine" → "1999"
        out.extend(_assign(run, tokens, lead, trail, lang, cores))
    out.extend(words[last:])
    return out


def _time_context(words: Sequence[Word], i: int, j: int, lang: str) -> bool:
    before = _split(words[i - 1].text)[1].lower() if i > 0 else ""
    after = words[j].text.lower().rstrip(",.;!?") if j < len(words) else ""
    return before in _TIME_BEFORE.get(lang, ()) or after in _TIME_AFTER.get(lang, ())


def _as_time(tokens: Sequence[str]) -> str | None:
    """"7 30" / "7 0 5" (seven oh five) → "7:30" / "7:05" when they read as an hour and minutes."""
    if not all(t.isdigit() for t in tokens) or not 1 <= len(tokens) <= 3 or not 1 <= int(tokens[0]) <= 12:
        return None
    if len(tokens) == 2 and len(tokens[1]) == 2 and 10 <= int(tokens[1]) <= 59:
        return f"{tokens[0]}:{tokens[1]}"
    if len(tokens) == 3 and tokens[1] == "0" and len(tokens[2]) == 1:
        return f"{tokens[0]}:0{tokens[2]}"
    return None


def _is_year(tokens: Sequence[str]) -> bool:
    """Two two-digit numbers, the first 10-20: a year said in halves ("twenty nineteen")."""
    return (len(tokens) == 2 and all(len(t) == 2 and t.isdigit() for t in tokens)
            and 10 <= int(tokens[0]) <= 20)


def _assign(run: Sequence[Word], tokens: list[str], lead: str, trail: str, lang: str,
            cores: Sequence[str]) -> list[Word]:
    """Give each output token the words it came from (greedy: the shortest prefix that converts
    to that token), the last token taking the rest."""
    out: list[Word] = []
    k = 0
    for n, tok in enumerate(tokens):
        if n == len(tokens) - 1:
            span = run[k:]
        else:
            end = k + 1
            while end < len(run) and _convert(" ".join(cores[k:end]), lang) != tok:
                end += 1
            span = run[k:end]
        if not span:
            span = run[-1:]
        out.append(_merge(span, tok))
        k += len(span)
    out[0] = replace(out[0], text=lead + out[0].text)
    out[-1] = replace(out[-1], text=out[-1].text + trail)
    return out


@functools.lru_cache(maxsize=1)
def _profane() -> frozenset[str]:
    text = (importlib.resources.files("better_profanity") / "profanity_wordlist.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def censor(words: Sequence[Word]) -> list[Word]:
    bad = _profane()
    out = []
    for w in words:
        lead, core, trail = _split(w.text)
        if core.lower() in bad:
            w = replace(w, text=lead + core[0] + "*" * (len(core) - 1) + trail)
        out.append(w)
    return out


def redact(words: Sequence[Word], modes: Sequence[str], lang: str = "en") -> list[Word]:
    """Numbers (spelled or in digits) → ``[NUMBER]``; other words untouched."""
    if not modes:
        return list(words)
    aggressive = "aggressive_numbers" in modes
    out: list[Word] = []
    last = 0
    for i, j in _runs(words, lang) if lang in _LANGS else [(k, k + 1) for k in range(len(words))]:
        run = words[i:j]
        out.extend(words[last:i])
        last = j
        core = " ".join(_split(w.text)[1] for w in run)
        digits = len(_DIGITS.findall(_convert(core, lang) if lang in _LANGS else core))
        if digits and (aggressive or digits >= 3):
            out.append(_merge(run, _split(run[0].text)[0] + REDACTED + _split(run[-1].text)[2]))
        else:
            out.extend(run)
    out.extend(words[last:])
    return out


def format_words(words: Sequence[Word], *, numerals_on: bool = False, profanity_filter: bool = False,
                 redact_modes: Sequence[str] = (), lang: str = "en") -> tuple[Word, ...]:
    out = list(words)
    if redact_modes:
        out = redact(out, redact_modes, lang)
    if numerals_on:
        out = numerals(out, lang)
    if profanity_filter:
        out = censor(out)
    return tuple(out)
