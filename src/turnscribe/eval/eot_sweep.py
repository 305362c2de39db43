"""Step 2 of ``turnscribe eval eot``, the sweep (fast, from a recording): a policy is (threshold,
minimum silence before acting, timeout); each is scored by its false cut-off rate over the scored
holds and its mean latency over the eots of the turns it detected (an eot it never ends within its
span counts as the span's length; the eots of turns it never opened are counted apart, as
``undetected``: no end policy reaches them). The three systems' decision inputs per span (``Track``),
the Pareto frontier, the headline figures at the latency and cut-off budgets, and eager mode."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from turnscribe.core.eot import EotModel
from turnscribe.core.framing import FRAME_S
from turnscribe.eval.eot_spans import Rec, Span, spans_from

# evenly spaced in log-odds (0.007 .. 0.993): every system's score, however it is scaled, is swept
THRESHOLDS = tuple(round(float(1 / (1 + np.exp(-z))), 4) for z in np.arange(-5.0, 5.01, 0.5))
MIN_SILENCES = tuple(round(FRAME_S * k, 2) for k in range(1, 16))  # 0.08 .. 1.2 s
TIMEOUTS = (0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
LATENCY_BUDGETS_S = (0.3, 0.6)
CUTOFF_BUDGETS = (0.05, 0.10)


@dataclass(frozen=True, slots=True)
class Track:
    """One span's decision inputs: times (s from the span start), silence and score per frame."""

    span: Span
    t: np.ndarray
    silence: np.ndarray
    score: np.ndarray

    @property
    def undetected(self) -> bool:
        """An eot of a turn the system never opened (no decision frame in its silence): a missed
        turn, whatever the policy; the baselines' silence always has frames."""
        return not self.span.hold and self.t.size == 0


def tracks_turnscribe(clip: Rec, model: EotModel) -> list[Track]:
    from turnscribe.eval.cues import cues_from

    pts = [(float(t), float(c["silence"]), model.probability(cues_from(c))) for t, c in clip["trace"]]
    return _tracks(spans_from(clip), pts)


def tracks_silence(clip: Rec) -> list[Track]:
    return _tracks(spans_from(clip), [(float(t), float(s), 1.0) for t, s in clip["vad"]])


def tracks_smart_turn(clip: Rec) -> list[Track]:
    """The VAD's silence, with Smart Turn's answer at each frame where it was recorded."""
    out = []
    vad = clip["vad"]
    for sp, scores in zip(spans_from(clip), clip["smart_turn"], strict=True):
        pts = [(float(t), float(s)) for t, s in vad if sp.start < t <= sp.end + 1e-9]
        sc = np.array([scores[k] if k < len(scores) else 0.0 for k in range(len(pts))])
        out.append(Track(sp, np.array([t - sp.start for t, _ in pts]), np.array([s for _, s in pts]), sc))
    return out


def _tracks(spans: Sequence[Span], pts: Sequence[tuple[float, float, float]]) -> list[Track]:
    out = []
    for sp in spans:
        sel = [(t, s, p) for t, s, p in pts if sp.start < t <= sp.end + 1e-9]
        out.append(Track(sp, np.array([t - sp.start for t, _, _ in sel]), np.array([s for _, s, _ in sel]),
                         np.array([p for _, _, p in sel])))
    return out


def decision_time(tr: Track, threshold: float, min_silence: float, timeout: float, *, ask_once: bool) -> float | None:
    """When (s into the span) the policy ends the turn, or None if not within the span.

    Normal: the first frame with silence >= min_silence and score >= threshold, or silence >=
    timeout. ``ask_once`` (Smart Turn, pipecat's way): only the first frame with silence >=
    min_silence is asked; "incomplete" waits for the timeout."""
    if tr.t.size == 0:
        return None
    ok = tr.silence >= min_silence - 1e-9
    if ask_once:
        first = np.flatnonzero(ok)
        if first.size and tr.score[first[0]] >= threshold:
            return float(tr.t[first[0]])
        fire = tr.silence >= max(timeout, min_silence) - 1e-9
    else:
        fire = (ok & (tr.score >= threshold)) | (tr.silence >= timeout - 1e-9)
    idx = np.flatnonzero(fire)
    return float(tr.t[idx[0]]) if idx.size else None


