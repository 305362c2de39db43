"""``turnscribe eval turns`` — turn-taking quality on the labelled turns set (``DIR/turns/labels.jsonl``).

Each clip is streamed through the real ``Session`` (``replay_file``); the TurnInfo events are
then scored against the labels by pure functions (``clip_metrics`` per clip, ``aggregate`` over
clips) that need no models. All times are the audio clock: an event happens at its
``audio_window_end``.

- false cut-off: a labelled pause is cut when an EndOfTurn lies in [pause.start_s, turn.end_s);
  a turn is cut when any EndOfTurn lies in (turn.start_s, turn.end_s);
- detected end: the first EndOfTurn in [turn.end_s, next turn's start_s) (the last turn: up to
  the clip end); none → missed; latency = its time − turn.end_s; late when latency > 1.5 s;
- eager precision: EagerEndOfTurn followed by EndOfTurn rather than TurnResumed (none → unresolved,
  counted as not resumed); lead = EndOfTurn time − EagerEndOfTurn time;
- spurious starts: every StartOfTurn on a clip without turns; elsewhere a StartOfTurn outside
  [turn.start_s − 0.5, turn.end_s + START_AFTER_S] of every turn (StartOfTurn needs words, so on a
  0.4 s "yes" it may come one tick after the last sample);
- WER of the detected EndOfTurn's transcript vs the labelled transcript (Whisper's English
  normaliser); ``wer_joined`` scores all EndOfTurn transcripts of the turn joined (cut turns).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from turnscribe.wire.events import TurnEvent, TurnInfo

if TYPE_CHECKING:
    from turnscribe.wire.params import ListenParams

PAUSE_KINDS = ("mid_sentence_pause", "hesitation", "filler", "list_pause", "number_dictation")
SHORT_KINDS = ("short_answers", "short_answers_real")
LATE_S = 1.5
START_BEFORE_S = 0.5
START_AFTER_S = 0.3
SOT, EAGER, RESUMED, EOT = (e.value for e in (TurnEvent.START_OF_TURN, TurnEvent.EAGER_END_OF_TURN,
                                               TurnEvent.TURN_RESUMED, TurnEvent.END_OF_TURN))

Rec = dict[str, Any]


# ----------------------------------------------------------------------------- events



def off_turn_starts(times: Sequence[float], turns: Sequence[Rec]) -> list[float]:
    """The StartOfTurns (audio times) that belong to no labelled turn: outside [start_s −
    START_BEFORE_S, end_s + START_AFTER_S] of every turn (all of them on a clip without turns)."""
    return [t for t in times if not any(
        u["start_s"] - START_BEFORE_S <= t <= u["end_s"] + START_AFTER_S for u in turns)]

def event_record(ev: TurnInfo | Rec) -> Rec:
    """A compact JSON record of a TurnInfo: time, event, confidence (+ words on state changes)."""
    if isinstance(ev, dict):
        return ev
    rec: Rec = {"t": round(ev.audio_window_end, 3), "event": ev.event.value,
                "conf": round(ev.end_of_turn_confidence, 4)}
    if ev.event is not TurnEvent.UPDATE:
        rec.update(turn_index=ev.turn_index, transcript=ev.transcript,
                   words=[[w.text, round(w.start, 3), round(w.end, 3)] for w in ev.words])
        if ev.trigger is not None:
            rec["trigger"] = ev.trigger.value
    return rec


_normalizer = None


def wer(ref: str, hyp: str) -> float | None:
    """WER after Whisper's English normaliser; None when the reference normalises to nothing."""
    global _normalizer
    import jiwer
    if _normalizer is None:
        from whisper_normalizer.english import EnglishTextNormalizer
        _normalizer = EnglishTextNormalizer()
    r, h = (_digits_joined(_normalizer(_DIGIT.sub(lambda d: _DIGIT_WORDS[int(d[0])], x))) for x in (ref, hyp))
    if not r:
        return None
    return 1.0 if not h else float(jiwer.wer(r, h))


_DIGIT = re.compile(r"(?<![\d.,])\b\d\b(?![.,]?\d)")
_DIGIT_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _digits_joined(text: str) -> str:
    """Runs of numeric tokens as one: the normaliser makes "seven three eight" 738 but "7 3 8" stays apart
    (and a lone "1" becomes "one"), so single digits are spelled out first and numeric runs joined."""
    out: list[str] = []
    for tok in text.split():
        if tok.isdigit() and out and out[-1].isdigit():
            out[-1] += tok
        else:
            out.append(tok)
    return " ".join(out)


