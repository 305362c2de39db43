"""What each Whisper model costs and how accurate it is on this box: WER on a subset of the clean set
and real-time factor per decode, for the bundled models and any operator directory.

For every chosen ``wer_clean`` row of ``DIR/manifest.tsv`` (``--files`` of them, spread evenly over
the set so every source is in), each model transcribes the whole utterance in one
``AsrRequest(final=True)``: the decode the server runs at a pause and at the end of a turn (its
window is padded to >= 10 s, as every server decode is). Per decode: wall time, RTF = wall / audio
seconds, and CPU RTF (this process's CPU time, CTranslate2's worker threads included, / audio:
steadier on a shared machine). WER is corpus-level with ``turnscribe.eval.wer``'s normaliser and
scorer. One warm-up decode per model is not counted. Models load as the server loads them
(registry factories, one intra-op thread, BLAS capped), so the figures are per stream on one core.

    python benchmarks/asr_models.py --data ../shared/data [--files 40] [--model-dir /models/small.en]
        [--device cpu] [--out results/asr_models.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from turnscribe.engines.device import resolve_device
from turnscribe.engines.model_dir import check_whisper_dir
from turnscribe.engines.registry import ASR_MODELS, limit_blas_threads
from turnscribe.eval.wer import Score, corpus_wer, decode_file, read_manifest, score
from turnscribe.types.engine import AsrEngine, AsrRequest

BUNDLED = ("tiny.en", "base")


def pick_rows(data: Path, n: int) -> list[dict[str, str]]:
    """``n`` rows of wer_clean at an even stride (deterministic; covers every source of the set)."""
    rows = [r for r in read_manifest(data) if r["set"] == "wer_clean"]
    if n >= len(rows):
        return rows
    return [rows[int(i * len(rows) / n)] for i in range(n)]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load(name: str, kw: dict[str, Any]) -> AsrEngine:
    if name in ASR_MODELS:
        return ASR_MODELS[name](**kw)
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr(check_whisper_dir(name).path, **kw)


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def bench(name: str, kw: dict[str, Any], clips: list[tuple[dict[str, str], Any]]) -> dict[str, Any]:
    rss0, t0 = rss_mb(), time.perf_counter()
    asr = load(name, kw)
    load_s, rss = time.perf_counter() - t0, rss_mb() - rss0
    asr.transcribe([AsrRequest(audio=clips[0][1], final=True)])  # warm-up: first-call allocations
    files, scores = [], []
    for row, audio in clips:
        audio_s = audio.shape[0] / 16000
        c0, w0 = time.process_time(), time.perf_counter()
        (res,) = asr.transcribe([AsrRequest(audio=audio, final=True, language="en")])
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        st = score(row["reference_text"], res.text)
        scores.append(st)
        files.append({"path": row["path"], "audio_s": round(audio_s, 3), "decode_s": round(wall, 4),
                      "rtf": round(wall / audio_s, 4), "cpu_rtf": round(cpu / audio_s, 4),
                      "wer": st.wer, "hypothesis": res.text})
    rtf = [f["rtf"] for f in files]
    ms = [1000 * f["decode_s"] for f in files]
    total: Score = sum(scores, Score())
    audio_total = sum(f["audio_s"] for f in files)
    return {
        "model": name, "load_s": round(load_s, 3), "rss_mb": round(rss, 1), "files": len(files),
        "audio_s": round(audio_total, 2), "wer": corpus_wer(scores), "ref_words": total.ref_words,
        "errors": total.errors,
        "rtf_mean": round(statistics.fmean(rtf), 4), "rtf_p50": round(pct(rtf, 0.5), 4),
        "rtf_p95": round(pct(rtf, 0.95), 4),
        "rtf_total": round(sum(f["decode_s"] for f in files) / audio_total, 4),
        "cpu_rtf_total": round(sum(f["cpu_rtf"] * f["audio_s"] for f in files) / audio_total, 4),
        "decode_ms_p50": round(pct(ms, 0.5), 1), "decode_ms_p95": round(pct(ms, 0.95), 1),
        "per_file": files,
    }  # fmt: skip


def revision() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="the shared data folder (manifest.tsv, wer/clean/...)")
    ap.add_argument("--files", type=int, default=40, help="wer_clean clips to decode (default 40)")
    ap.add_argument("--model-dir", action="append", default=[], help="also measure this CT2 Whisper directory")
    ap.add_argument("--no-bundled", action="store_true", help="measure only the --model-dir models")
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per model (server: 1)")
    ap.add_argument("--out", default="results/asr_models.json")
    args = ap.parse_args()

    data = Path(args.data)
    placement = resolve_device(args.device)
    limit_blas_threads(args.threads)
    kw: dict[str, Any] = {"intra_threads": args.threads, "device": placement.device,
                          "compute_type": placement.compute_type}
    rows = pick_rows(data, args.files)
    clips = [(r, decode_file(data / r["path"], int(r.get("sample_rate") or 16000))) for r in rows]
    names = ([] if args.no_bundled else list(BUNDLED)) + list(args.model_dir)
    results = []
    for name in names:
        r = bench(name, kw, clips)
        results.append(r)
        print(f"{name:>12}: WER {100 * (r['wer'] or 0):.1f} % ({r['errors']}/{r['ref_words']}), RTF per decode "
              f"p50 {r['rtf_p50']:.3f} / p95 {r['rtf_p95']:.3f} (total {r['rtf_total']:.3f}, CPU "
              f"{r['cpu_rtf_total']:.3f}), decode p50 {r['decode_ms_p50']:.0f} ms, load {r['load_s']:.2f} s, "
              f"+{r['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "revision": revision(),
           "command": " ".join(sys.argv), "data": str(data.resolve()), "set": "wer_clean",
           "files": len(rows), "audio_s": round(sum(c[1].shape[0] for c in clips) / 16000, 2),
           "device": placement.device, "compute_type": placement.compute_type, "threads": args.threads,
           "models": results}  # fmt: skip
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
