"""An English Whisper model whose output vocabulary is cut to its first ``keep`` text tokens.

A tiny.en decoder step is mostly the output projection: 51,864 rows of 384 weights read for every
token written, batch 1 (a matrix-vector product, bound by memory). Byte-level BPE ids come in merge
order, so the first ids are the commonest pieces, and a cut set changes a greedy decode only where
the full model would write a token outside it: the decoder then spells the word from smaller pieces
or writes a near word ("Sheila" as "Shila", "eject" as "reject"). On 60 pieces of 2.5 s of real
speech (``benchmarks/decoder_step.py`` measures a step): the first 32,768 ids cut a decode's CPU by
~23 % and change 3 texts, the first 40,960 by ~8 % and change none. Meant for live partials, which
the next decode redraws and a final-quality decode replaces.

The cut model keeps every special token, renumbered after the kept ones (full id ``i >= eot``
becomes ``i - eot + keep``). ``KeptVocab`` maps at the model's boundary, so the engine works in the
full tokenizer's ids: a prompt token outside the set becomes the byte tokens that spell it (ids
0-255 are the 256 bytes in GPT-2's byte-level BPE, always kept), and what the model writes is
mapped back.

Invariants: ``to_model`` never returns an id the cut model lacks; ``from_model(to_model(x)) == x``
for any ``x`` of kept and special ids; decoding ``to_model(x)`` mapped back gives ``x``'s text.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tokenizers

from turnscribe.engines.model_dir import read_bin_string, read_bin_variable
from turnscribe.engines.model_files import derived_model_dir

__all__ = ["KeptVocab", "cut_model_dir", "restricted_files"]

EMBEDDINGS = "decoder/embeddings/weight"  # the output projection shares these rows


def _bin_string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def restricted_files(model_dir: Path, keep: int, special: int) -> dict[str, bytes]:
    """The files of the CTranslate2 Whisper model in ``model_dir`` (model.bin, config.json,
    vocabulary.txt) with the decoder's embedding rows cut to ids < ``keep`` and ids >= ``special``
    (the first special token, ``<|endoftext|>``); ``keep == special`` gives the model as it is."""
    out = io.BytesIO()
    with open(model_dir / "model.bin", "rb") as f:
        (version,) = struct.unpack("<I", f.read(4))
        spec = read_bin_string(f)
        revision, count = struct.unpack("<II", f.read(8))
        out.write(struct.pack("<I", version) + _bin_string(spec) + struct.pack("<II", revision, count))
        for _ in range(count):
            var = read_bin_variable(f)
            data, dims = f.read(var.nbytes), list(var.dims)
            if var.name == EMBEDDINGS:
                rows = np.frombuffer(data, dtype=np.uint8).reshape(dims[0], -1)  # one row of bytes per token
                data = np.ascontiguousarray(rows[np.r_[0:keep, special:dims[0]]]).tobytes()
                dims[0] = keep + dims[0] - special
            out.write(_bin_string(var.name) + struct.pack(f"<B{len(dims)}I", len(dims), *dims)
                      + struct.pack("<BI", var.dtype, len(data)) + data)
        out.write(f.read())  # aliases (the output projection is one) and the rest
    vocab = KeptVocab(keep, special)
    config = json.loads((model_dir / "config.json").read_text())
    for key in ("lang_ids", "suppress_ids", "suppress_ids_begin"):  # token ids, renumbered
        if key in config:
            config[key] = [vocab.model_id(i) for i in config[key] if vocab.kept(i)]
    words = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    words = words[:-1] if words[-1] == "" else words
    return {"model.bin": out.getvalue(), "config.json": json.dumps(config).encode(),
            "vocabulary.txt": ("\n".join(words[:keep] + words[special:]) + "\n").encode()}


def cut_model_dir(model_dir: Path, keep: int, special: int) -> Path:
    """``restricted_files`` of ``model_dir`` as a model directory in the turnscribe cache, written at
    first use (loaded from memory instead, CTranslate2 keeps ~60 MB more resident)."""
    stat = (model_dir / "model.bin").stat()
    source = f"{model_dir.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{keep}|{special}"
    name = f"{model_dir.name}-vocab{keep}-{hashlib.sha1(source.encode()).hexdigest()[:12]}"
    return derived_model_dir(name, lambda: restricted_files(model_dir, keep, special))


class KeptVocab:
    """Ids between the full tokenizer and a model cut to ``keep`` text ids (``restricted_files``)."""

    def __init__(self, keep: int, special: int, tokenizer: tokenizers.Tokenizer | None = None) -> None:
        if not 256 <= keep <= special:
            raise ValueError(f"keep must lie in [256, {special}], got {keep}")
        self.keep, self.special = keep, special
        self._tokenizer = tokenizer

    def kept(self, i: int) -> bool:
        return i < self.keep or i >= self.special

    def model_id(self, i: int) -> int:
        """A kept or special full id in the cut model."""
        assert self.kept(i), i
        return i if i < self.keep else i - self.special + self.keep

    def to_model(self, ids: Iterable[int]) -> list[int]:
        """Full ids as the cut model's; a text token outside the set as the byte tokens spelling it."""
        out: list[int] = []
        for i in ids:
            if self.kept(i):
                out.append(self.model_id(i))
            else:
                assert self._tokenizer is not None, "spelling a cut token needs the tokenizer"
                for c in self._tokenizer.id_to_token(i) or "":
                    byte = self._tokenizer.token_to_id(c)
                    assert byte is not None and byte < 256, (i, c)  # byte-level BPE: every byte has a token
                    out.append(byte)
        return out

    def from_model(self, ids: Iterable[int]) -> list[int]:
        """The cut model's ids as the full tokenizer's."""
        return [i if i < self.keep else i - self.keep + self.special for i in ids]
