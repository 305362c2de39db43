"""Cheap partials, accurate finals: one ASR for ``final=False`` requests, another for ``final=True``.

The session asks for a *final* decode when a pause starts and at the end of a turn (the text the
agent acts on), and for *partials* while the user is still speaking (the text a UI shows). Routing
partials to a small model and finals to a bigger one keeps most of the bigger model's accuracy at
a fraction of its cost. Each engine is called once per batch with its share of the requests.
"""

from __future__ import annotations

from collections.abc import Sequence

from turnscribe.types.engine import AsrEngine, AsrRequest, AsrResult


class SplitAsr:
    def __init__(self, partial: AsrEngine, final: AsrEngine) -> None:
        self.partial = partial
        self.final = final
        self.multilingual = partial.multilingual and final.multilingual

    def transcribe(self, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        out: list[AsrResult | None] = [None] * len(batch)
        for engine, want in ((self.partial, False), (self.final, True)):
            idx = [i for i, r in enumerate(batch) if r.final is want]
            if idx:
                for i, res in zip(idx, engine.transcribe([batch[i] for i in idx]), strict=True):
                    out[i] = res
        return [r for r in out if r is not None]
