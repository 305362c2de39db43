"""Bring your own model: operator-supplied CTranslate2 Whisper directories, and which role each serves.

``turnscribe serve --asr-model-dir [ROLE=]PATH`` (repeatable; ``TURNSCRIBE_ASR_MODEL_DIR`` holds the
same specs separated by commas):

* ``PATH``: this model decodes everything (partials and finals);
* ``partial=PATH`` / ``final=PATH``: this model serves only that role; the other role keeps the
  bundled model ``--asr-model`` gives it (``tiny.en`` partials, ``base`` finals by default).

A plain ``PATH`` cannot be combined with another spec, and a role may be given only once. A prefix
before ``=`` is a role only when it holds no path separator, so ``/models/v=2`` is a path.

Invariants:

* Nothing here loads a model or reaches the network: ``check_whisper_dir`` reads ``config.json``,
  the header and variable table of ``model.bin`` (seeking past the weights) and ``tokenizer.json``.
  It exists so that a bad directory stops the server at start-up with one clear sentence instead of
  a CTranslate2 exception minutes into loading (and a server whose ``/readyz`` says "failed").
* Every problem is a ``ModelDirError`` (a ``ValueError``) whose message names the directory and
  what is wrong with it.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["ENV", "ROLES", "AsrModelDirs", "BinVariable", "ModelDirError", "WhisperDirInfo", "check_all",
           "check_whisper_dir", "label", "parse_model_dirs", "read_bin_string", "read_bin_variable", "specs_from_env"]

ENV = "TURNSCRIBE_ASR_MODEL_DIR"
ROLES = ("partial", "final")
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")
WHISPER_SPEC = "WhisperSpec"
# WhisperAsr looks these up by name; a tokenizer without them is not Whisper's.
SPECIAL_TOKENS = ("<|startoftranscript|>", "<|endoftext|>", "<|notimestamps|>", "<|startofprev|>")
# CTranslate2 treats a Whisper vocabulary this large as multilingual (.en: 51864, v3: 51866), counting
# the 1501 timestamp tokens <|0.00|>..<|30.00|> that many tokenizer.json files leave out.
MULTILINGUAL_VOCAB = 51865
TIMESTAMP_TOKENS = 1501
HOW_TO_MAKE = ("convert one with: ct2-transformers-converter --model openai/whisper-small.en "
               "--output_dir DIR --quantization int8 --copy_files tokenizer.json preprocessor_config.json")


class ModelDirError(ValueError):
    """A directory given as a Whisper model is unusable (the message says why)."""


@dataclass(frozen=True, slots=True)
class AsrModelDirs:
    """Operator model directories per role (None: that role keeps its bundled model)."""

    partial: Path | None = None
    final: Path | None = None

    def __bool__(self) -> bool:
        return self.partial is not None or self.final is not None

    def paths(self) -> list[Path]:
        """The distinct directories, partial first."""
        return list(dict.fromkeys(p for p in (self.partial, self.final) if p is not None))


@dataclass(frozen=True, slots=True)
class WhisperDirInfo:
    """What the up-front check learnt: mel bins (None if model.bin does not say) and language range."""

    path: Path
    n_mels: int | None
    multilingual: bool

    def describe(self) -> str:
        mels = f"{self.n_mels} mel bins" if self.n_mels else "mel bins unknown"
        return f"{self.path} ({mels}, {'multilingual' if self.multilingual else 'English-only'})"


# ------------------------------------------------------------------ role specs


def _split_spec(spec: str) -> tuple[str | None, str]:
    head, sep, tail = spec.partition("=")
    if not sep or "/" in head or "\\" in head:
        return None, spec  # no role prefix: the whole spec is a path
    role = head.strip().lower()
    if role not in ROLES:
        raise ModelDirError(f"--asr-model-dir {spec!r}: unknown role {head!r} (use PATH, partial=PATH or "
                            f"final=PATH)")
    return role, tail


def parse_model_dirs(specs: Iterable[str]) -> AsrModelDirs:
    """``[ROLE=]PATH`` specs (see the module doc) -> directories per role. Paths are not checked here."""
    both: Path | None = None
    roles: dict[str, Path] = {}
    for spec in specs:
        role, raw = _split_spec(spec.strip())
        if not raw.strip():
            raise ModelDirError(f"--asr-model-dir {spec!r}: empty path")
        path = Path(raw.strip()).expanduser()
        if role is None:
            if both is not None or roles:
                raise ModelDirError("--asr-model-dir PATH (one model for every role) cannot be combined with "
                                    "another --asr-model-dir; use partial=PATH and final=PATH for two models")
            both = path
        else:
            if both is not None:
                raise ModelDirError("--asr-model-dir PATH (one model for every role) cannot be combined with "
                                    f"{role}=PATH")
            if role in roles:
                raise ModelDirError(f"--asr-model-dir: the {role} role is given twice")
            roles[role] = path
    if both is not None:
        return AsrModelDirs(partial=both, final=both)
    return AsrModelDirs(partial=roles.get("partial"), final=roles.get("final"))


def specs_from_env(env: Mapping[str, str]) -> list[str]:
    """The specs in ``TURNSCRIBE_ASR_MODEL_DIR`` (comma separated, blanks ignored)."""
    return [s.strip() for s in env.get(ENV, "").split(",") if s.strip()]


# ------------------------------------------------------------------ directory check


def read_bin_string(fh: BinaryIO) -> str:
    """A string of a CTranslate2 ``model.bin``: uint16 length, then UTF-8 bytes ending in a NUL."""
    (n,) = struct.unpack("<H", fh.read(2))
    raw = fh.read(n)
    if len(raw) != n:
        raise EOFError
    return raw.rstrip(b"\0").decode("utf-8")


@dataclass(frozen=True, slots=True)
class BinVariable:
    """One variable's header in a CTranslate2 ``model.bin``; its ``nbytes`` of data follow it."""

    name: str
    dims: tuple[int, ...]
    dtype: int
    nbytes: int


