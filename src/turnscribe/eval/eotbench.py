"""``turnscribe eval eot`` — turn-end detection measured the eot-bench way.

Every silence of a labelled clip is a *span*: a **hold** (a pause inside a turn: ending the turn
there is a false cut-off) or an **eot** (the silence after a turn: ending it there is right, and
how soon is the latency). As in LiveKit's eot-bench, only holds of 0.2-5 s are scored.

1. *Record* (slow, once): each clip is replayed through the real Session and engines with model
   ends off (every turn is ended by hand ``ORACLE_END_S`` after its labelled end, so each turn
   starts fresh). At every 80 ms decision frame of a pause the session's end-of-turn cues are
   traced. Beside them the baselines' inputs are recorded on the same audio: the VAD's silence at
   every frame, and Smart Turn v3.2 asked pipecat's way (on the turn's audio from 0.5 s before its
   onset) at every frame of the first ``SMART_TURN_MAX_S`` of each span.
2. *Sweep* (fast, from the recording): a policy is (threshold, minimum silence before acting,
   timeout). For each policy: false cut-off rate over the scored holds and mean latency over the
   eots (an eot the policy never ends within its span counts as the span's length). Three systems
   go through the same sweep: **turnscribe** (its fused confidence), **silence only** (the VAD's
   silence reaching the minimum), and **Smart Turn alone** (asked once when the VAD's silence
   reaches the minimum; "complete" at or above the threshold ends the turn there, otherwise the
   timeout does).
3. *Out of sample*: turnscribe's parameters are set by hand (``eot.EotModel``), so they are
   evaluated cross-validated two ways: leaving out one speaker/source group at a time
   (``group_of``), and across the two labelled sets. In each fold the three that shape the
   decisions most are re-chosen from ``CV_GRID`` on the other folds (``selection_score``) and
   the held-out fold is scored with that choice; the shipped values are reported beside it.

Headline figures per system: best false cut-off rate at a mean-latency budget of 300 / 600 ms,
best mean latency at a cut-off budget of 5 % / 10 %, the Pareto frontier, and the default
settings' point (with eager mode's precision and lead time); a plot per clip.

4. *Wall clock* (``--url``): every clip, silence and noise clips included, is streamed at real
   time through a running server (``live.py``); the EndOfTurns are scored as they arrive, at the
   server's settings.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from turnscribe.core.eot import EotModel
from turnscribe.types.engine import SAMPLE_RATE, TurnRequest
from turnscribe.wire.params import ListenParams, Thresholds

Rec = dict[str, Any]

FRAME_S = 0.08
HOLD_MIN_S, HOLD_MAX_S = 0.2, 5.0      # eot-bench scores holds of this length only
ORACLE_END_S = 2.4                     # each turn is ended by hand this long after its labelled end
SMART_TURN_MAX_S = 1.2                 # Smart Turn is recorded this far into each span
SMART_TURN_PRE_S = 0.5                 # pipecat feeds the turn from this long before its onset
VAD_ON = 0.5                           # the VAD's speech threshold (the session's default)
# evenly spaced in log-odds (0.007 .. 0.993): every system's score, however it is scaled, is swept
THRESHOLDS = tuple(round(float(1 / (1 + np.exp(-z))), 4) for z in np.arange(-5.0, 5.01, 0.5))
MIN_SILENCES = tuple(round(FRAME_S * k, 2) for k in range(1, 16))  # 0.08 .. 1.2 s
TIMEOUTS = (0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0)
LATENCY_BUDGETS_S = (0.3, 0.6)
CUTOFF_BUDGETS = (0.05, 0.10)


# --------------------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float
    hold: bool
    kind: str

    @property
    def scored(self) -> bool:
        return not self.hold or HOLD_MIN_S <= self.end - self.start <= HOLD_MAX_S


def group_of(label: Rec) -> str:
    """The source/speaker group a clip belongs to (the unit left out in cross-validation)."""
    src = str(label.get("source_package", ""))
    speaker = str(label.get("speaker") or "")
    if speaker:
        return speaker
    if src.startswith("piper"):
        return "piper_synthetic_en"
    if src.startswith("asterisk-core-sounds-en"):
        return "allison_smith_en_us"
    if src.startswith("espnet"):
        return "an4_en"
    return src.split()[0] if src else "unknown"


def spans_of(label: Rec) -> list[Span]:
    """Holds (labelled pauses) and eots (turn end to the next turn's onset, or the clip end)."""
    turns = sorted(label.get("turns", []), key=lambda t: t["start_s"])
    out: list[Span] = []
    for i, turn in enumerate(turns):
        for p in turn.get("pauses", []):
            out.append(Span(float(p["start_s"]), float(p["end_s"]), True, str(p.get("kind", "pause"))))
        nxt = turns[i + 1]["start_s"] if i + 1 < len(turns) else label["duration_s"]
        out.append(Span(float(turn["end_s"]), float(nxt), False, str(turn.get("end_kind", "complete"))))
    return out


def load_labels(data: Path, *, turnless: bool = False) -> list[Rec]:
    """The synthetic turn clips and the real turn set: clips with turns (the two-speaker
    conversation is left out: its turns are not one user's), and with ``turnless`` also the
    silence and noise clips (no turn may start in them)."""
    rows: list[Rec] = []
    for rel in ("turns/labels.jsonl", "turns/real/labels.jsonl"):
        path = data / rel
        if path.exists():
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if (r.get("turns") or turnless) and r["kind"] != "real_conversation_mono_mix"]


