"""Where a stream's wait goes on the wall clock: serve with every scheduler job traced, then summarise.

``serve`` runs ``turnscribe serve`` (any of its options after ``--``) with ``BatchedWork`` wrapped so
that each request's submit time and each batch's start and end (``time.perf_counter``) are written to
a JSON-lines file; load it with any client (``turnscribe eval eot --url``, ``turnscribe bench load
--url``) and stop it with Ctrl-C. ``summary`` reads that file: per engine lane, submit→done, queued
(submit→batch start) and compute (batch start→end) p50 / p90 in ms, and for every final-quality decode
whether it was asked before the same stream's Smart Turn request (a frame ahead), beside it or after
it, and how long after that request it was done (what an EndOfTurn decided at a pause's first frame
waits for).

    python benchmarks/job_trace.py serve /tmp/jobs.jsonl -- --port 8000
    turnscribe eval eot --data ../shared/data --url ws://127.0.0.1:8000/v2/listen --streams 2 --sets callers
    python benchmarks/job_trace.py summary /tmp/jobs.jsonl

Session 33 on the callers, 2 streams: Whisper base's decode 201 ms (p50), Smart Turn 46 ms, a tiny.en
partial 76 ms, queueing ~5 ms on every urgent lane; 36 of 45 base decodes were a short reply's, asked
beside Smart Turn and done 197 ms (p50) after Smart Turn was asked; asked a frame before it
(``Turns._ask_before_pause``), 28 of them were done 113 ms after it (8 still beside, 9 after).
"""

from __future__ import annotations

import argparse
import atexit
import json
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BESIDE_S = 0.002  # a final decode submitted this close to the stream's Smart Turn request was asked with it
SMART_TURN_REACH_S = 1.0  # ... and one submitted within this long after it answers that pause
EARLY_S = 0.2  # ... or within this long before it, a frame ahead (a short reply's decode asked before its pause)


def serve(out: Path, argv: list[str]) -> None:
    from turnscribe.cli import main
    from turnscribe.runtime import lanes

    fh = out.open("w", encoding="utf-8")
    lock = threading.Lock()
    atexit.register(fh.close)
    submit, run = lanes.BatchedWork.submit, lanes.BatchedWork._run

    def write(record: dict[str, Any]) -> None:
        with lock:
            fh.write(json.dumps(record) + "\n")

    def traced_run(self: lanes.BatchedWork, batch: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return run(self, batch)
        finally:
            write({"k": "batch", "lane": lanes._engine_label(batch.lane), "t0": t0, "t1": time.perf_counter(),
                   "window_s": getattr(batch.lane, "window_s", 0.0), "urgent": getattr(batch.lane, "urgent", False),
                   "jobs": [[j.payload.stream_id, j.payload.seq] for j in batch.jobs]})

    def traced_submit(self: lanes.BatchedWork, requests: Sequence[Any], deliver: Any) -> None:
        t = time.perf_counter()
        for r in requests:
            write({"k": "submit", "lane": lanes._engine_label(lanes.lane_of(r)), "stream": r.stream_id,
                   "seq": r.seq, "t": t})
        submit(self, requests, deliver)

    lanes.BatchedWork.submit = traced_submit  # type: ignore[method-assign]
    lanes.BatchedWork._run = traced_run  # type: ignore[method-assign]
    main(["serve", *argv])  # argv given: no re-exec (start it with LD_PRELOAD=libjemalloc.so.2 to match)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def summary(path: Path) -> dict[str, Any]:
    submits: dict[tuple[str, int], dict[str, Any]] = {}
    done: dict[tuple[str, int], tuple[float, float]] = {}
    waits: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        if rec["k"] == "submit":
            submits[(rec["stream"], rec["seq"])] = rec
            continue
        waits[rec["lane"]]["compute"].append(rec["t1"] - rec["t0"])
        for stream, seq in rec["jobs"]:
            done[(stream, seq)] = (rec["t0"], rec["t1"])
            if (sub := submits.get((stream, seq))) is not None:
                waits[rec["lane"]]["queued"].append(rec["t0"] - sub["t"])
                waits[rec["lane"]]["submit_to_done"].append(rec["t1"] - sub["t"])
    lanes = {lane: {name: {"p50_ms": round(_pct(xs, 0.5), 1), "p90_ms": round(_pct(xs, 0.9), 1), "n": len(xs)}
                    for name, xs in parts.items()} for lane, parts in waits.items()}
    finals: dict[str, list[float]] = {"before": [], "beside": [], "after": []}
    turns = [s for s in submits.values() if s["lane"] == "turn"]
    for f in (s for s in submits.values() if s["lane"] == "asr_final"):
        asks = [t for t in turns if t["stream"] == f["stream"] and -EARLY_S <= f["t"] - t["t"] < SMART_TURN_REACH_S]
        end = done.get((f["stream"], f["seq"]))
        if asks and end is not None:
            ask = min(asks, key=lambda t: abs(f["t"] - t["t"]))
            gap = f["t"] - ask["t"]
            finals["beside" if abs(gap) < BESIDE_S else "before" if gap < 0 else "after"].append(end[1] - ask["t"])
    return {"lanes": lanes, "final_after_smart_turn_ask": {
        k: {"n": len(v), "p50_ms": round(_pct(v, 0.5), 1), "p90_ms": round(_pct(v, 0.9), 1)} for k, v in finals.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("out", type=Path)
    s.add_argument("serve_args", nargs=argparse.REMAINDER)
    m = sub.add_parser("summary")
    m.add_argument("trace", type=Path)
    args = ap.parse_args()
    if args.cmd == "serve":
        serve(args.out, [a for a in args.serve_args if a != "--"])
    else:
        print(json.dumps(summary(args.trace), indent=1))


if __name__ == "__main__":
    main()