def read_bin_variable(fh: BinaryIO) -> BinVariable:
    """The header of the variable at ``fh``'s position (see ``_model_bin``), leaving ``fh`` at its data."""
    name = read_bin_string(fh)
    (rank,) = struct.unpack("<B", fh.read(1))
    dims = struct.unpack(f"<{rank}I", fh.read(4 * rank))
    dtype, nbytes = struct.unpack("<BI", fh.read(5))
    return BinVariable(name, tuple(int(d) for d in dims), int(dtype), int(nbytes))


def _model_bin(path: Path) -> tuple[str, int | None]:
    """(spec name, mel bins or None) from a CTranslate2 ``model.bin``, reading headers only; a file
    shorter than its own variable table says is an error.

    Layout (ctranslate2 ``ModelSpec._serialize``, format >= 2): uint32 format version, string spec
    name, uint32 revision, uint32 variable count, then per variable: string name, uint8 rank, uint32
    dims, uint8 dtype, uint32 byte count, the bytes. Mel bins = dim 1 of ``encoder/conv1/weight``."""
    with open(path, "rb") as fh:
        try:
            (version,) = struct.unpack("<I", fh.read(4))
            if not 2 <= version <= 100:  # format 1 has no spec name, and predates Whisper support
                raise ValueError(version)
            spec = read_bin_string(fh)
        except (struct.error, EOFError, UnicodeDecodeError, ValueError) as exc:
            raise ModelDirError(f"{path.parent}: model.bin is not a CTranslate2 model (or one older than "
                                "Whisper support)") from exc
        n_mels: int | None = None
        try:
            _revision, count = struct.unpack("<II", fh.read(8))
            for _ in range(count):  # headers only: each variable's bytes are skipped with a seek
                var = read_bin_variable(fh)
                if var.name == "encoder/conv1/weight" and len(var.dims) == 3:
                    n_mels = var.dims[1]
                fh.seek(var.nbytes, 1)
            truncated = fh.tell() > path.stat().st_size
        except (struct.error, EOFError, UnicodeDecodeError):
            truncated = True
        if truncated:  # a copy or download cut short: CTranslate2 would fail minutes into loading
            raise ModelDirError(f"{path.parent}: model.bin is truncated ({path.stat().st_size} bytes); copy or "
                                "convert it again")
    return spec, n_mels


def _tokenizer_info(path: Path) -> bool:
    """Checks Whisper's special tokens are in ``tokenizer.json``; returns whether it is multilingual."""
    import tokenizers

    try:
        tok = tokenizers.Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust error is a plain Exception
        raise ModelDirError(f"{path.parent}: tokenizer.json cannot be read ({exc})") from exc
    missing = [t for t in SPECIAL_TOKENS if tok.token_to_id(t) is None]
    if missing:
        raise ModelDirError(f"{path.parent}: tokenizer.json has no {', '.join(missing)}: not a Whisper "
                            "tokenizer")
    size = tok.get_vocab_size() + (TIMESTAMP_TOKENS if tok.token_to_id("<|0.00|>") is None else 0)
    return size >= MULTILINGUAL_VOCAB


def check_whisper_dir(path: str | Path) -> WhisperDirInfo:
    """Validate a CTranslate2 Whisper directory before loading it (see the module invariants)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise ModelDirError(f"{path}: no such directory (--asr-model-dir wants a CTranslate2 Whisper "
                            f"directory; {HOW_TO_MAKE})")
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a directory (--asr-model-dir wants the folder holding "
                            f"{', '.join(REQUIRED_FILES)})")
    missing = [f for f in REQUIRED_FILES if not (path / f).is_file()]
    if missing:
        raise ModelDirError(f"{path}: missing {', '.join(missing)} (a CTranslate2 Whisper directory holds "
                            f"{', '.join(REQUIRED_FILES)}; {HOW_TO_MAKE})")
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{path}: config.json is not valid JSON ({exc})") from exc
    if not isinstance(config, dict):
        raise ModelDirError(f"{path}: config.json is not a JSON object")
    spec, n_mels = _model_bin(path / "model.bin")
    if spec != WHISPER_SPEC:
        raise ModelDirError(f"{path}: not a Whisper model (model.bin holds a CTranslate2 {spec or 'unnamed'} "
                            f"model, expected {WHISPER_SPEC})")
    multilingual = _tokenizer_info(path / "tokenizer.json")
    return WhisperDirInfo(path=path, n_mels=n_mels, multilingual=multilingual)


def check_all(dirs: AsrModelDirs) -> list[WhisperDirInfo]:
    """``check_whisper_dir`` on every distinct directory of ``dirs``."""
    return [check_whisper_dir(p) for p in dirs.paths()]


def label(path: Path) -> str:
    """Short name for ``Engines.names``: the directory's own name."""
    return f"dir:{path.name or path}"