def clip_params(label: Rec) -> ListenParams:
    """Model ends off; non-English clips stream as flux-general-multi with their language hint."""
    th = Thresholds(eot_threshold=1.0, eot_timeout_ms=10000)
    lang = str(label.get("language") or "en").split("-")[0]
    if lang != "en":
        return ListenParams(model="flux-general-multi", language_hints=(lang,), thresholds=th)
    return ListenParams(thresholds=th)


# ----------------------------------------------------------------------------------- record


def read_wav(path: Path) -> np.ndarray:
    """A 16 kHz mono PCM16 WAV (the turn sets' format) as float32."""
    import wave

    with wave.open(str(path), "rb") as w:
        if w.getframerate() != SAMPLE_RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16 kHz mono PCM16")
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def vad_silence(audio: np.ndarray, vad: Any) -> tuple[np.ndarray, np.ndarray]:
    """(frame end times, silence in s at each) on the 80 ms grid: time since the last 32 ms chunk
    the VAD called speech (the whole clip's time when there was none yet)."""
    chunk = int(vad.chunk_samples)
    n = len(audio) // chunk
    from turnscribe.types.engine import VadRequest

    probs = vad.process([VadRequest(state=vad.new_state(), audio=audio[: n * chunk])])[0]
    speech_end = (np.arange(n) + 1) * chunk / SAMPLE_RATE
    last = -1.0
    times = np.arange(FRAME_S, len(audio) / SAMPLE_RATE + 1e-9, FRAME_S)
    sil = np.empty(len(times))
    k = 0
    for i, t in enumerate(times):
        while k < n and speech_end[k] <= t + 1e-9:
            if probs[k] >= VAD_ON:
                last = speech_end[k]
            k += 1
        sil[i] = t - last if last >= 0 else t
    return times, sil


def smart_turn_frames(sp: Span) -> list[float]:
    """The frames of the 80 ms grid (the times ``vad_silence`` reports) at which Smart Turn is
    recorded in a span: those in its first SMART_TURN_MAX_S."""
    k = math.floor(sp.start / FRAME_S + 1e-9) + 1
    out = []
    while k * FRAME_S <= min(sp.end, sp.start + SMART_TURN_MAX_S) + 1e-9:
        out.append(k * FRAME_S)
        k += 1
    return out


