"""The work ledger of one stream: the engine requests it has asked for and the answers it holds.

Requests are numbered per stream (``seq``) and tagged with the turn's *generation*, bumped at each
turn end, so a late answer about an ended turn is recognised and dropped. A request made obsolete
by newer audio or a newer decode is *abandoned*: its answer, if it still comes, is ignored, and the
runner is told (``take_abandoned``) so the scheduler may drop it unrun.
"""

from __future__ import annotations

from turnscribe.core.waits import NeedResult, Step
from turnscribe.core.work import EngineRequest, EngineResult, Payload, Value


class WorkLedger:
    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.generation = 0                    # bumped at each turn end: late answers are dropped
        self._seq = 0
        self._outbox: list[EngineRequest] = []
        self._results: dict[int, Value | None] = {}
        self._abandoned: set[int] = set()      # requests whose answers are no longer wanted ...
        self._newly_abandoned: list[int] = []  # ... not yet reported (``take_abandoned``)

    def issue(self, payload: Payload, *, multilingual: bool, urgent: bool = True) -> int:
        """Queue a request; returns its ``seq``."""
        self._seq += 1
        self._outbox.append(EngineRequest(self.stream_id, self.generation, self._seq, payload, urgent=urgent,
                                          multilingual=multilingual))
        return self._seq

    def take_requests(self) -> list[EngineRequest]:
        out, self._outbox = self._outbox, []
        return out

    def take_abandoned(self) -> list[int]:
        out, self._newly_abandoned = self._newly_abandoned, []
        return out

    def file(self, result: EngineResult) -> bool:
        """Keep an answer that is still wanted; False (dropped) for an abandoned request or an
        ended turn's."""
        if result.seq in self._abandoned or result.generation != self.generation:
            self._abandoned.discard(result.seq)
            return False
        self._results[result.seq] = result.value
        return True

    def has(self, seq: int) -> bool:
        return seq in self._results

    def result(self, seq: int) -> Step[Value | None]:
        """Wait for the answer to ``seq`` and take it (``None``: dropped by the scheduler)."""
        while seq not in self._results:
            yield NeedResult(seq)
        return self._results.pop(seq)

    def abandon(self, seq: int) -> None:
        if seq in self._results:
            del self._results[seq]
        else:
            self._abandoned.add(seq)
            self._newly_abandoned.append(seq)

    def next_generation(self) -> None:
        self.generation += 1

    def cancel_queued(self) -> None:
        """The stream failed: nothing queued goes out."""
        self._outbox.clear()
