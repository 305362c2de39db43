"""The turn sets of ``turnscribe eval eot`` as spans: every silence of a labelled clip is a **hold**
(a pause inside a turn) or an **eot** (the silence after a turn). Also the labels' loading, the
speaker/source group of a clip, and the stream parameters a clip is recorded with."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnscribe.wire.params import ListenParams, Thresholds

Rec = dict[str, Any]

HOLD_MIN_S, HOLD_MAX_S = 0.2, 5.0      # eot-bench scores holds of this length only
# Labels whose turn edges are energy edges (turns/callers: 10 ms frames) hold "pauses" after which
# 10-30 ms of energy (a click, a breath) ends the turn or pauses again: no word is that short.
# Reported beside every hold: the holds the speaker goes on from with at least this much speech.
RESUMED_MIN_S = 0.05


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float
    hold: bool
    kind: str
    resumed_s: float = float("inf")  # a hold: the speech after it, up to the next pause or the turn's end

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
        pauses = sorted(turn.get("pauses", []), key=lambda p: p["start_s"])
        for j, p in enumerate(pauses):
            run_end = float(pauses[j + 1]["start_s"] if j + 1 < len(pauses) else turn["end_s"])
            out.append(Span(float(p["start_s"]), float(p["end_s"]), True, str(p.get("kind", "pause")),
                            resumed_s=round(run_end - float(p["end_s"]), 3)))
        nxt = turns[i + 1]["start_s"] if i + 1 < len(turns) else label["duration_s"]
        out.append(Span(float(turn["end_s"]), float(nxt), False, str(turn.get("end_kind", "complete"))))
    return out


def set_of(path: str) -> str:
    """The turn set a clip belongs to, from its path under the data folder: the folder below
    ``turns/`` (``real``, ``callers``, ...), or ``synthetic`` for the clips in ``turns/`` itself."""
    parts = Path(path).parts
    return parts[1] if len(parts) > 2 else "synthetic"


def label_files(data: Path) -> list[Path]:
    """Every turn set's labels: ``turns/labels.jsonl`` and each ``turns/*/labels.jsonl``."""
    root = data / "turns" / "labels.jsonl"
    return ([root] if root.exists() else []) + sorted(data.glob("turns/*/labels.jsonl"))


def load_labels(data: Path, *, turnless: bool = False) -> list[Rec]:
    """The clips with turns of every turn set (the two-speaker conversation is left out: its turns
    are not one user's), and with ``turnless`` also the silence and noise clips (no turn may start
    in them). Each label gets its ``set`` (``set_of``)."""
    rows: list[Rec] = []
    for path in label_files(data):
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if (r.get("turns") or turnless) and r["kind"] != "real_conversation_mono_mix"]
    return [{**r, "set": set_of(str(r["path"]))} for r in rows]


def clip_params(label: Rec) -> ListenParams:
    """Model ends off; non-English clips stream as flux-general-multi with their language hint."""
    th = Thresholds(eot_threshold=1.0, eot_timeout_ms=10000)
    lang = str(label.get("language") or "en").split("-")[0]
    if lang != "en":
        return ListenParams(model="flux-general-multi", language_hints=(lang,), thresholds=th)
    return ListenParams(thresholds=th)



def spans_from(clip: Rec) -> list[Span]:
    """The spans of a recorded clip (``eot_record.record``)."""
    return [Span(float(a), float(b), bool(h), str(k)) for a, b, h, k in clip["spans"]]