def smart_turn_scores(audio: np.ndarray, label: Rec, spans: Sequence[Span], turn: Any) -> list[list[float]]:
    """Per span, Smart Turn's P(complete) at each of its ``smart_turn_frames``."""
    turns = sorted(label["turns"], key=lambda t: t["start_s"])
    reqs: list[TurnRequest] = []
    index: list[int] = []
    for si, sp in enumerate(spans):
        onset = max([t["start_s"] for t in turns if t["start_s"] <= sp.start] or [0.0])
        for t in smart_turn_frames(sp):
            a = int(max(0.0, onset - SMART_TURN_PRE_S, t - 8.0) * SAMPLE_RATE)
            reqs.append(TurnRequest(audio=audio[a:int(t * SAMPLE_RATE)]))
            index.append(si)
    out: list[list[float]] = [[] for _ in spans]
    for i in range(0, len(reqs), 32):
        for si, p in zip(index[i:i + 32], turn.score(reqs[i:i + 32]), strict=True):
            out[si].append(round(float(p), 4))
    return out


def record(data: Path, labels: Sequence[Rec], engines: Any, log: Callable[[str], None] | None = None) -> list[Rec]:
    """Replay every clip (see the module docstring, step 1); JSON-ready records."""
    from turnscribe.core.session import TurnPolicy
    from turnscribe.eval.cues import cues_record
    from turnscribe.eval.replay import replay_bytes, stream_params

    clips = []
    for n, label in enumerate(labels, 1):
        path = data / label["path"]
        raw = path.read_bytes()
        header = raw.find(b"data") + 8
        force = json.dumps({"type": "ForceEndTurn"})
        actions = [(header + int((t["end_s"] + ORACLE_END_S) * SAMPLE_RATE) * 2, force) for t in label["turns"]]
        rep = replay_bytes(raw, stream_params(path, base=clip_params(label)), engines,
                           policy=TurnPolicy(trace=True), actions=actions, keep_session=True)
        assert rep.session is not None
        audio = read_wav(path)
        spans = spans_of(label)
        times, sil = vad_silence(audio, engines.vad)
        clips.append({
            "path": label["path"], "kind": label["kind"], "group": group_of(label),
            "language": str(label.get("language") or "en"), "label": label,
            "spans": [[s.start, s.end, s.hold, s.kind] for s in spans],
            "trace": [(round(t, 3), cues_record(c)) for t, c in rep.session.trace],
            "vad": [[round(float(t), 3), round(float(s), 3)] for t, s in zip(times, sil, strict=True)],
            "smart_turn": smart_turn_scores(audio, label, spans, engines.turn),
        })
        if log:
            log(f"[{n}/{len(labels)}] {label['path']}: {len(spans)} spans, {len(clips[-1]['trace'])} traced frames")
    return clips


# ------------------------------------------------------------------------------------ sweep


@dataclass(frozen=True, slots=True)
class Track:
    """One span's decision inputs: times (s from the span start), silence and score per frame."""

    span: Span
    t: np.ndarray
    silence: np.ndarray
    score: np.ndarray


def spans_from(clip: Rec) -> list[Span]:
    return [Span(float(a), float(b), bool(h), str(k)) for a, b, h, k in clip["spans"]]


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
    eots = [t for t in tracks if not t.span.hold]
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
            "mean_latency_s": float(np.mean(lat)) if lat else None, "eots": len(eots), "missed": missed}


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
        res[f"cutoff_at_{int(b * 1000)}ms"] = _brief(best)
    for c in CUTOFF_BUDGETS:
        ok = [p for p in points if p["cutoff"] <= c + 1e-9]
        best = min(ok, key=lambda p: (p["mean_latency_s"], p["cutoff"])) if ok else None
        res[f"latency_at_{round(c * 100)}pct"] = _brief(best)
    return res


def _brief(p: Rec | None) -> Rec | None:
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


# ------------------------------------------------------------------------------ cross-validation


def data_set_of(clip: Rec) -> str:
    """Which labelled set a clip comes from: the real turn set or the synthetic turn clips."""
    return "real" if str(clip["path"]).startswith("turns/real/") else "synthetic"


# turnscribe's parameters are set by hand (eot.py), not fitted; cross-validation re-chooses the
# three that shape its decisions most from this grid on the training folds (the rest stay as
# shipped) and scores the held-out fold with that choice.
CV_GRID: dict[str, tuple[float, ...]] = {
    "acoustic_weight": (0.3, 0.5, 0.8),
    "hold_patience": (1.0, 2.0, 3.0),
    "patience_floor_s": (0.4, 0.5, 0.6),
}


