"""Live partials on long streams of continuous speech: Update precision, WER and session CPU, with and
without word tails (``WindowPolicy.word_tails``), interleaved in one process.

The WER sets' clips are short (one prompt each), so a partial's window rarely grows there; streamed
back to back in groups (as ``bench load --mix continuous`` streams them), a turn runs for tens of
seconds and a partial decodes from the latest pause, often seconds back. Each group is replayed
in-process (``eval.replay``) once per policy; the JSON has per group and in all: Update precision
(``eval wer``'s: the share of the words every StartOfTurn / Update showed that the turn's EndOfTurn
kept), the final text's WER against the joined references, CPU seconds per audio second, and the
mean audio length of a live partial's window.

    python benchmarks/long_partials.py --data ../shared/data --out results/long_partials.json

Session 34 (every clip of wer_clean, wer_noisy_snr10 and wer_noisy_snr5, groups of six: 40
streams, 15 min): word tails 89.8 % Update precision against 90.3 %, CPU 0.195 against 0.257 s per
audio second (0.76x), WER 6.0 against 6.2 % (mean over groups), window 1.9 against 3.6 s.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path
from typing import Any

from turnscribe.client.wav import read_pcm16_wav
from turnscribe.core import transcriber
from turnscribe.core.policy import TurnPolicy
from turnscribe.engines.registry import load_engines
from turnscribe.eval.replay import replay_bytes
from turnscribe.eval.wer import read_manifest, score, surviving_words, turn_partials
from turnscribe.types.engine import SAMPLE_RATE
from turnscribe.wire.params import ListenParams

SETS = "wer_clean,wer_noisy_snr10,wer_noisy_snr5"


@dataclasses.dataclass
class Totals:
    kept: int = 0
    said: int = 0
    cpu_s: float = 0.0
    audio_s: float = 0.0
    wer: list[float] = dataclasses.field(default_factory=list)
    windows: list[float] = dataclasses.field(default_factory=list)


def groups(data: Path, sets: list[str], size: int) -> list[tuple[str, bytes, str]]:
    """(name, PCM, joined reference) of each run of ``size`` clips of each set, in manifest order."""
    rows = read_manifest(data)
    out = []
    for name in sets:
        mine = [r for r in rows if r["set"] == name]
        for i in range(0, len(mine), size):
            part = mine[i:i + size]
            pcm = b"".join(read_pcm16_wav(data / r["path"], sample_rate=SAMPLE_RATE).data for r in part)
            out.append((f"{name}/{i}", pcm, " ".join(r["reference_text"] for r in part)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--group", type=int, default=6, help="clips per stream")
    ap.add_argument("--out", type=Path, default=Path("results/long_partials.json"))
    args = ap.parse_args()
    engines = load_engines()
    params = ListenParams().with_changes(encoding="linear16", sample_rate=SAMPLE_RATE)
    windows: list[float] = []
    request = transcriber.Transcriber.request

    def counted(self: transcriber.Transcriber, *a: Any, **kw: Any) -> Any:
        req = request(self, *a, **kw)
        if kw.get("live"):
            windows.append(len(req.audio) / SAMPLE_RATE)
        return req

    transcriber.Transcriber.request = counted  # type: ignore[method-assign]
    policies = {"word_tails": TurnPolicy(),
                "pause_tails": TurnPolicy(window=dataclasses.replace(TurnPolicy().window, word_tails=False))}
    totals = {name: Totals() for name in policies}
    per_group = []
    for key, pcm, reference in groups(args.data, args.sets.split(","), args.group):
        row: dict[str, Any] = {"group": key}
        audio_s = len(pcm) / (2 * SAMPLE_RATE)
        for name, policy in policies.items():
            windows.clear()
            cpu0 = time.process_time()
            rep = replay_bytes(pcm, params, engines, policy=policy)
            cpu = time.process_time() - cpu0
            shown = [surviving_words(t, final) for seen, final in turn_partials(rep.events) for t in seen]
            kept, said = sum(k for k, _ in shown), sum(n for _, n in shown)
            wer = score(reference, rep.final_text(), "en").wer or 0.0
            t = totals[name]
            t.kept += kept
            t.said += said
            t.cpu_s += cpu
            t.audio_s += audio_s
            t.wer.append(wer)
            t.windows += windows
            row[name] = {"update_precision": kept / said if said else None, "wer": wer,
                         "cpu_per_audio_s": cpu / audio_s}
        per_group.append(row)
        print(key, {n: round(row[n]["cpu_per_audio_s"], 3) for n in policies}, flush=True)
    summary = {name: {"update_precision": t.kept / t.said, "wer_mean": statistics.mean(t.wer),
                      "cpu_per_audio_s": t.cpu_s / t.audio_s, "partial_window_mean_s": statistics.mean(t.windows),
                      "streams": len(per_group), "audio_s": t.audio_s}
               for name, t in totals.items()}
    for name, s in summary.items():
        print(f"{name:12s} Update precision {s['update_precision']:.1%}  WER {s['wer_mean']:.1%}  "
              f"CPU {s['cpu_per_audio_s']:.3f} s per audio s  partial window {s['partial_window_mean_s']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "groups": per_group}, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