def stats(values: Iterable[float]) -> dict[str, Any]:
    v = np.asarray(list(values), dtype=float)
    if not len(v):
        return {"n": 0, "median": None, "p90": None, "p95": None, "mean": None, "max": None}
    q = np.percentile(v, [50, 90, 95])
    return {"n": len(v), "median": round(float(q[0]), 4), "p90": round(float(q[1]), 4),
            "p95": round(float(q[2]), 4), "mean": round(float(v.mean()), 4), "max": round(float(v.max()), 4)}


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


# ----------------------------------------------------------------------------- per clip


def _eager_outcomes(recs: list[Rec]) -> list[Rec]:
    out = []
    for i, e in enumerate(recs):
        if e["event"] != EAGER:
            continue
        nxt = next((x for x in recs[i + 1:] if x["event"] in (RESUMED, EOT)), None)
        outcome = "unresolved" if nxt is None else ("resumed" if nxt["event"] == RESUMED else "confirmed")
        lead = round(nxt["t"] - e["t"], 3) if nxt is not None and outcome == "confirmed" else None
        out.append({"t": e["t"], "conf": e["conf"], "transcript": e.get("transcript", ""), "outcome": outcome,
                    "lead_s": lead})
    return out


def clip_metrics(label: Rec, events: Sequence[TurnInfo | Rec], duration: float | None = None) -> Rec:
    """Score one clip's TurnInfo events against its label (pure: no audio, no models)."""
    recs = [event_record(e) for e in events]
    duration = float(duration if duration is not None else label.get("duration_s", 0.0))
    ends = [e for e in recs if e["event"] == EOT]
    starts = [e for e in recs if e["event"] == SOT]
    turns = label.get("turns", [])
    out_turns = []
    for i, t in enumerate(turns):
        t0, t1 = t["start_s"], t["end_s"]
        inside = [e for e in ends if t0 < e["t"] < t1]
        pauses = []
        for p in t.get("pauses", []):
            cut = next((e for e in ends if p["start_s"] <= e["t"] < t1), None)
            pauses.append({"start_s": p["start_s"], "end_s": p["end_s"], "kind": p["kind"], "cut": cut is not None,
                           "cut_at": cut["t"] if cut else None,
                           "into_pause_s": round(cut["t"] - p["start_s"], 3) if cut else None,
                           "cut_conf": cut["conf"] if cut else None,
                           "cut_transcript": cut.get("transcript") if cut else None})
        if i + 1 < len(turns):
            found = next((e for e in ends if t1 <= e["t"] < turns[i + 1]["start_s"]), None)
        else:
            found = next((e for e in ends if t1 <= e["t"] <= duration + 1e-6), None)
        latency = round(found["t"] - t1, 3) if found else None
        start = next((e for e in starts if t0 - START_BEFORE_S <= e["t"] <= t1 + START_AFTER_S), None)
        row: Rec = {"start_s": t0, "end_s": t1, "end_kind": t.get("end_kind"), "transcript": t.get("transcript", ""),
                    "detected": found is not None, "end_at": found["t"] if found else None,
                    "latency_s": latency, "late": latency is not None and latency > LATE_S,
                    "trigger": found.get("trigger") if found else None,
                    "end_conf": found["conf"] if found else None,
                    "cut": bool(inside), "cut_at": [e["t"] for e in inside], "pauses": pauses,
                    "start_at": start["t"] if start else None,
                    "start_latency_s": round(start["t"] - t0, 3) if start else None,
                    "hyp": found.get("transcript", "") if found else None, "wer": None, "wer_joined": None}
        if found:
            row["wer"] = wer(row["transcript"], row["hyp"])
            joined = " ".join(e.get("transcript", "") for e in ends if t0 < e["t"] <= found["t"])
            row["wer_joined"] = wer(row["transcript"], joined)
        out_turns.append(row)
    spurious = off_turn_starts([s["t"] for s in starts], turns)
    return {"name": Path(label["path"]).stem, "path": label["path"], "kind": label["kind"],
            "duration_s": duration, "turns": out_turns, "spurious_starts": spurious,
            "n_starts": len(starts), "n_ends": len(ends), "eager": _eager_outcomes(recs)}


# ----------------------------------------------------------------------------- over clips