def candidates() -> list[EotModel]:
    import itertools

    names = list(CV_GRID)
    combos: list[dict[str, Any]] = [dict(zip(names, combo, strict=True))
                                    for combo in itertools.product(*(CV_GRID[n] for n in names))]
    return [EotModel(**kw) for kw in combos]


def selection_score(tracks: Sequence[Track]) -> float:
    """Distance from the issue's targets, each as a multiple of its budget (lower is better):
    mean latency at 5 % cut-offs over 450 ms plus cut-offs at 300 ms over 10 %."""
    h = headline(sweep(tracks, system="turnscribe", coarse=True))
    lat = h["latency_at_5pct"]["mean_latency_s"] if h["latency_at_5pct"] else 3.0
    cut = h["cutoff_at_300ms"]["cutoff"] if h["cutoff_at_300ms"] else 1.0
    return float(lat / 0.45 + cut / 0.10)


CandidateTracks = list[tuple[EotModel, list[list[Track]]]]


def candidate_tracks(clips: Sequence[Rec]) -> CandidateTracks:
    """Each of the ``candidates`` with its tracks of every clip (computed once for all folds)."""
    return [(m, [tracks_turnscribe(c, m) for c in clips]) for m in candidates()]


def cv_models(clips: Sequence[Rec], key: Callable[[Rec], str],
              scored: CandidateTracks | None = None) -> dict[str, EotModel]:
    """Per fold (value of ``key``), the ``candidates`` model that scores best on every other fold.
    ``scored``: ``candidate_tracks(clips)``, when the caller has it already."""
    scored = scored if scored is not None else candidate_tracks(clips)
    cands = [m for m, _ in scored]
    per_cand = [tracks for _, tracks in scored]
    out = {}
    for g in sorted({key(c) for c in clips}):
        train = [i for i, c in enumerate(clips) if key(c) != g]
        scores = [selection_score([t for i in train for t in tracks[i]]) for tracks in per_cand]
        out[g] = cands[int(np.argmin(scores))]
    return out


def headlines_by(per_clip: Sequence[tuple[Rec, list[Track]]], key: Callable[[Rec], str], *, system: str) -> Rec:
    """The headline figures of each subset of clips sharing a value of ``key``."""
    groups: dict[str, list[Track]] = {}
    for clip, tracks in per_clip:
        groups.setdefault(key(clip), []).extend(tracks)
    return {g: headline(sweep(ts, system=system)) for g, ts in sorted(groups.items())}


def kind(system: str) -> str:
    return system if system in ("smart_turn", "silence") else "turnscribe"


def evaluate(clips: Sequence[Rec], *, default: EotModel | None = None, settings: Thresholds | None = None) -> Rec:
    """Every system through the sweep, overall and per group; the default settings' point."""
    default = default or EotModel()
    settings = settings or Thresholds()
    def group(c: Rec) -> str:
        return str(c["group"])

    scored = candidate_tracks(clips)
    models = cv_models(clips, group, scored)
    by_set = cv_models(clips, data_set_of, scored)
    systems: dict[str, Callable[[Rec], list[Track]]] = {
        "turnscribe_cv_speakers": lambda c: tracks_turnscribe(c, models[c["group"]]),
        "turnscribe_cv_sets": lambda c: tracks_turnscribe(c, by_set[data_set_of(c)]),
        "turnscribe_shipped": lambda c: tracks_turnscribe(c, default),
        "smart_turn": tracks_smart_turn,
        "silence": tracks_silence,
    }
    doc: Rec = {"groups": sorted({c["group"] for c in clips}), "systems": {}}
    for name, make in systems.items():
        per_clip = [(c, make(c)) for c in clips]  # the confidences of a clip are computed once
        tracks = [t for _, ts in per_clip for t in ts]
        pts = sweep(tracks, system=kind(name))
        entry: Rec = {"headline": headline(pts), "frontier": [_brief(p) for p in frontier(pts)]}
        if name.startswith("turnscribe"):
            entry["default_point"] = _brief(score_policy(
                tracks, settings.eot_threshold, 0.0, settings.eot_timeout_ms / 1000))
            entry["eager"] = eager_report(tracks, settings.eot_threshold, settings.eot_timeout_ms / 1000)
        entry["per_group"] = headlines_by(per_clip, group, system=kind(name))
        entry["per_set"] = headlines_by(per_clip, data_set_of, system=kind(name))
        doc["systems"][name] = entry
    doc["cv_choice"] = {g: {n: getattr(m, n) for n in CV_GRID} for g, m in (*models.items(), *by_set.items())}
    doc["shipped"] = {n: getattr(default, n) for n in CV_GRID}
    return doc


