"""``turnscribe eval wer --data DIR``: word error rate through the real streaming Session.

For every row of ``DIR/manifest.tsv`` (sets chosen with ``--sets``; ``turns`` is not a WER set):

* **streaming**: the file is replayed through a real ``Session`` (``eval.replay.replay_file``: containers
  as bytes, ``.raw`` as linear16 at the row's ``sample_rate``) with ``flux-general-en`` for English sets
  and ``flux-general-multi`` + ``language_hint`` for ``multi_<lang>`` sets. Hypothesis =
  ``Replay.final_text()`` (every ended turn plus the open turn's words at the end of the stream).
* **offline** (unless ``--no-offline``): the same ASR engine the session used transcribes the whole
  decoded utterance in one ``AsrRequest(final=True)`` with the same language. Streaming penalty =
  streaming WER / offline WER.
* ``--force-end`` (diagnostic): send ``ForceEndTurn`` right after the last audio byte, before
  ``CloseStream``, so a turn still open at the end of the file ends with a final decode (an
  ``EndOfTurn``) instead of its last ``Update``. Without it, a clip whose trailing silence is too short
  for an end of turn is scored on the open turn's partial-quality words.

Scoring: both sides are normalised the same way, then jiwer aligns words. English:
``whisper_normalizer``'s ``EnglishTextNormalizer`` (case, punctuation, spelled numbers -> digits,
fillers "um"/"uh" removed) plus "ok" -> "okay". Other languages: ``BasicTextNormalizer`` with
diacritics removed (the Asterisk es/fr prompt scripts drop accents inconsistently: "numero",
"contrasenas"). Set WER is corpus-level: sum of errors / sum of reference words.

**Strict Flux form** (``strict``): the same alignment with numbers *not* folded — lower case,
punctuation removed (apostrophes kept, hyphens split words), fillers dropped, "ok" -> "okay" — so a
digit where the reference (numbers as spoken words, Flux's default) has words is an error.

**First-partial precision**: per turn, the share of the first partial's words (the first
``TurnInfo`` of the turn with words, usually ``StartOfTurn``) that survive into its ``EndOfTurn``
transcript (aligned in order, normalised as above); set figure = surviving words / first-partial
words over all turns. **Update precision**: the same over every transcript a turn showed before
its end (StartOfTurn and each Update): how much of what the live transcript said the final kept.

Non-speech: every clip of ``DIR/turns/labels.jsonl`` whose kind starts with ``silence_only`` or
``noise_only`` is replayed the same way (``flux-general-en``); the words in its final text are counted
(target 0), and so are the most words any single event showed (a transient partial).

RTF = session compute time (wall time inside the session, engines included) / audio seconds, with
the engines' thread settings (one intra-op thread by default). "RTF cpu" uses this process's CPU time
instead of wall time: on a shared machine it is the steadier number (wall time includes waiting for a
core).
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from turnscribe.types.engine import SAMPLE_RATE

__all__ = ["Score", "add_command", "corpus_wer", "normalise", "run", "score"]

NON_SPEECH_KINDS = ("silence_only", "noise_only")
EXCLUDED_SETS = ("turns",)
MULTI_PREFIX = "multi_"


# ------------------------------------------------------------------ scoring


@cache
def _normaliser(language: str) -> Callable[[str], str]:
    if language == "en":
        from whisper_normalizer.english import EnglishTextNormalizer

        eng = EnglishTextNormalizer()
        return lambda s: " ".join("okay" if w == "ok" else w for w in eng(s).split())
    from whisper_normalizer.basic import BasicTextNormalizer

    basic = BasicTextNormalizer(remove_diacritics=True)
    return lambda s: " ".join(basic(s).split())


def normalise(text: str, language: str = "en") -> str:
    """Text as scored: lower case, no punctuation, numbers as digits (English); words joined by one space."""
    return _normaliser(language)(text)


_FILLERS = frozenset({"um", "uh", "hmm", "mm", "er", "ah", "erm", "uhm"})
_STRICT_DROP = re.compile(r"[^\w\s']", re.UNICODE)


def strict_normalise(text: str, language: str = "en") -> str:
    """Flux-form text: lower case, no punctuation (apostrophes kept), fillers dropped; numbers
    left as written, so digits never match spelled-out reference words."""
    if language != "en":
        return normalise(text, language)
    words = _STRICT_DROP.sub(" ", text.lower().replace("-", " ")).split()
    return " ".join("okay" if w == "ok" else w.strip("'") for w in words if w not in _FILLERS and w.strip("'"))


@dataclass(frozen=True, slots=True)
class Score:
    """Word alignment counts of one hypothesis against one reference (or sums of them)."""

    ref_words: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def wer(self) -> float | None:
        return self.errors / self.ref_words if self.ref_words else None

    def __add__(self, other: Score) -> Score:
        return Score(self.ref_words + other.ref_words, self.substitutions + other.substitutions,
                     self.deletions + other.deletions, self.insertions + other.insertions)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors, "wer": self.wer}


def score(reference: str, hypothesis: str, language: str = "en", *, strict: bool = False) -> Score:
    """Align the normalised ``hypothesis`` to the normalised ``reference`` (``strict``: Flux form)."""
    norm = strict_normalise if strict else normalise
    ref, hyp = norm(reference, language), norm(hypothesis, language)
    if not ref:
        return Score(0, 0, 0, len(hyp.split()))
    if not hyp:
        return Score(len(ref.split()), 0, len(ref.split()), 0)
    import jiwer

    o = jiwer.process_words(ref, hyp)
    return Score(len(ref.split()), o.substitutions, o.deletions, o.insertions)


def surviving_words(first: str, final: str, language: str = "en") -> tuple[int, int]:
    """(words of ``first`` that the ``final`` transcript keeps, in order; words of ``first``)."""
    a, b = normalise(first, language).split(), normalise(final, language).split()
    if not a:
        return 0, 0
    import difflib

    kept = sum(m.size for m in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_matching_blocks())
    return kept, len(a)


def turn_partials(events: Sequence[Any]) -> list[tuple[list[str], str]]:
    """(every transcript with words a turn showed before its end, in order; its EndOfTurn
    transcript) of every ended turn."""
    from turnscribe.wire.events import TurnEvent, TurnInfo

    shown: dict[int, list[str]] = {}
    out = []
    for e in events:
        if not isinstance(e, TurnInfo):
            continue
        if e.event is TurnEvent.END_OF_TURN:
            if e.turn_index in shown:
                out.append((shown[e.turn_index], e.transcript))
        elif e.transcript:
            shown.setdefault(e.turn_index, []).append(e.transcript)
    return out


def first_partials(events: Sequence[Any]) -> list[tuple[str, str]]:
    """(first partial with words, EndOfTurn transcript) of every ended turn."""
    return [(shown[0], final) for shown, final in turn_partials(events)]


def corpus_wer(scores: Iterable[Score]) -> float | None:
    """Corpus-level WER: total errors / total reference words (None without reference words)."""
    return sum(scores, Score()).wer


# ------------------------------------------------------------------ data


def read_manifest(data: Path) -> list[dict[str, str]]:
    with open(data / "manifest.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def set_language(set_name: str) -> str:
    return set_name[len(MULTI_PREFIX):].split("_")[0] if set_name.startswith(MULTI_PREFIX) else "en"


def params_for(set_name: str):  # type: ignore[no-untyped-def]
    from turnscribe.wire.params import ListenParams

    lang = set_language(set_name)
    if set_name.startswith(MULTI_PREFIX):
        return ListenParams(model="flux-general-multi", language_hints=(lang,))
    return ListenParams(model="flux-general-en")


def _words_in_events(events: Sequence[Any]) -> int:
    return max((len(getattr(e, "words", ()) or ()) for e in events), default=0)


def _open_turn_text(rep: Any) -> str:
    """Words of a turn still open when the stream closed (included in ``final_text``)."""
    from turnscribe.wire.events import TurnEvent

    ti = rep.turninfos
    return ti[-1].transcript if ti and ti[-1].event is not TurnEvent.END_OF_TURN else ""


def _command(args: argparse.Namespace) -> str:
    parts = ["turnscribe", "eval", "wer", "--data", str(args.data), "--asr-model", args.asr_model]
    for opt in ("sets", "limit", "out"):
        if getattr(args, opt) is not None:
            parts += [f"--{opt}", str(getattr(args, opt))]
    if args.no_offline:
        parts.append("--no-offline")
    if args.force_end:
        parts.append("--force-end")
    return shlex.join(parts)


def _replay(path: Path, engines: Any, params: Any, rate: int, *, force_end: bool) -> Any:
    from turnscribe.eval.replay import replay_bytes, replay_file, stream_params

    if not force_end:
        return replay_file(path, engines, params=params, raw_rate=rate)
    p = stream_params(path, base=params, raw_rate=rate)
    data = path.read_bytes()
    frame_bytes = max(1, int((p.sample_rate or SAMPLE_RATE) * 2 * 0.08))
    return replay_bytes(data, p, engines, frame_bytes=frame_bytes,
                        actions=[(len(data), json.dumps({"type": "ForceEndTurn"}))])  # fmt: skip


def _git_revision() -> str | None:
    """``<commit>[+dirty]`` of the checkout this package runs from (None outside a git checkout)."""
    import subprocess

    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                               cwd=here.parent, capture_output=True, text=True, timeout=10, check=False).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def decode_file(path: Path, sample_rate: int) -> Any:
    """The whole file as 16 kHz mono float32 (containers sniffed, ``.raw`` = linear16 at ``sample_rate``)."""
    import numpy as np

    from turnscribe.audio import make_decoder

    dec = make_decoder("linear16", sample_rate) if path.suffix == ".raw" else make_decoder(None, None)
    parts = [dec.feed(path.read_bytes()), dec.flush()]
    return np.concatenate(parts).astype(np.float32, copy=False)


# ------------------------------------------------------------------ run


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{100 * x:.1f}%" if pct else f"{x:.3f}"


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else float("inf")
    return a / b


def _summary(files: list[dict[str, Any]], offline: bool) -> dict[str, Any]:
    st = sum((Score(**f["streaming"]["score"]) for f in files), Score())
    st_strict = sum((Score(**f["streaming"]["strict_score"]) for f in files), Score())
    kept = sum(k for f in files for k, _ in f["streaming"]["first_partials"])
    said = sum(n for f in files for _, n in f["streaming"]["first_partials"])
    upd_kept, upd_said = (sum(f["streaming"]["update_words"][i] for f in files) for i in (0, 1))
    audio = sum(f["audio_s"] for f in files)
    compute = sum(f["compute_s"] for f in files)
    cpu = sum(f["cpu_s"] for f in files)
    out: dict[str, Any] = {
        "files": len(files), "ref_words": st.ref_words, "audio_s": round(audio, 3),
        "compute_s": round(compute, 3), "rtf": compute / audio if audio else None,
        "cpu_s": round(cpu, 3), "rtf_cpu": cpu / audio if audio else None,
        "streaming": st.as_dict(), "offline": None, "ratio": None,
        "strict": {"streaming": st_strict.as_dict(), "offline": None, "ratio": None},
        "first_partial_precision": kept / said if said else None, "first_partial_words": said,
        "update_precision": upd_kept / upd_said if upd_said else None,
    }  # fmt: skip
    if offline:
        off = sum((Score(**f["offline"]["score"]) for f in files), Score())
        off_compute = sum(f["offline"]["compute_s"] for f in files)
        out["offline"] = {**off.as_dict(), "compute_s": round(off_compute, 3),
                          "rtf": off_compute / audio if audio else None}  # fmt: skip
        out["ratio"] = _ratio(st.wer, off.wer)
        off_strict = sum((Score(**f["offline"]["strict_score"]) for f in files), Score())
        out["strict"]["offline"] = off_strict.as_dict()
        out["strict"]["ratio"] = _ratio(st_strict.wer, off_strict.wer)
    return out


def _score_dict(s: Score) -> dict[str, int]:
    return {"ref_words": s.ref_words, "substitutions": s.substitutions, "deletions": s.deletions,
            "insertions": s.insertions}  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from turnscribe.engines.registry import load_engines
    data = Path(args.data)
    if not (data / "manifest.tsv").is_file():
        print(f"error: {data / 'manifest.tsv'} not found", file=sys.stderr)
        return 2
    rows = read_manifest(data)
    present = list(dict.fromkeys(r["set"] for r in rows))
    if args.sets:
        sets = [s.strip() for s in args.sets.split(",") if s.strip()]
        unknown = [s for s in sets if s not in present]
        if unknown:
            print(f"error: unknown set(s) {', '.join(unknown)}; present: {', '.join(present)}", file=sys.stderr)
            return 2
    else:
        sets = [s for s in present if s not in EXCLUDED_SETS]
    chosen: list[dict[str, str]] = []
    for s in sets:
        mine = [r for r in rows if r["set"] == s]
        chosen += mine[: args.limit] if args.limit is not None else mine
    offline = not args.no_offline

    revision = _git_revision()  # before loading: the code this run imports is the code at this point
    t_load = time.perf_counter()
    engines = load_engines(asr_model=args.asr_model)
    load_s = time.perf_counter() - t_load
    log = sys.stderr

    files: list[dict[str, Any]] = []
    for i, row in enumerate(chosen, 1):
        path = data / row["path"]
        set_name, lang = row["set"], set_language(row["set"])
        params = params_for(set_name)
        rate = int(row.get("sample_rate") or SAMPLE_RATE)
        cpu0 = time.process_time()
        rep = _replay(path, engines, params, rate, force_end=args.force_end)
        cpu_s = time.process_time() - cpu0
        hyp = rep.final_text()
        st = score(row["reference_text"], hyp, lang)
        st_strict = score(row["reference_text"], hyp, lang, strict=True)
        turns = turn_partials(rep.events)
        firsts = [(shown[0], *surviving_words(shown[0], final, lang)) for shown, final in turns]
        updates = [surviving_words(t, final, lang) for shown, final in turns for t in shown]
        rec: dict[str, Any] = {
            "path": row["path"], "set": set_name, "language": lang, "duration_s": float(row["duration_s"]),
            "reference": row["reference_text"], "reference_norm": normalise(row["reference_text"], lang),
            "audio_s": rep.audio_s, "compute_s": rep.compute_s, "cpu_s": cpu_s,
            "streaming": {"hypothesis": hyp, "hypothesis_norm": normalise(hyp, lang), "score": _score_dict(st),
                          "wer": st.wer, "strict_score": _score_dict(st_strict), "strict_wer": st_strict.wer,
                          "turns": [e.transcript for e in rep.ends], "open_turn": _open_turn_text(rep),
                          "first_partials": [(k, n) for _, k, n in firsts],
                          "update_words": [sum(k for k, _ in updates), sum(n for _, n in updates)],
                          "first_partial_texts": [t for t, _, _ in firsts]},
        }  # fmt: skip
        if offline:
            from turnscribe.types.engine import AsrRequest

            audio = decode_file(path, rate)
            asr = engines.asr_for(params.multilingual)
            language = params.language_hints[0] if params.multilingual else "en"
            t0 = time.perf_counter()
            (res,) = asr.transcribe([AsrRequest(audio=audio, final=True, language=language)])
            off_s = time.perf_counter() - t0
            so = score(row["reference_text"], res.text, lang)
            so_strict = score(row["reference_text"], res.text, lang, strict=True)
            rec["offline"] = {"hypothesis": res.text, "hypothesis_norm": normalise(res.text, lang),
                              "score": _score_dict(so), "wer": so.wer, "strict_score": _score_dict(so_strict),
                              "strict_wer": so_strict.wer, "compute_s": off_s}  # fmt: skip
        files.append(rec)
        extra = f" offline {_fmt(rec['offline']['wer'])}" if offline else ""
        print(f"[{i}/{len(chosen)}] {set_name} {path.name}: streaming {_fmt(st.wer)}{extra}", file=log, flush=True)

    # non-speech clips
    non_speech: list[dict[str, Any]] = []
    labels = data / "turns" / "labels.jsonl"
    if labels.is_file():
        en = params_for("wer_clean")
        for line in labels.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            lab = json.loads(line)
            if not str(lab.get("kind", "")).startswith(NON_SPEECH_KINDS):
                continue
            rep = _replay(data / lab["path"], engines, en, SAMPLE_RATE, force_end=args.force_end)
            text = rep.final_text()
            non_speech.append({"path": lab["path"], "kind": lab["kind"], "text": text,
                               "words": len(text.split()), "max_event_words": _words_in_events(rep.events),
                               "audio_s": rep.audio_s, "compute_s": rep.compute_s})  # fmt: skip
            print(f"[non-speech] {lab['path']}: {len(text.split())} words", file=log, flush=True)

    per_set = {s: _summary([f for f in files if f["set"] == s], offline) for s in sets}
    overall = _summary(files, offline) if files else None
    ns_summary = {
        "clips": len(non_speech), "words": sum(c["words"] for c in non_speech),
        "max_event_words": max((c["max_event_words"] for c in non_speech), default=0),
        "audio_s": round(sum(c["audio_s"] for c in non_speech), 3),
        "rtf": (sum(c["compute_s"] for c in non_speech) / sum(c["audio_s"] for c in non_speech))
        if non_speech else None,
    }  # fmt: skip
    result = {
        "model": args.asr_model, "engines": engines.names,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "command": _command(args),
        "data": str(data.resolve()), "load_s": round(load_s, 3), "offline": offline,
        "force_end": args.force_end, "revision": revision,
        "sets": per_set, "overall": overall, "non_speech": {**ns_summary, "files": non_speech}, "files": files,
    }  # fmt: skip

    print(_table(per_set, overall, ns_summary, args.asr_model))
    out = Path(args.out) if args.out else Path("results") / f"wer-{args.asr_model}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


def _table(per_set: dict[str, Any], overall: dict[str, Any] | None, ns: dict[str, Any], model: str) -> str:
    head = ("set", "files", "ref words", "streaming WER", "offline WER", "ratio", "strict stream", "strict offline",
            "strict ratio", "1st partial prec", "Update prec", "RTF", "RTF cpu")
    lines = [head]
    for name, s in [*per_set.items(), *([("all", overall)] if overall else [])]:
        strict = s["strict"]
        lines.append((name, str(s["files"]), str(s["ref_words"]), _fmt(s["streaming"]["wer"]),
                      _fmt(s["offline"]["wer"]) if s["offline"] else "-",
                      _fmt(s["ratio"], pct=False) if s["ratio"] is not None else "-",
                      _fmt(strict["streaming"]["wer"]),
                      _fmt(strict["offline"]["wer"]) if strict["offline"] else "-",
                      _fmt(strict["ratio"], pct=False) if strict["ratio"] is not None else "-",
                      _fmt(s["first_partial_precision"]) if s["first_partial_precision"] is not None else "-",
                      _fmt(s["update_precision"]) if s["update_precision"] is not None else "-",
                      _fmt(s["rtf"], pct=False), _fmt(s["rtf_cpu"], pct=False)))  # fmt: skip
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]

    def fmt(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))

    body = [f"model: {model}", fmt(lines[0]), "  ".join("-" * w for w in widths), *map(fmt, lines[1:])]
    body.append(f"non-speech clips: {ns['clips']}, words produced: {ns['words']}"
                f" (most words in one event: {ns['max_event_words']})")  # fmt: skip
    return "\n".join(body)


def add_command(ev_subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from turnscribe.engines.registry import DEFAULT_ASR_MODEL

    p = ev_subparsers.add_parser("wer", help="word error rate: streaming Session vs offline, per set")
    p.add_argument("--data", required=True, help="data folder with manifest.tsv (and turns/labels.jsonl)")
    p.add_argument("--asr-model", default=DEFAULT_ASR_MODEL, help="ASR model name (see engines/registry.py)")
    p.add_argument("--sets", help="comma-separated sets (default: every set in the manifest except turns)")
    p.add_argument("--limit", type=int, help="at most N files per set")
    p.add_argument("--out", help="JSON output file (default results/wer-<model>.json)")
    p.add_argument("--no-offline", action="store_true", help="skip the offline (whole-utterance) baseline")
    p.add_argument("--force-end", action="store_true",
                   help="send ForceEndTurn after the audio (before CloseStream): score final decodes only")
    p.set_defaults(func=run)