def aggregate(clips: Sequence[Rec]) -> Rec:
    """Metrics over per-clip results (``clip_metrics``)."""
    turns = [(c, t) for c in clips for t in c["turns"]]
    pauses = [p for _, t in turns for p in t["pauses"]]
    by_pause: dict[str, list[bool]] = defaultdict(list)
    for p in pauses:
        by_pause[p["kind"]].append(p["cut"])
    cut_pauses = sum(p["cut"] for p in pauses)

    def ends_of(sel: list[tuple[Rec, Rec]]) -> Rec:
        missed = sum(not t["detected"] for _, t in sel)
        return {"n": len(sel), "missed": missed, "missed_rate": _rate(missed, len(sel)),
                "late": sum(t["late"] for _, t in sel)}

    by_clip_kind: dict[str, list[tuple[Rec, Rec]]] = defaultdict(list)
    by_end_kind: dict[str, list[tuple[Rec, Rec]]] = defaultdict(list)
    for c, t in turns:
        by_clip_kind[c["kind"]].append((c, t))
        by_end_kind[t["end_kind"]].append((c, t))
    detected = [t for _, t in turns if t["detected"]]
    lat_by_kind = defaultdict(list)
    for t in detected:
        lat_by_kind[t["end_kind"]].append(t["latency_s"])
    eager = [e for c in clips for e in c["eager"]]
    eo = Counter(e["outcome"] for e in eager)
    empty = [c for c in clips if not c["turns"]]
    wers = [t["wer"] for t in detected if t["wer"] is not None]
    wers_j = [t["wer_joined"] for t in detected if t["wer_joined"] is not None]
    return {
        "clips": len(clips), "turns": len(turns),
        "false_cutoff": {"pauses": len(pauses), "cut": cut_pauses, "rate": _rate(cut_pauses, len(pauses)),
                         "by_kind": {k: {"n": len(v), "cut": sum(v), "rate": _rate(sum(v), len(v))}
                                     for k, v in sorted(by_pause.items())},
                         "turns_cut": sum(t["cut"] for _, t in turns),
                         "turns_cut_rate": _rate(sum(t["cut"] for _, t in turns), len(turns))},
        "ends": {**ends_of(turns),
                 "short_answer_clips": ends_of([x for x in turns if x[0]["kind"] in SHORT_KINDS]),
                 "by_clip_kind": {k: ends_of(v) for k, v in sorted(by_clip_kind.items())},
                 "by_end_kind": {k: ends_of(v) for k, v in sorted(by_end_kind.items())},
                 "triggers": dict(Counter(t["trigger"] for t in detected))},
        "latency": {**stats(t["latency_s"] for t in detected),
                    "by_end_kind": {k: stats(v) for k, v in sorted(lat_by_kind.items())}},
        "eager": {"n": len(eager), "confirmed": eo["confirmed"], "resumed": eo["resumed"],
                  "unresolved": eo["unresolved"], "precision": _rate(len(eager) - eo["resumed"], len(eager)),
                  "lead": stats(e["lead_s"] for e in eager if e["lead_s"] is not None)},
        "spurious": {"empty_clips": len(empty), "empty_clip_starts": sum(len(c["spurious_starts"]) for c in empty),
                     "empty_clips_with_turn": sum(bool(c["spurious_starts"]) for c in empty),
                     "other_starts": sum(len(c["spurious_starts"]) for c in clips if c["turns"])},
        "starts": {"missed": sum(t["start_at"] is None for _, t in turns),
                   "latency": stats(t["start_latency_s"] for _, t in turns if t["start_latency_s"] is not None)},
        "transcript": {"n": len(wers), "mean_wer": round(float(np.mean(wers)), 4) if wers else None,
                       "mean_wer_joined": round(float(np.mean(wers_j)), 4) if wers_j else None},
    }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f} ms"