# ------------------------------------------------------------------------------------ report


def _fmt(h: Rec | None, key: str) -> str:
    if h is None:
        return "-"
    if key == "cutoff":
        return f"{100 * h['cutoff']:.1f}% ({h['mean_latency_s'] * 1000:.0f} ms)"
    return f"{h['mean_latency_s'] * 1000:.0f} ms ({100 * h['cutoff']:.1f}%)"


def summary(doc: Rec) -> str:
    head = ["system", "cut-off @300ms", "cut-off @600ms", "latency @5%", "latency @10%"]
    rows = [head]
    for name, e in doc["systems"].items():
        h = e["headline"]
        rows.append([name, _fmt(h["cutoff_at_300ms"], "cutoff"), _fmt(h["cutoff_at_600ms"], "cutoff"),
                     _fmt(h["latency_at_5pct"], "lat"), _fmt(h["latency_at_10pct"], "lat")])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, e in doc["systems"].items():
        if "default_point" in e:
            d = e["default_point"]
            lines.append(f"{name} at the default settings: cut-off {100 * d['cutoff']:.1f}% "
                         f"({d['cut']}/{d['holds']} holds), mean latency {d['mean_latency_s'] * 1000:.0f} ms, "
                         f"{d['missed']} of {d['eots']} eots missed")
            for e in entry_eager(doc, name):
                lines.append(f"  eager {e['eager_threshold']}: precision {100 * (e['precision'] or 0):.0f}% "
                             f"({e['eager_in_holds']} in holds), {e['eots_with_eager']}/{e['eots']} eots, "
                             f"lead mean {_ms(e['lead_mean_s'])} / median {_ms(e['lead_median_s'])}")
    return "\n".join(lines)


def entry_eager(doc: Rec, name: str) -> list[Rec]:
    return list(doc["systems"][name].get("eager", []))


def plot(doc: Rec, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, e in doc["systems"].items():
        f = e["frontier"]
        ax.step([p["mean_latency_s"] * 1000 for p in f], [100 * p["cutoff"] for p in f], where="post",
                label=name, marker=".")
        if "default_point" in e:
            d = e["default_point"]
            ax.plot([d["mean_latency_s"] * 1000], [100 * d["cutoff"]], "k*", ms=10)
    ax.set_xlabel("mean EndOfTurn latency after the end of speech (ms, audio clock)")
    ax.set_ylabel("false cut-offs (% of holds 0.2-5 s)")
    ax.set_title("Turn-end detection: Pareto frontier per system (* = default settings)")
    ax.set_xlim(0, 1600)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ------------------------------------------------------------------------- live (wall clock)


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
    minus the end of speech). An end decided inside a turn's speech, outside any hold, is a cut too."""
    spans = spans_of(label)
    starts = sum(1 for _, m in turninfos if m.get("event") == "StartOfTurn")
    ends = [(t, float(m["audio_window_end"])) for t, m in turninfos if m.get("event") == "EndOfTurn"]
    turns = sorted(label["turns"], key=lambda t: t["start_s"])
    holds, eots = [], []
    for sp in spans:
        inside = [(t, w) for t, w in ends if sp.start < w <= sp.end + 1e-9]
        if sp.hold:
            if sp.scored:
                holds.append({"start": sp.start, "end": sp.end, "cut": bool(inside)})
        else:
            eots.append({"start": sp.start, "end": sp.end, "kind": sp.kind,
                         "latency_s": round(inside[0][0] - sp.start, 3) if inside else None,
                         "audio_latency_s": round(inside[0][1] - sp.start, 3) if inside else None})
    in_speech = sum(1 for _, w in ends
                    if any(t["start_s"] < w < t["end_s"] for t in turns)
                    and not any(sp.hold and sp.start < w <= sp.end for sp in spans))
    return {"holds": holds, "eots": eots, "cut_in_speech": in_speech,
            "spurious_starts": starts if not turns else 0}


