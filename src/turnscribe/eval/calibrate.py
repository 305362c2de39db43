"""``turnscribe eval calibrate`` — fit the end-of-turn model's weights on labelled turns.

Every clip of ``DIR/turns/labels.jsonl`` with speech is replayed with model ends disabled
(``eot_threshold=1``, a 60 s timeout) and the session records the EOT features at every 80 ms
decision point in a pause. A point is *positive* when it lies after a turn's last word and
before the next turn (the speaker is done), *negative* inside the turn (a labelled intra-turn
pause, or a shorter gap the VAD heard between words or digits: the speaker will go on). A logistic regression (L2, Newton's method) over ``eot.FEATURES`` gives
weights whose output is a calibrated P(turn over). Leave-one-clip-out cross-validation reports
how the fitted model would decide on clips it did not see (cut-offs and latency at a threshold).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from turnscribe.engines.base import Word
from turnscribe.protocol.eot import (
    FEATURES,
    LATE_PUSH_WEIGHT,
    SOON_AFTER_END_WEIGHT,
    Cues,
    EotModel,
    features,
)
from turnscribe.protocol.params import ListenParams, Thresholds
from turnscribe.protocol.session import TurnPolicy

Rec = dict[str, Any]


def label_points(label: Rec, trace: Sequence[tuple[float, Any]]) -> list[tuple[float, int, Any]]:
    """(time, y, features) for the traced points that a label decides (others are dropped)."""
    turns = sorted(label.get("turns", []), key=lambda t: t["start_s"])
    out = []
    for t, x in trace:
        y = None
        for i, turn in enumerate(turns):
            nxt = turns[i + 1]["start_s"] if i + 1 < len(turns) else float("inf")
            if turn["end_s"] <= t < nxt:
                y = 1
            elif turn["start_s"] <= t < turn["end_s"]:
                y = 0  # a labelled pause, or any shorter gap inside the turn (between digits, words)
        if y is not None:
            out.append((t, y, x))
    return out


def fit(X: np.ndarray, y: np.ndarray, *, l2: float = 1.0, neg_weight: float = 1.0, iters: int = 50) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method (the bias, column 0, is not penalised)."""
    w = np.zeros(X.shape[1])
    sw = np.where(y == 0, neg_weight, 1.0)
    reg = np.full(X.shape[1], l2)
    reg[0] = 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -40, 40)))
        grad = X.T @ (sw * (p - y)) + reg * w
        hess = (X * (sw * p * (1 - p))[:, None]).T @ X + np.diag(reg) + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


ORACLE_END_S = 2.4  # the turn is ended (ForceEndTurn) this long after its labelled end (gaps are >= 2.5 s)


def cues_record(c: Cues) -> Rec:
    return {"silence": round(c.silence_s, 3), "acoustic": [round(a, 4) for a in c.acoustic],
            "words": [[w.text, round(w.start, 3), round(w.end, 3), round(w.confidence, 3)] for w in c.words],
            "soon_after_end": c.soon_after_end}


def cues_from(rec: Rec) -> Cues:
    return Cues(silence_s=rec["silence"], acoustic=tuple(rec["acoustic"]),
                words=tuple(Word(t, s, e, c) for t, s, e, c in rec["words"]),
                soon_after_end=bool(rec.get("soon_after_end", False)))


def collect(data: Path, engines: Any, labels: Sequence[Rec],
            log: Callable[[str], None] | None = None) -> list[Rec]:
    """Replay each clip with model ends off; each labelled turn is ended by a ForceEndTurn
    ``ORACLE_END_S`` after its last word, so every turn starts fresh as in normal operation."""
    from turnscribe.eval.replay import replay_bytes, stream_params

    params = ListenParams(thresholds=Thresholds(eot_threshold=1.0, eot_timeout_ms=60000))
    clips = []
    for n, label in enumerate(labels, 1):
        if not label.get("turns"):
            continue
        path = data / label["path"]
        raw = path.read_bytes()
        header = raw.find(b"data") + 8
        force = json.dumps({"type": "ForceEndTurn"})
        actions = [(header + int((t["end_s"] + ORACLE_END_S) * 16000) * 2, force) for t in label["turns"]]
        rep = replay_bytes(raw, stream_params(path, base=params), engines, policy=TurnPolicy(trace=True),
                           actions=actions, keep_session=True)
        assert rep.session is not None  # keep_session=True
        trace = [(t, cues_record(c)) for t, c in rep.session.trace]
        clips.append({"path": label["path"], "kind": label["kind"], "label": label, "trace": trace})
        if log:
            log(f"[{n}/{len(labels)}] {label['path']}: {len(trace)} points")
    return clips


