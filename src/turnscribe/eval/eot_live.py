"""Step 4 of ``turnscribe eval eot``, the wall clock (``--url``): every clip streamed at real time
through a running server (``live.py``) and its EndOfTurns scored as they arrive."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from turnscribe.eval.eot_report import ms
from turnscribe.eval.eot_spans import RESUMED_MIN_S, Rec, Span, group_of, spans_of
from turnscribe.eval.live import stream_many
from turnscribe.eval.turn_events import START_BEFORE_S, off_turn_starts


def live_query(label: Rec, thresholds: Rec) -> dict[str, str]:
    lang = str(label.get("language") or "en").split("-")[0]
    q = {k: str(v) for k, v in thresholds.items() if v is not None}
    if lang != "en":
        q.update(model="flux-general-multi", language_hint=lang)
    else:
        q["model"] = "flux-general-en"
    return q


def score_live(label: Rec, turninfos: Sequence[tuple[float, Rec]]) -> Rec:
    """A clip streamed at real time: per span, whether an EndOfTurn was decided in it (its
    ``audio_window_end`` inside the span) and, for eots, the latency on the wall clock (arrival
    minus the end of speech). An end decided inside a turn's speech, outside any hold, is a cut too.
    A StartOfTurn that belongs to no labelled turn is spurious (``off_turn_starts``), counted against
    the clip's non-speech time."""
    spans = spans_of(label)
    starts = [float(m["audio_window_end"]) for _, m in turninfos if m.get("event") == "StartOfTurn"]
    ends = [(t, float(m["audio_window_end"])) for t, m in turninfos if m.get("event") == "EndOfTurn"]
    turns = sorted(label["turns"], key=lambda t: t["start_s"])
    holds, eots = [], []
    for sp in spans:
        inside = [(t, w) for t, w in ends if sp.start < w <= sp.end + 1e-9]
        if sp.hold:
            if sp.scored:
                holds.append({"start": sp.start, "end": sp.end, "cut": bool(inside), "resumed_s": sp.resumed_s})
        else:
            eots.append({"start": sp.start, "end": sp.end, "kind": sp.kind,
                         "latency_s": round(inside[0][0] - sp.start, 3) if inside else None,
                         "audio_latency_s": round(inside[0][1] - sp.start, 3) if inside else None,
                         "missed": None if inside else _why_missed(sp, turns, starts, [w for _, w in ends])})
    in_speech = sum(1 for _, w in ends
                    if any(t["start_s"] < w < t["end_s"] for t in turns)
                    and not any(sp.hold and sp.start < w <= sp.end for sp in spans))
    speech = sum(float(t["end_s"]) - float(t["start_s"]) for t in turns)
    return {"holds": holds, "eots": eots, "cut_in_speech": in_speech,
            "spurious_starts": len(off_turn_starts(starts, turns)),
            "nonspeech_s": round(max(0.0, float(label["duration_s"]) - speech), 3)}


def _why_missed(sp: Span, turns: Sequence[Rec], starts: Sequence[float], ends: Sequence[float]) -> str:
    """Why an eot got no EndOfTurn of its own: ``ended_early`` (its turn was ended before its
    end of speech: a cut, and the rest held no new turn), ``never_opened`` (no StartOfTurn for its
    turn), else ``late`` (the turn was open and ended after the next turn began, or never)."""
    turn = next((t for t in turns if abs(float(t["end_s"]) - sp.start) < 1e-6), None)
    onset = float(turn["start_s"]) if turn else sp.start
    if any(onset < w <= sp.start for w in ends):
        return "ended_early"
    if not any(onset - START_BEFORE_S <= t <= sp.end for t in starts):
        return "never_opened"
    return "late"


