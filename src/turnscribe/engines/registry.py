"""Named engine sets: which ASR models exist and how to build the engines a server shares.

Invariants: ``ASR_MODELS`` maps a model name to a factory taking keyword arguments
(``intra_threads`` at least); ``load_engines`` builds one VAD, one ASR and one turn engine and
fills ``Engines.names`` with ``{"vad": ..., "asr": ..., "turn": ...}``. An unknown model name raises
``ValueError`` naming the known ones. Model libraries are imported only when a set is loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnscribe.engines.base import AsrEngine, Engines

__all__ = ["ASR_MODELS", "DEFAULT_ASR_MODEL", "load_engines"]

DEFAULT_ASR_MODEL = "tiny.en"


def _tiny_en(**kw: Any) -> AsrEngine:
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr.tiny_en(**kw)


ASR_MODELS: dict[str, Callable[..., AsrEngine]] = {
    "tiny.en": _tiny_en,
}


def load_engines(*, asr_model: str = DEFAULT_ASR_MODEL, threads: int = 1) -> Engines:
    """Build the shared engines (Silero VAD, Whisper ``asr_model``, Smart Turn v3.2)."""
    factory = ASR_MODELS.get(asr_model)
    if factory is None:
        raise ValueError(f"unknown ASR model {asr_model!r}; known: {', '.join(sorted(ASR_MODELS))}")
    from turnscribe.engines.silero_vad import SileroVad
    from turnscribe.engines.smart_turn import SmartTurn

    asr = factory(intra_threads=threads)
    return Engines(
        vad=SileroVad(),
        asr=asr,
        turn=SmartTurn(threads=threads),
        names={"vad": "silero-vad-v5", "asr": f"whisper-{asr_model}", "turn": "smart-turn-v3.2"},
    )