def score_policy(tracks: Sequence[Track], threshold: float, min_silence: float, timeout: float,
                 *, ask_once: bool = False) -> Rec:
    holds = [t for t in tracks if t.span.hold and t.span.scored]
    eots = [t for t in tracks if not t.span.hold and not t.undetected]
    undetected = sum(t.undetected for t in tracks)
    cut = sum(decision_time(t, threshold, min_silence, timeout, ask_once=ask_once) is not None for t in holds)
    lat, missed = [], 0
    for t in eots:
        d = decision_time(t, threshold, min_silence, timeout, ask_once=ask_once)
        if d is None:
            missed += 1
            d = t.span.end - t.span.start
        lat.append(d)
    return {"threshold": threshold, "min_silence_s": min_silence, "timeout_s": timeout,
            "cutoff": cut / len(holds) if holds else 0.0, "holds": len(holds), "cut": cut,
            "mean_latency_s": float(np.mean(lat)) if lat else None, "eots": len(eots), "missed": missed,
            "undetected": undetected}


def sweep(tracks: Sequence[Track], *, system: str, coarse: bool = False) -> list[Rec]:
    """Every policy of the grid; ``coarse``: every other threshold and minimum silence (model
    selection inside cross-validation)."""
    thresholds, silences = (THRESHOLDS[1::2], MIN_SILENCES[::2]) if coarse else (THRESHOLDS, MIN_SILENCES)
    if system == "silence":
        return [score_policy(tracks, 0.0, m, math.inf) for m in silences]
    ask_once = system == "smart_turn"
    return [score_policy(tracks, th, m, to, ask_once=ask_once)
            for th in thresholds for m in silences for to in TIMEOUTS if to > m]


def frontier(points: Iterable[Rec]) -> list[Rec]:
    """The Pareto-optimal points (no other point has both fewer cut-offs and lower latency)."""
    pts = sorted(points, key=lambda p: (p["mean_latency_s"], p["cutoff"]))
    out: list[Rec] = []
    best = math.inf
    for p in pts:
        if p["cutoff"] < best - 1e-12:
            out.append(p)
            best = p["cutoff"]
    return out


def headline(points: Sequence[Rec]) -> Rec:
    res: Rec = {}
    for b in LATENCY_BUDGETS_S:
        ok = [p for p in points if p["mean_latency_s"] <= b + 1e-9]
        best = min(ok, key=lambda p: (p["cutoff"], p["mean_latency_s"])) if ok else None
        res[f"cutoff_at_{int(b * 1000)}ms"] = brief(best)
    for c in CUTOFF_BUDGETS:
        ok = [p for p in points if p["cutoff"] <= c + 1e-9]
        best = min(ok, key=lambda p: (p["mean_latency_s"], p["cutoff"])) if ok else None
        res[f"latency_at_{round(c * 100)}pct"] = brief(best)
    return res


def brief(p: Rec | None) -> Rec | None:
    if p is None:
        return None
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in p.items()}


EAGER_THRESHOLDS = (0.3, 0.4, 0.5, 0.6)


def eager_report(tracks: Sequence[Track], eot_threshold: float, timeout: float) -> list[Rec]:
    """Eager mode at each eager threshold below ``eot_threshold``: precision (eager ends that fall
    in an eot, i.e. that no TurnResumed follows, over all eager ends), how many eots got one, and
    the lead time a speculative agent gains (EndOfTurn minus EagerEndOfTurn, mean over the eots
    that had both)."""
    out = []
    for eager in EAGER_THRESHOLDS:
        if eager >= eot_threshold:
            continue
        in_holds = sum(decision_time(t, eager, 0.0, math.inf, ask_once=False) is not None
                       for t in tracks if t.span.hold)
        leads, hit = [], 0
        eots = [t for t in tracks if not t.span.hold]
        for t in eots:
            e = decision_time(t, eager, 0.0, math.inf, ask_once=False)
            if e is None:
                continue
            hit += 1
            end = decision_time(t, eot_threshold, 0.0, timeout, ask_once=False)
            if end is not None:
                leads.append(end - e)
        fired = hit + in_holds
        out.append({"eager_threshold": eager, "precision": round(hit / fired, 4) if fired else None,
                    "eager_in_holds": in_holds, "eots_with_eager": hit, "eots": len(eots),
                    "lead_mean_s": round(float(np.mean(leads)), 3) if leads else None,
                    "lead_median_s": round(float(np.median(leads)), 3) if leads else None})
    return out

