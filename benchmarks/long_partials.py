"""Live partials on long streams of continuous speech: Update precision, WER and session CPU.

The WER sets' clips are short (one prompt each), so a partial's window rarely grows there; streamed
back to back in groups (as ``bench load --mix continuous`` streams them), a turn runs for tens of
seconds and a partial decodes from the latest pause, often seconds back. Each group is replayed
in-process (``eval.replay``); the JSON has per group and in all: Update precision (``eval wer``'s:
the share of the words every StartOfTurn / Update showed that the turn's EndOfTurn kept), the final
text's WER against the joined references, CPU seconds per audio second, and the mean audio length
of a live partial's window. This box's speed drifts by +-30 % within an hour, so a comparison runs
both sides at once: ``--compare`` interleaves a variant of this checkout in the same process
(tiny.en's full output vocabulary, or partials from a pause only), ``--compare-ref REV`` replays the
same streams with revision REV's src in a second process beside this one.

    python benchmarks/long_partials.py --data ../shared/data [--compare-ref HEAD~] --out results/long_partials.json

Session 34 (every clip of wer_clean, wer_noisy_snr10 and wer_noisy_snr5, groups of six: 40
streams, 15 min; ``--compare word_tails``): word tails 89.8 % Update precision against 90.3 %, CPU
0.195 against 0.257 s per audio second (0.76x), WER 6.0 against 6.2 % (mean over groups), window
1.9 against 3.6 s. Session 35 (``--compare vocab``): tiny.en's vocabulary cut to 40,960 ids 89.4 against 89.8 %, CPU
0.170 against 0.179 (0.95x), WER 6.4 against 6.0 % (two noisy groups; in one, a base decode cut
80 ms later repeated its last words), window 1.87 s both; cut to 32,768: 88.5 %, 0.90x.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from turnscribe.bench.server_process import export_revision
from turnscribe.client.wav import read_pcm16_wav
from turnscribe.core import transcriber
from turnscribe.core.policy import TurnPolicy
from turnscribe.engines.hybrid import SplitAsr
from turnscribe.engines.registry import load_engines
from turnscribe.engines.whisper_asr import WhisperAsr
from turnscribe.eval.replay import replay_bytes
from turnscribe.eval.wer import read_manifest, score, surviving_words, turn_partials
from turnscribe.types.engine import SAMPLE_RATE, Engines
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


def _variants(compare: str, engines: Engines) -> dict[str, tuple[TurnPolicy, Engines]]:
    """The setups compared, by name: the shipped one first."""
    if compare == "word_tails":
        pause_only = dataclasses.replace(TurnPolicy().window, word_tails=False)
        return {"word_tails": (TurnPolicy(), engines), "pause_tails": (TurnPolicy(window=pause_only), engines)}
    if compare == "vocab":
        assert isinstance(engines.asr, SplitAsr), "the default tiny.en+base pair"
        full = dataclasses.replace(engines, asr=SplitAsr(WhisperAsr.tiny_en(), engines.asr.final))
        return {"cut_vocab": (TurnPolicy(), engines), "full_vocab": (TurnPolicy(), full)}
    return {"shipped": (TurnPolicy(), engines)}


def replay_groups(variants: dict[str, tuple[TurnPolicy, Engines]],
                  streams: list[tuple[str, bytes, str]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Every stream replayed by every variant in turn: (summary by variant, rows by stream)."""
    params = ListenParams().with_changes(encoding="linear16", sample_rate=SAMPLE_RATE)
    windows: list[float] = []
    request = transcriber.Transcriber.request

    def counted(self: transcriber.Transcriber, *a: Any, **kw: Any) -> Any:
        req = request(self, *a, **kw)
        if kw.get("live"):
            windows.append(len(req.audio) / SAMPLE_RATE)
        return req

    transcriber.Transcriber.request = counted  # type: ignore[method-assign]
    totals = {name: Totals() for name in variants}
    per_group = []
    for key, pcm, reference in streams:
        row: dict[str, Any] = {"group": key}
        audio_s = len(pcm) / (2 * SAMPLE_RATE)
        for name, (policy, engs) in variants.items():
            windows.clear()
            cpu0 = time.process_time()
            rep = replay_bytes(pcm, params, engs, policy=policy)
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
        print(key, {n: round(row[n]["cpu_per_audio_s"], 3) for n in variants}, flush=True)
    summary = {name: {"update_precision": t.kept / t.said, "wer_mean": statistics.mean(t.wer),
                      "cpu_per_audio_s": t.cpu_s / t.audio_s, "partial_window_mean_s": statistics.mean(t.windows),
                      "streams": len(per_group), "audio_s": t.audio_s}
               for name, t in totals.items()}
    return summary, per_group


def _start_ref(ref: str, args: argparse.Namespace, workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """This benchmark on revision ``ref``'s src, in a process of its own (running beside this one)."""
    src = export_revision(ref, workdir)
    out = workdir / "ref.json"
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--data", str(args.data), "--sets", args.sets, "--group", str(args.group),
           "--compare", "none", "--out", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("--sets", default=SETS)
    ap.add_argument("--group", type=int, default=6, help="clips per stream")
    ap.add_argument("--compare", choices=("vocab", "word_tails", "none"), default="none",
                    help="in this process, beside the shipped setup: tiny.en's full output vocabulary "
                         "(vocab) or partials from a pause only (word_tails)")
    ap.add_argument("--compare-ref", metavar="REV",
                    help="replay the same streams with git revision REV's src in a second process at the same "
                         "time (one core each), and report both")
    ap.add_argument("--out", type=Path, default=Path("results/long_partials.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ref = _start_ref(args.compare_ref, args, Path(tmp)) if args.compare_ref else None
        engines = load_engines(multilingual_model=None)
        summary, per_group = replay_groups(_variants(args.compare, engines),
                                           groups(args.data, args.sets.split(","), args.group))
        if ref is not None:
            if ref[0].wait() != 0:
                raise SystemExit(f"the run of {args.compare_ref} failed")
            theirs = json.loads(ref[1].read_text())
            summary[f"ref {args.compare_ref}"] = theirs["summary"]["shipped"]
            for mine, other in zip(per_group, theirs["groups"], strict=True):
                mine[f"ref {args.compare_ref}"] = other["shipped"]
    for name, s in summary.items():
        print(f"{name:12s} Update precision {s['update_precision']:.1%}  WER {s['wer_mean']:.1%}  "
              f"CPU {s['cpu_per_audio_s']:.3f} s per audio s  partial window {s['partial_window_mean_s']:.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "groups": per_group}, indent=1))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
