"""Does Smart Turn judge a turn's end better when the turn's earlier pauses are shortened?

For every labelled turn of DIR/turns/labels.jsonl (the two-speaker mix excluded) it asks Smart
Turn v3.2 at two kinds of point, 0.15 s after the speech stops (where the session asks it):

- a labelled pause inside a turn (the speaker goes on: "complete" would be wrong);
- the turn's real end (the speaker is done).

The audio runs from 0.3 s before the turn to that point, once with the turn's earlier pauses kept
whole (baseline) and once with each cut to 150 ms by the session's own ``shorten_pauses``. It prints and writes
the mean P(complete) per group and the AUC (P that a random end outscores a random pause).

    python benchmarks/smart_turn_pauses.py --data ../shared/data [--out results/smart-turn-pauses.json]
"""

from __future__ import annotations

import argparse
import json
import wave
from pathlib import Path

import numpy as np

from turnscribe.core.activity import shorten_pauses
from turnscribe.engines.smart_turn import SmartTurn
from turnscribe.types.engine import TurnRequest

RATE = 16000
ASK_AFTER_S = 0.15
KEEP_S = 0.15


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def turn_audio(audio: np.ndarray, turn: dict, until: float, keep: float | None) -> np.ndarray:
    """From 0.3 s before the turn up to ``until``; earlier pauses cut to ``keep`` s as the session
    does (``shorten_pauses``), or kept whole (None)."""
    start = int(max(0.0, turn["start_s"] - 0.3) * RATE)
    seg = audio[start:int(until * RATE)]
    if keep is None:
        return seg
    gaps = [(int(p["start_s"] * RATE) - start, int(p["end_s"] * RATE) - start)
            for p in turn.get("pauses", []) if p["end_s"] <= until - 0.05]
    return shorten_pauses(seg, gaps, int(keep * RATE))


def auc(pos: list[float], neg: list[float]) -> float:
    return float(np.mean([(a > b) + 0.5 * (a == b) for a in pos for b in neg]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", default="results/smart-turn-pauses.json")
    args = ap.parse_args()
    data = Path(args.data)
    labels = [json.loads(line) for line in (data / "turns/labels.jsonl").read_text().splitlines() if line.strip()]
    model = SmartTurn()

    def score(x: np.ndarray) -> float:
        return model.score([TurnRequest(audio=x, transcript="")])[0]

    rows = []
    for lab in labels:
        if not lab["turns"] or lab["kind"] == "real_conversation_mono_mix":
            continue
        audio = read_wav(data / lab["path"])
        for turn in lab["turns"]:
            points = [(p["start_s"], "pause", p["kind"]) for p in turn.get("pauses", [])]
            points.append((turn["end_s"], "end" + ("_after_pause" if turn.get("pauses") else ""), turn["end_kind"]))
            for t, group, kind in points:
                at = t + ASK_AFTER_S
                rows.append({"clip": lab["path"], "group": group, "kind": kind,
                             "whole": score(turn_audio(audio, turn, at, None)),
                             "shortened": score(turn_audio(audio, turn, at, KEEP_S))})
    doc: dict = {"ask_after_s": ASK_AFTER_S, "keep_s": KEEP_S, "points": len(rows), "groups": {}, "auc": {}}
    for group in sorted({r["group"] for r in rows}):
        g = [r for r in rows if r["group"] == group]
        doc["groups"][group] = {"n": len(g), **{v: round(float(np.mean([r[v] for r in g])), 3)
                                                for v in ("whole", "shortened")}}
    for v in ("whole", "shortened"):
        ends = [r[v] for r in rows if r["group"].startswith("end")]
        pauses = [r[v] for r in rows if r["group"] == "pause"]
        doc["auc"][v] = round(auc(ends, pauses), 3)
    doc["rows"] = rows
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: doc[k] for k in ("points", "groups", "auc")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
