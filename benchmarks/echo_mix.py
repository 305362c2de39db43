"""Build an echo variant of the real callers set: the other party's voice leaking back into the
caller's line between the caller's turns, ``--level-db`` below the caller's own speech.

On a phone call the agent speaks while the caller is silent, and a hybrid or an acoustic path
returns some of it, typically 30-45 dB down (ITU-T G.168's echo return loss). The callers set holds
only the caller side, line noise between turns; this fills those gaps with real recorded IVR prompts
(``wer_clean``, the kind of voice a caller hears), band-limited to the phone band (through 8 kHz and
back) and scaled to the caller's own speech level (RMS over the labelled turns) minus ``--level-db``.
The turns are unchanged, so ``turnscribe eval turns`` scores the same labels on both variants: the
echo must neither start a turn (spurious starts per hour of non-speech) nor hold one open (missed
or late ends).

Writes OUT/turns/labels.jsonl with the clean calls (kind ``real_caller_phone``, linked, not copied)
and their echo variants (kind ``real_caller_phone_echo<level>``, written under OUT/turns/), then:

    python benchmarks/echo_mix.py --data ../shared/data --out /tmp/echo --level-db 40
    turnscribe eval turns --data /tmp/echo --kinds real_caller_phone --out results/echo_clean
    turnscribe eval turns --data /tmp/echo --kinds real_caller_phone_echo40 --out results/echo40

The output folder holds derived audio: keep it outside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import wave
from pathlib import Path

import numpy as np
import soxr

from turnscribe.bench.workload import load_clips
from turnscribe.client.wav import Pcm16, read_pcm16_wav

RATE = 16000
PHONE_RATE = 8000
MARGIN_S = 0.5   # the echo starts this long after the caller's turn and ends this long before the next
SPACING_S = 0.3  # between two prompts in one gap


def read_wav(path: Path) -> np.ndarray:
    return read_pcm16_wav(path, sample_rate=RATE).mono_floats()


def write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def rms_db(x: np.ndarray) -> float:
    return 10.0 * float(np.log10(np.mean(np.square(x, dtype=np.float64)) + 1e-12))


def phone_band(x: np.ndarray) -> np.ndarray:
    """Through a narrowband line: down to 8 kHz and back (soxr's anti-aliasing is the low-pass)."""
    return np.asarray(soxr.resample(soxr.resample(x, RATE, PHONE_RATE), PHONE_RATE, RATE), dtype=np.float32)


def load_prompts(data: Path) -> list[np.ndarray]:
    return [phone_band(Pcm16(pcm, RATE).mono_floats())
            for pcm in load_clips(data, ("wer_clean",))]


def speech_level_db(audio: np.ndarray, turns: list[dict]) -> float:
    spans = [audio[int(t["start_s"] * RATE):int(t["end_s"] * RATE)] for t in turns]
    return rms_db(np.concatenate(spans)) if spans else rms_db(audio)


def mix_echo(audio: np.ndarray, turns: list[dict], prompts: list[np.ndarray], level_db: float,
             rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """The call with prompts in its gaps at ``level_db`` below its speech; returns it and the
    seconds of echo placed."""
    out = audio.copy()
    gain_db = speech_level_db(audio, turns) - level_db
    edges = [0.0] + [x for t in turns for x in (t["start_s"], t["end_s"])] + [len(audio) / RATE]
    placed = 0.0
    for gap_start, gap_end in zip(edges[0::2], edges[1::2], strict=True):
        at, end = gap_start + MARGIN_S, gap_end - MARGIN_S
        while True:
            prompt = prompts[int(rng.integers(len(prompts)))]
            dur = len(prompt) / RATE
            if at + dur > end:
                break
            scaled = prompt * np.float32(10 ** ((gain_db - rms_db(prompt)) / 20))
            a = int(at * RATE)
            out[a:a + len(scaled)] += scaled
            placed += dur
            at += dur + SPACING_S
    return out, placed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--level-db", type=float, default=40.0, help="echo level below the caller's speech (dB)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    level = f"{args.level_db:g}"
    src = args.data / "turns" / "callers"
    rows = [json.loads(line) for line in (src / "labels.jsonl").read_text().splitlines() if line.strip()]
    prompts = load_prompts(args.data)
    turns_dir = args.out / "turns"
    echo_dir = turns_dir / f"callers_echo{level}"
    echo_dir.mkdir(parents=True, exist_ok=True)
    link = turns_dir / "callers"
    if not link.exists():
        os.symlink(src.resolve(), link)
    rng = np.random.default_rng(args.seed)
    labels, echo_s, nonspeech_s = [], 0.0, 0.0
    for row in rows:
        audio = read_wav(args.data / row["path"])
        mixed, placed = mix_echo(audio, row["turns"], prompts, args.level_db, rng)
        name = Path(row["path"]).name
        write_wav(echo_dir / name, mixed)
        echo_s += placed
        nonspeech_s += row["duration_s"] - sum(t["end_s"] - t["start_s"] for t in row["turns"])
        labels.append(row)
        labels.append({**row, "path": f"turns/{echo_dir.name}/{name}", "kind": f"{row['kind']}_echo{level}"})
    (turns_dir / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    print(f"{len(rows)} calls: {echo_s / 60:.1f} min of echo at -{level} dB placed in "
          f"{nonspeech_s / 60:.1f} min of non-speech; wrote {turns_dir / 'labels.jsonl'}")


if __name__ == "__main__":
    main()