def points(clip: Rec) -> list[tuple[float, int, tuple[float, ...]]]:
    return [(t, y, features(cues_from(c))) for t, y, c in label_points(clip["label"], clip["trace"])]


SOON = FEATURES.index("soon_after_end")
PUSH = FEATURES.index("late_push")


def fit_clips(clips: Sequence[Rec], *, l2: float = 1.0, neg_weight: float = 3.0,
              max_silence: float = 1.5) -> np.ndarray:
    """Fit on the points up to ``max_silence`` into a pause (the longest labelled pauses; beyond
    it every point is a turn end and the silence curve is extrapolated)."""
    pts = [p for c in clips for p in points(c) if p[2][1] <= max_silence]
    X = np.array([x for _, _, x in pts])
    y = np.array([yy for _, yy, _ in pts], dtype=float)
    X[:, [SOON, PUSH]] = 0.0  # the priors are added after the fit, not fitted
    w = fit(X, y, l2=l2, neg_weight=neg_weight)
    w[SOON] = SOON_AFTER_END_WEIGHT  # the replays never contain a premature end
    w[PUSH] = LATE_PUSH_WEIGHT       # latency, which the likelihood does not weigh
    return w


def evaluate_cv(clips: Sequence[Rec], threshold: float, **fit_kw: float) -> Rec:
    """Leave-one-clip-out: per pause, cut if any point in it fires; per turn end, latency of the
    first firing point after the end (points are 80 ms apart)."""
    cut = pauses = 0
    lat: list[float] = []
    missed = 0
    pts = [points(c) for c in clips]
    for i, clip in enumerate(clips):
        w = fit_clips([c for j, c in enumerate(clips) if j != i], **fit_kw)
        model = EotModel(tuple(float(v) for v in w))
        fired = {round(t, 3) for t, _, x in pts[i] if model.probability(x) >= threshold}
        for turn in clip["label"]["turns"]:
            for p in turn.get("pauses", []):
                pauses += 1
                cut += any(p["start_s"] <= t <= p["end_s"] for t in fired)
            after = sorted(t for t in fired if t >= turn["end_s"])
            ends = [t for t in after if t < turn["end_s"] + 3.0]
            if ends:
                lat.append(ends[0] - turn["end_s"])
            else:
                missed += 1
    return {"threshold": threshold, "cut_rate": cut / max(pauses, 1), "pauses": pauses,
            "latency_median_ms": 1000 * float(np.median(lat)) if lat else None,
            "latency_p95_ms": 1000 * float(np.percentile(lat, 95)) if lat else None, "missed": missed}


def run(args: argparse.Namespace) -> int:
    from turnscribe.engines.registry import load_engines
    from turnscribe.eval.turns import load_labels

    data = Path(args.data)
    labels = [lab for lab in load_labels(data) if lab["kind"] != "real_conversation_mono_mix"]
    engines = None if args.from_dump else load_engines()
    if args.from_dump:
        clips = json.loads(Path(args.from_dump).read_text())
    else:
        clips = collect(data, engines, labels, log=lambda s: print(s, file=sys.stderr))
    if args.dump:
        Path(args.dump).write_text(json.dumps(clips))
    kw = {"l2": args.l2, "neg_weight": args.neg_weight, "max_silence": args.fit_max_silence}
    w = fit_clips(clips, **kw)
    pts = [p for c in clips for p in points(c)]
    y = np.array([yy for _, yy, _ in pts], dtype=float)
    cv = [evaluate_cv(clips, th, **kw) for th in (0.5, 0.6, 0.7, 0.8, 0.9)]
    doc = {"features": list(FEATURES), "weights": [round(float(v), 4) for v in w], "points": len(y),
           "positives": int(y.sum()), "fit": kw, "cross_validation": cv}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    return 0


def add_command(ev: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = ev.add_parser("calibrate", help="fit the end-of-turn model on DIR/turns/labels.jsonl")
    p.add_argument("--data", required=True)
    p.add_argument("--out", default="results/eot-calibration.json")
    p.add_argument("--l2", type=float, default=1.0)
    p.add_argument("--dump", help="also write every clip's traced cues to this JSON file")
    p.add_argument("--from-dump", help="fit on cues dumped by an earlier run (no replay)")
    p.add_argument("--neg-weight", type=float, default=3.0, help="cost of a cut-off point vs. a late one")
    p.add_argument("--fit-max-silence", type=float, default=1.5, help="fit on points up to this far into a pause")
    p.set_defaults(func=run)