def summary(m: Rec) -> str:
    fc, en, la, sp = m["false_cutoff"], m["ends"], m["latency"], m["spurious"]
    lines = [f"clips {m['clips']}, turns {m['turns']}, pauses {fc['pauses']}",
             (f"false cut-off: {_pct(fc['rate'])} ({fc['cut']}/{fc['pauses']} pauses); turns cut "
             f"{fc['turns_cut']}/{m['turns']}"),
             "  by pause kind: " + ", ".join(f"{k} {v['cut']}/{v['n']}" for k, v in fc["by_kind"].items()),
             (f"missed ends: {_pct(en['missed_rate'])} ({en['missed']}/{en['n']}); late (>{LATE_S} s) {en['late']}; "
             f"short-answer clips missed {en['short_answer_clips']['missed']}/{en['short_answer_clips']['n']}; "
             f"triggers {en['triggers']}"),
             "  by clip kind: " + ", ".join(f"{k} {v['missed']}/{v['n']}" for k, v in en["by_clip_kind"].items()),
             (f"EndOfTurn latency: median {_ms(la['median'])}, p90 {_ms(la['p90'])}, p95 {_ms(la['p95'])}, "
             f"mean {_ms(la['mean'])} (n={la['n']})"),
             "  by end kind: " + ", ".join(f"{k} {_ms(v['median'])}/{_ms(v['p95'])}"
                                          for k, v in la["by_end_kind"].items()),
             (f"spurious: {sp['empty_clip_starts']} StartOfTurn on {sp['empty_clips']} silence/noise clips "
             f"({sp['empty_clips_with_turn']} clips affected); {sp['other_starts']} on speech clips"),
             f"StartOfTurn: missed {m['starts']['missed']}, latency median {_ms(m['starts']['latency']['median'])}",
             (f"transcript WER (mean per detected turn): {_pct(m['transcript']['mean_wer'])}; all ends of the turn "
             f"joined {_pct(m['transcript']['mean_wer_joined'])}")]
    if m["eager"]["n"]:
        e = m["eager"]
        lines.append(f"eager: precision {_pct(e['precision'])} ({e['n']} eager, {e['resumed']} resumed, "
                     f"{e['unresolved']} unresolved); lead median {_ms(e['lead']['median'])}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- running


def load_labels(data: Path, kinds: Sequence[str] = (), limit: int | None = None) -> list[Rec]:
    rows = [json.loads(line) for line in (data / "turns" / "labels.jsonl").read_text().splitlines() if line.strip()]
    if kinds:
        rows = [r for r in rows if r["kind"] in kinds]
    return rows[:limit] if limit else rows


def make_params(eot: float | None = None, eager: float | None = None,
                timeout_ms: int | None = None) -> ListenParams:
    from turnscribe.wire.params import ListenParams, Thresholds

    base = Thresholds()
    return ListenParams(thresholds=Thresholds(
        eot_threshold=base.eot_threshold if eot is None else eot, eager_eot_threshold=eager,
        eot_timeout_ms=base.eot_timeout_ms if timeout_ms is None else timeout_ms))


def evaluate(labels: Sequence[Rec], data: Path, engines: Any, params: Any, *,
             log: Callable[[str], None] | None = None) -> list[Rec]:
    """Replay every clip and score it; each result keeps its event records."""
    from turnscribe.eval.replay import replay_file

    clips = []
    for i, label in enumerate(labels):
        rep = replay_file(data / label["path"], engines, params=params)
        recs = [event_record(e) for e in rep.turninfos]
        clip = clip_metrics(label, recs, duration=rep.audio_s)
        clip.update(compute_s=round(rep.compute_s, 3), events=recs)
        clips.append(clip)
        if log:
            bad = sum(p["cut"] for t in clip["turns"] for p in t["pauses"])
            miss = sum(not t["detected"] for t in clip["turns"])
            log(f"[{i + 1}/{len(labels)}] {clip['name']}: {len(clip['turns'])} turns, cut pauses {bad}, "
                f"missed ends {miss}, spurious {len(clip['spurious_starts'])} ({rep.compute_s:.1f} s)")
    return clips


def _settings(args: argparse.Namespace, params: Any, engines_names: dict[str, str] | None) -> Rec:
    th = params.thresholds
    return {"data": str(args.data), "eot_threshold": th.eot_threshold, "eager_eot_threshold": th.eager_eot_threshold,
            "eot_timeout_ms": th.eot_timeout_ms, "kinds": args.kinds, "limit": args.limit,
            "engines": engines_names, "late_s": LATE_S, "start_window_s": [START_BEFORE_S, START_AFTER_S]}


def _write(path: Path, doc: Rec) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False))


_worker_engines = None


def _sweep_point(job: tuple[float, Rec]) -> tuple[float, list[Rec]]:
    global _worker_engines
    eot, a = job
    if _worker_engines is None:
        from turnscribe.engines.registry import load_engines
        _worker_engines = load_engines()
    params = make_params(eot, a["eager"], a["timeout"])
    return eot, evaluate(load_labels(Path(a["data"]), a["kinds"], a["limit"]), Path(a["data"]),
                         _worker_engines, params)