def live_summary(scored: Sequence[Rec]) -> Rec:
    holds = [h for c in scored for h in c["holds"]]
    eots = [e for c in scored for e in c["eots"]]
    lat = [e["latency_s"] for e in eots if e["latency_s"] is not None]
    alat = [e["audio_latency_s"] for e in eots if e["audio_latency_s"] is not None]
    cut = sum(h["cut"] for h in holds)

    def q(v: Sequence[float], p: float) -> float | None:
        return round(float(np.percentile(v, p)), 3) if v else None

    return {"holds": len(holds), "cut": cut, "cutoff": cut / len(holds) if holds else None,
            "cut_in_speech": sum(c["cut_in_speech"] for c in scored), "eots": len(eots),
            "missed": len(eots) - len(lat), "latency_median_s": q(lat, 50), "latency_p95_s": q(lat, 95),
            "latency_mean_s": round(float(np.mean(lat)), 3) if lat else None,
            "audio_latency_median_s": q(alat, 50),
            "short_answers": sum(e["kind"] == "short_answer" for e in eots),
            "short_answers_missed": sum(e["kind"] == "short_answer" and e["latency_s"] is None for e in eots),
            "turnless_clips": sum(not c["eots"] for c in scored),
            "spurious_starts": sum(c["spurious_starts"] for c in scored)}


def run_live(args: argparse.Namespace, labels: Sequence[Rec], out: Path) -> int:
    import asyncio

    from turnscribe.eval.live import stream_many

    th = {"eot_threshold": args.eot_threshold, "eager_eot_threshold": args.eager_eot_threshold,
          "eot_timeout_ms": args.eot_timeout_ms}
    jobs = [(Path(args.data) / lab["path"], live_query(lab, th)) for lab in labels]
    headers = {"Authorization": f"Token {args.api_key}"} if args.api_key else None
    results = asyncio.run(stream_many(args.url, jobs, concurrency=args.streams, headers=headers))
    clips: list[Rec] = []
    by_group: dict[str, list[Rec]] = {}
    for lab, res in zip(labels, results, strict=True):
        sc = score_live(lab, res.turninfos())
        sc.update(path=lab["path"], group=group_of(lab), error=res.error, close_code=res.close_code)
        clips.append(sc)
        by_group.setdefault(group_of(lab), []).append(sc)
    doc = {"url": args.url, "streams": args.streams, "thresholds": th, "overall": live_summary(clips),
           "per_group": {g: live_summary(v) for g, v in sorted(by_group.items())}, "clips": clips}
    (out / "live.json").write_text(json.dumps(doc, indent=1))
    for name, m in [("overall", doc["overall"]), *doc["per_group"].items()]:
        print(f"{name:22s} cut-offs {m['cut']}/{m['holds']} holds"
              f" ({100 * (m['cutoff'] or 0):.1f}%), {m['cut_in_speech']} more inside speech;"
              f" EndOfTurn latency (wall clock) median {_ms(m['latency_median_s'])}, mean"
              f" {_ms(m['latency_mean_s'])}, p95 {_ms(m['latency_p95_s'])}; audio clock median"
              f" {_ms(m['audio_latency_median_s'])}; missed {m['missed']}/{m['eots']}")
    errors = [c for c in clips if c["error"]]
    if errors:
        print(f"{len(errors)} clip(s) failed: " + "; ".join(f"{c['path']}: {c['error']}" for c in errors[:5]))
    o = doc["overall"]
    print(f"short answers missed {o['short_answers_missed']}/{o['short_answers']}; StartOfTurn on silence/noise "
          f"clips: {o['spurious_starts']} in {o['turnless_clips']} clips")
    print(f"wrote {out / 'live.json'}")
    return 1 if errors else 0


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f} ms"