def live_summary(scored: Sequence[Rec]) -> Rec:
    holds = [h for c in scored for h in c["holds"]]
    eots = [e for c in scored for e in c["eots"]]
    lat = [e["latency_s"] for e in eots if e["latency_s"] is not None]
    alat = [e["audio_latency_s"] for e in eots if e["audio_latency_s"] is not None]
    cut = sum(h["cut"] for h in holds)
    resumed = [h for h in holds if h["resumed_s"] >= RESUMED_MIN_S]
    spurious = sum(c["spurious_starts"] for c in scored)
    nonspeech = sum(c.get("nonspeech_s", 0.0) for c in scored)

    def q(v: Sequence[float], p: float) -> float | None:
        return round(float(np.percentile(v, p)), 3) if v else None

    return {"holds": len(holds), "cut": cut, "cutoff": cut / len(holds) if holds else None,
            "holds_resumed": len(resumed), "cut_resumed": sum(h["cut"] for h in resumed),
            "cut_in_speech": sum(c["cut_in_speech"] for c in scored), "eots": len(eots),
            "missed": len(eots) - len(lat), "latency_median_s": q(lat, 50), "latency_p95_s": q(lat, 95),
            "missed_by": dict(sorted(Counter(e["missed"] for e in eots if e.get("missed")).items())),
            "latency_mean_s": round(float(np.mean(lat)), 3) if lat else None,
            "audio_latency_median_s": q(alat, 50),
            "short_answers": sum(e["kind"] == "short_answer" for e in eots),
            "short_answers_missed": sum(e["kind"] == "short_answer" and e["latency_s"] is None for e in eots),
            "turnless_clips": sum(not c["eots"] for c in scored),
            "spurious_starts": spurious, "nonspeech_s": round(nonspeech, 1),
            "spurious_per_hour_nonspeech": round(spurious * 3600 / nonspeech, 2) if nonspeech else None}


def _summaries(clips: Sequence[Rec], key: str) -> dict[str, Rec]:
    """``live_summary`` of each subset of clips sharing ``clip[key]``."""
    by: dict[str, list[Rec]] = {}
    for c in clips:
        by.setdefault(str(c[key]), []).append(c)
    return {k: live_summary(v) for k, v in sorted(by.items())}


def run_live(args: argparse.Namespace, labels: Sequence[Rec], out: Path) -> int:
    th = {"eot_threshold": args.eot_threshold, "eager_eot_threshold": args.eager_eot_threshold,
          "eot_timeout_ms": args.eot_timeout_ms}
    jobs = [(Path(args.data) / lab["path"], live_query(lab, th)) for lab in labels]
    headers = {"Authorization": f"Token {args.api_key}"} if args.api_key else None
    results = asyncio.run(stream_many(args.url, jobs, concurrency=args.streams, headers=headers))
    clips: list[Rec] = []
    for lab, res in zip(labels, results, strict=True):
        sc = score_live(lab, res.turninfos())
        sc.update(path=lab["path"], group=group_of(lab), set=lab["set"], error=res.error,
                  close_code=res.close_code)
        clips.append(sc)
    doc = {"url": args.url, "streams": args.streams, "thresholds": th, "overall": live_summary(clips),
           "per_set": _summaries(clips, "set"), "per_group": _summaries(clips, "group"), "clips": clips}
    (out / "live.json").write_text(json.dumps(doc, indent=1))
    rows = [("pooled", doc["overall"]), *((f"set {s}", m) for s, m in doc["per_set"].items()),
            *doc["per_group"].items()]
    for name, m in rows:
        print(f"{name:22s} cut-offs {m['cut']}/{m['holds']} holds"
              f" ({100 * (m['cutoff'] or 0):.1f}%; {m['cut_resumed']}/{m['holds_resumed']} of those the"
              f" speaker goes on from with >= {1000 * RESUMED_MIN_S:.0f} ms of speech),"
              f" {m['cut_in_speech']} more inside speech;"
              f" EndOfTurn latency (wall clock) median {ms(m['latency_median_s'])}, mean"
              f" {ms(m['latency_mean_s'])}, p95 {ms(m['latency_p95_s'])}; audio clock median"
              f" {ms(m['audio_latency_median_s'])}; missed {m['missed']}/{m['eots']}"
              + (f" ({', '.join(f'{n} {k}' for k, n in m['missed_by'].items())})" if m["missed_by"] else ""))
    errors = [c for c in clips if c["error"]]
    if errors:
        print(f"{len(errors)} clip(s) failed: " + "; ".join(f"{c['path']}: {c['error']}" for c in errors[:5]))
    o = doc["overall"]
    print(f"short answers missed {o['short_answers_missed']}/{o['short_answers']}; StartOfTurn outside every "
          f"labelled turn: {o['spurious_starts']} in {o['nonspeech_s'] / 60:.1f} min of non-speech "
          f"({o['turnless_clips']} clips without turns)")
    print(f"wrote {out / 'live.json'}")
    return 1 if errors else 0

