"""VAD run-ahead: one VAD request in flight per stream, for every whole chunk received. VAD is a
pure, causal function of the audio, so it runs ahead of the decisions (and is batched with other
streams); its answers are applied when the decision clock reaches them (``SpeechActivity``)."""

from __future__ import annotations

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.work import EngineResult
from turnscribe.types.engine import AsrResult, VadRequest, VadState


class VadFeed:
    def __init__(self, state: VadState) -> None:
        self._state = state            # the VAD's recurrent state for this stream
        self._seq: int | None = None   # the VAD request in flight

    def ask(self, activity: SpeechActivity, work: WorkLedger) -> None:
        if self._seq is not None:
            return
        span = activity.vad_todo()
        if span is None:
            return
        a, b = span
        self._seq = work.issue(VadRequest(self._state, activity.ring.slice(a, b)), multilingual=False)
        activity.vad_asked(b)

    def is_answer(self, result: EngineResult) -> bool:
        return result.seq == self._seq

    def take(self, result: EngineResult, activity: SpeechActivity) -> bool:
        """Apply the answer; False when the scheduler dropped it (the stream is being closed)."""
        self._seq = None
        if result.value is None:
            return False
        if isinstance(result.value, (AsrResult, float)):
            raise TypeError("a VAD request needs its probabilities")
        activity.vad_answered(result.value)
        return True