def plot_clips(clips: Sequence[Rec], folder: Path, model: EotModel | None = None,
               threshold: float | None = None) -> None:
    """One PNG per clip: the fused confidence (shipped weights) and Smart Turn's answers over the
    clip's silences, holds shaded red and eots green, the EndOfTurn threshold drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from turnscribe.eval.cues import cues_from

    model = model or EotModel()
    threshold = Thresholds().eot_threshold if threshold is None else threshold
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        fig, ax = plt.subplots(figsize=(12, 3))
        for sp in spans_from(clip):
            ax.axvspan(sp.start, sp.end, color="tab:red" if sp.hold else "tab:green",
                       alpha=0.25 if sp.hold and sp.scored else 0.12, lw=0)
        pts = [(float(t), model.probability(cues_from(c))) for t, c in clip["trace"]]
        if pts:
            ax.plot(*zip(*pts, strict=True), ".", ms=3, color="tab:blue", label="turnscribe confidence")
        st = [tp for sp, sc in zip(spans_from(clip), clip["smart_turn"], strict=True)
              for tp in zip(smart_turn_frames(sp), sc)]
        if st:
            ax.plot(*zip(*st, strict=True), "x", ms=3, color="tab:orange", label="Smart Turn P(complete)")
        ax.axhline(threshold, color="k", lw=0.8, ls="--", label=f"eot_threshold {threshold}")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("clip time (s)")
        ax.set_title(f"{clip['path']}  (red: holds, green: after the turn)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(folder / (Path(clip["path"]).stem + ".png"), dpi=90)
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.url:
        labels = load_labels(data, turnless=True)
        if args.groups:
            labels = [lab for lab in labels if group_of(lab) in args.groups.split(",")]
        return run_live(args, labels[: args.limit] if args.limit else labels, out)
    rec_path = out / "recording.json"
    if args.from_recording:
        clips = json.loads(Path(args.from_recording).read_text())
    else:
        from turnscribe.engines.registry import load_engines

        engines = load_engines()
        clips = record(data, load_labels(data), engines, log=lambda s: print(s, file=sys.stderr))
        rec_path.write_text(json.dumps(clips))
    doc = evaluate(clips)
    doc["clips"] = len(clips)
    (out / "eot.json").write_text(json.dumps(doc, indent=1))
    print(summary(doc))
    if not args.no_plots:
        plot(doc, out / "pareto.png")
        plot_clips(clips, out / "clips")
        print(f"wrote {out / 'eot.json'}, {out / 'pareto.png'} and a plot per clip in {out / 'clips'}")
    return 0


def add_command(ev: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = ev.add_parser("eot", help="turn-end detection the eot-bench way: sweeps, baselines, cross-validation")
    p.add_argument("--data", required=True, type=Path, help="data folder holding turns/ (and turns/real/)")
    p.add_argument("--out", default="results/eot", type=Path, help="output folder (default results/eot)")
    p.add_argument("--from-recording", default=None, help="reuse a recording.json instead of replaying")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--url", default=None,
                   help="ws://host:port/v2/listen of a running server: stream every clip at real time and "
                        "score the EndOfTurns as they arrive (wall clock) at the server's / these settings")
    p.add_argument("--streams", type=int, default=1, help="with --url: clips streamed at once (default 1)")
    p.add_argument("--groups", default="", help="with --url: only these speaker/source groups (comma-separated)")
    p.add_argument("--limit", type=int, default=None, help="with --url: only the first N clips")
    p.add_argument("--api-key", default=None, help="with --url: sent as 'Authorization: Token KEY'")
    p.add_argument("--eot-threshold", type=float, default=None,
                   help="with --url: sent in the query (offline, the sweep covers the thresholds)")
    p.add_argument("--eager-eot-threshold", type=float, default=None, help="with --url: sent in the query")
    p.add_argument("--eot-timeout-ms", type=int, default=None, help="with --url: sent in the query")
    p.set_defaults(func=run)
