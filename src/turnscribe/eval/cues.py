"""The session's end-of-turn cues as JSON (recordings of ``eval eot``) and back."""

from __future__ import annotations

from typing import Any

from turnscribe.core.eot import Cues
from turnscribe.types.engine import Word

Rec = dict[str, Any]


def cues_record(c: Cues) -> Rec:
    return {"silence": round(c.silence_s, 3), "acoustic": [round(a, 4) for a in c.acoustic],
            "words": [[w.text, round(w.start, 3), round(w.end, 3), round(w.confidence, 3)] for w in c.words],
            "soon_after_end": c.soon_after_end, "recent_pauses": [round(p, 3) for p in c.recent_pauses],
            "unheard": round(c.unheard_s, 3)}


def cues_from(rec: Rec) -> Cues:
    return Cues(silence_s=rec["silence"], acoustic=tuple(rec["acoustic"]),
                words=tuple(Word(t, s, e, c) for t, s, e, c in rec["words"]),
                soon_after_end=bool(rec.get("soon_after_end", False)),
                recent_pauses=tuple(rec.get("recent_pauses", ())), unheard_s=float(rec.get("unheard", 0.0)))