def _run_sweep(args: argparse.Namespace, values: list[float], out: Path) -> int:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    a = {"data": str(args.data), "kinds": args.kinds, "limit": args.limit, "eager": args.eager_eot_threshold,
         "timeout": args.eot_timeout_ms}
    points = []
    with ProcessPoolExecutor(max_workers=min(2, len(values)), mp_context=get_context("spawn")) as pool:
        for eot, clips in pool.map(_sweep_point, [(v, a) for v in values]):
            m = aggregate(clips)
            params = make_params(eot, args.eager_eot_threshold, args.eot_timeout_ms)
            _write(out / "sweep" / f"eot_{eot:.2f}" / "turns.json",
                   {"settings": _settings(args, params, None), "metrics": m, "clips": clips})
            points.append({"eot_threshold": eot, "false_cutoff_rate": m["false_cutoff"]["rate"],
                           "missed_rate": m["ends"]["missed_rate"],
                           "short_missed": m["ends"]["short_answer_clips"]["missed"],
                           "late": m["ends"]["late"], "latency_median": m["latency"]["median"],
                           "latency_p95": m["latency"]["p95"], "spurious": m["spurious"]["empty_clip_starts"],
                           "mean_wer": m["transcript"]["mean_wer"], "metrics": m})
            print(f"eot_threshold {eot:.2f}: false cut-off {_pct(points[-1]['false_cutoff_rate'])}, missed "
                  f"{_pct(points[-1]['missed_rate'])}, latency median {_ms(points[-1]['latency_median'])} "
                  f"p95 {_ms(points[-1]['latency_p95'])}", flush=True)
    _write(out / "sweep.json", {"data": str(args.data), "points": points})
    if not args.no_plots:
        from turnscribe.eval.turn_plots import plot_sweep
        plot_sweep(points, out / "sweep.png")
    print(f"wrote {out / 'sweep.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    from turnscribe.wire.params import EAGER_RANGE, EOT_RANGE, TIMEOUT_RANGE, check_range

    out = Path(args.out)
    args.kinds = [k for k in (args.kinds or "").split(",") if k]
    try:
        for name, v, rng in (("eot_threshold", args.eot_threshold, EOT_RANGE),
                             ("eager_eot_threshold", args.eager_eot_threshold, EAGER_RANGE),
                             ("eot_timeout_ms", args.eot_timeout_ms, TIMEOUT_RANGE)):
            if v is not None:
                check_range(name, v, rng)
        values = [float(x) for x in args.sweep.split(",")] if args.sweep else []
        for v in values:
            check_range("eot_threshold", v, EOT_RANGE)
    except ValueError as exc:
        print(f"turnscribe eval turns: {exc}", file=sys.stderr)
        return 2
    if not (Path(args.data) / "turns" / "labels.jsonl").is_file():
        print(f"turnscribe eval turns: no turns/labels.jsonl under {args.data}", file=sys.stderr)
        return 2
    if values:
        return _run_sweep(args, values, out)
    from turnscribe.engines.registry import load_engines

    labels = load_labels(Path(args.data), args.kinds, args.limit)
    params = make_params(args.eot_threshold, args.eager_eot_threshold, args.eot_timeout_ms)
    engines = load_engines()
    t0 = time.perf_counter()
    clips = evaluate(labels, Path(args.data), engines, params, log=lambda s: print(s, flush=True))
    m = aggregate(clips)
    settings = _settings(args, params, dict(engines.names))
    _write(out / "turns.json", {"settings": settings, "metrics": m, "clips": clips,
                                "wall_s": round(time.perf_counter() - t0, 1)})
    if not args.no_plots:
        from turnscribe.eval.turn_plots import plot_clip
        for c in clips:
            plot_clip(Path(args.data) / c["path"], c, out / "clips" / f"{c['name']}.png",
                      eot_threshold=params.thresholds.eot_threshold,
                      eager_threshold=params.thresholds.eager_eot_threshold)
    print(summary(m))
    print(f"wrote {out / 'turns.json'}")
    return 0


def add_command(ev: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = ev.add_parser("turns", help="turn-taking: false cut-offs, missed ends, EndOfTurn latency")
    p.add_argument("--data", required=True, type=Path, help="data folder holding turns/labels.jsonl")
    p.add_argument("--out", default="results/turns", type=Path, help="output folder (default results/turns)")
    p.add_argument("--eot-threshold", type=float, default=None)
    p.add_argument("--eager-eot-threshold", type=float, default=None)
    p.add_argument("--eot-timeout-ms", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="only the first N clips")
    p.add_argument("--kinds", default="", help="comma-separated clip kinds to keep")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--sweep", default="", help="comma-separated eot_threshold values: one run each + sweep.png")
    p.set_defaults(func=run)
