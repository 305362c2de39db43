"""``turnscribe bench soak``: a long run at a steady share of the admitted capacity, with streams
opening and closing and hostile clients mixed in, watching for leaks and drift.

A spawned server (``--max-streams`` of its own, default 6) gets ``--streams`` good clients (default
75 % of the admitted limit) that each stream a conversational clip of random length at real time,
close, and open the next one, for ``--minutes``; beside them one hostile client at a time (bad
handshakes, garbage frames, oversized frames, clients that vanish mid-stream). Every ``--sample``
seconds it records the server's RSS and the good streams' Update lag. The verdict:

* RSS growth after warm-up (the first ``--warmup-share`` of the run): the median RSS of the last
  window (``--rss-window``, 5 min, at most a quarter of the time after warm-up) against the median
  of the first window after warm-up, at most ``--max-rss-growth`` (5 %). Medians, because single
  samples swing by tens of MB with the decodes running at that instant (a live stream's working
  set), which a leak or fragmentation would not: it moves the median. The point figures (end vs
  first sample after warm-up) and the peaks (max of the second half vs the first) are reported too;
* lag flat: the Update lag p95 of the last third of the run within ``--max-lag-drift`` (0.1 s) of
  the first third (after warm-up);
* no errors on good streams (an Error message, a refused or abnormally closed good stream);
* ``turnscribe_streams_open`` back to 0 on ``/metrics`` at the end.

JSON goes to ``--out`` (default results/soak_<timestamp>.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from turnscribe.bench.lag_client import run_client
from turnscribe.bench.server_process import Server, http_base, read_rss_mb
from turnscribe.bench.slo import percentile
from turnscribe.bench.workload import (
    EN_MODEL,
    ENGLISH_SETS,
    StreamSpec,
    build_stream_audio,
    data_folder,
    load_clips,
)
from turnscribe.client.closes import is_normal_close


@dataclass
class SoakStats:
    good_streams: int = 0
    good_errors: list[str] = field(default_factory=list)
    hostile: int = 0
    lags: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the run, Update lag)
    rss: list[tuple[float, float]] = field(default_factory=list)   # (seconds into the run, MB)


async def good_slot(url: str, clips: list[bytes], rng: random.Random, stats: SoakStats, t_start: float,
                    end: float, lengths: tuple[float, float]) -> None:
    loop = asyncio.get_running_loop()
    n = 0
    while loop.time() < end:
        seconds = min(rng.uniform(*lengths), max(3.0, end - loop.time()))
        audio = build_stream_audio("conversational", clips, rng.randrange(len(clips)), seconds)
        spec = StreamSpec(n, "conversational", EN_MODEL, audio)
        opened = loop.time()
        res = await run_client(url, spec, start_delay_s=0.0, warmup_s=0.0, close_timeout_s=30.0)
        stats.good_streams += 1
        n += 1
        if res.refused is not None:
            stats.good_errors.append(f"refused:{res.refused}")
        stats.good_errors.extend(res.errors)
        if not is_normal_close(res.close_code) and res.refused is None:
            stats.good_errors.append(f"close:{res.close_code}")
        # spread the stream's lags over its lifetime (they arrive in order)
        span = max(loop.time() - opened, 1e-3)
        for i, lag in enumerate(res.update_lags):
            stats.lags.append((opened - t_start + span * i / max(len(res.update_lags), 1), lag))


async def hostile_client(url: str, rng: random.Random) -> None:
    """One misbehaving client; whatever the server answers is fine as long as it answers."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake

    kind = rng.choice(["bad_query", "garbage", "oversized", "vanish", "bad_json"])
    query = {"bad_query": "model=nova-3&eot_threshold=7", "garbage": "model=flux-general-en&encoding=opus"
             "&sample_rate=48000", "oversized": "model=flux-general-en&encoding=linear16&sample_rate=16000",
             "vanish": "model=flux-general-en&encoding=mulaw&sample_rate=8000",
             "bad_json": "model=flux-general-en"}[kind]
    try:
        async with connect(f"{url}?{query}", open_timeout=10, close_timeout=2, max_size=None) as ws:
            if kind == "garbage":
                for _ in range(20):
                    await ws.send(rng.randbytes(rng.randint(10, 400)))
            elif kind == "oversized":
                await ws.send(bytes(5 * 1024 * 1024))
            elif kind == "vanish":
                for _ in range(25):
                    await ws.send(rng.randbytes(160))
                    await asyncio.sleep(0.02)
                ws.transport.abort()
                return
            else:
                await ws.send("{not json")
            try:
                async with asyncio.timeout(5):
                    async for _ in ws:
                        pass
            except TimeoutError:
                ws.transport.abort()
    except (InvalidHandshake, ConnectionClosed, OSError, TimeoutError):
        pass


async def hostile_loop(url: str, rng: random.Random, stats: SoakStats, end: float, every_s: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        await hostile_client(url, rng)
        stats.hostile += 1
        await asyncio.sleep(every_s)


async def sample_rss(pid: int, stats: SoakStats, t_start: float, end: float, every_s: float) -> None:
    loop = asyncio.get_running_loop()
    while loop.time() < end:
        rss = read_rss_mb(pid)
        if rss is not None:
            stats.rss.append((loop.time() - t_start, rss))
        await asyncio.sleep(every_s)


def streams_open(ws_url: str) -> float | None:
    with urllib.request.urlopen(f"{http_base(ws_url)}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("turnscribe_streams_open "):
                return float(line.split()[1])
    return None


def _growth(before: float | None, after: float | None) -> float | None:
    return round(after / before - 1.0, 4) if before and after else None


def rss_figures(rss: list[tuple[float, float]], duration_s: float, warmup_s: float,
                window_s: float) -> dict[str, float | None]:
    """RSS growth after warm-up: window medians (the verdict), end points and peaks."""
    after = [(t, mb) for t, mb in rss if t >= warmup_s]
    window = min(window_s, (duration_s - warmup_s) / 4)
    first = [mb for t, mb in after if t < warmup_s + window]
    last = [mb for t, mb in after if t >= duration_s - window]
    mid = warmup_s + (duration_s - warmup_s) / 2
    peak1 = max((mb for t, mb in after if t < mid), default=None)
    peak2 = max((mb for t, mb in after if t >= mid), default=None)
    med1 = float(statistics.median(first)) if first else None
    med2 = float(statistics.median(last)) if last else None
    warm, end = (after[0][1] if after else None), (rss[-1][1] if rss else None)
    return {"rss_window_s": window, "rss_first_window_median_mb": med1, "rss_last_window_median_mb": med2,
            "rss_growth": _growth(med1, med2), "rss_after_warmup_mb": warm, "rss_end_mb": end,
            "rss_growth_end_vs_warmup_sample": _growth(warm, end), "rss_peak_first_half_mb": peak1,
            "rss_peak_second_half_mb": peak2, "rss_peak_growth": _growth(peak1, peak2)}


def verdict(stats: SoakStats, duration_s: float, warmup_s: float, *, max_rss_growth: float,
            max_lag_drift: float, open_at_end: float | None, rss_window_s: float = 300.0) -> dict[str, Any]:
    rss = rss_figures(stats.rss, duration_s, warmup_s, rss_window_s)
    growth = rss["rss_growth"]
    third = (duration_s - warmup_s) / 3
    first = [lag for t, lag in stats.lags if warmup_s <= t < warmup_s + third]
    last = [lag for t, lag in stats.lags if t >= duration_s - third]
    p_first, p_last = percentile(first, 95), percentile(last, 95)
    drift = (p_last - p_first) if p_first is not None and p_last is not None else None
    checks = {
        "rss_growth": growth is not None and growth <= max_rss_growth,
        "lag_flat": drift is not None and drift <= max_lag_drift,
        "good_stream_errors": not stats.good_errors,
        "streams_open_back_to_0": open_at_end == 0,
    }
    return {**rss,
            "update_lag_p95_first_third_s": p_first, "update_lag_p95_last_third_s": p_last,
            "lag_drift_s": round(drift, 4) if drift is not None else None,
            "good_streams": stats.good_streams, "good_errors": stats.good_errors[:20],
            "good_error_count": len(stats.good_errors), "hostile_clients": stats.hostile,
            "streams_open_at_end": open_at_end, "checks": checks, "pass": all(checks.values())}


def run(args: argparse.Namespace) -> int:
    data = data_folder(args.data)
    if data is None:
        return 2
    clips = load_clips(data, ENGLISH_SETS)
    duration_s = args.minutes * 60.0
    warmup_s = duration_s * args.warmup_share
    streams = args.streams or max(1, round(0.75 * args.max_streams))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"soak_{stamp}.json"
    extra = ["--max-streams", str(args.max_streams), *shlex.split(args.server_args or "")]
    print(f"starting the server ({args.engine} engines) ...", file=sys.stderr, flush=True)
    server = Server.spawn("batched", engine=args.engine, asr_model=None, extra=extra,
                          log_path=out.with_name(f"{out.stem}_server.log"), ready_timeout_s=600)
    stats = SoakStats()
    pid = server.pid
    try:
        assert pid is not None
        print(f"soak: {streams} good streams + hostile clients for {args.minutes:g} min", file=sys.stderr,
              flush=True)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            t_start = loop.time()
            end = t_start + duration_s
            rng = random.Random(args.seed)
            tasks = [good_slot(server.url, clips, random.Random(rng.random()), stats, t_start, end,
                               (args.min_stream_s, args.max_stream_s)) for _ in range(streams)]
            tasks.append(hostile_loop(server.url, random.Random(rng.random()), stats, end, args.hostile_every))
            tasks.append(sample_rss(pid, stats, t_start, end, args.sample))
            await asyncio.gather(*tasks)

        t0 = time.monotonic()
        asyncio.run(main())
        elapsed = time.monotonic() - t0
        open_at_end = streams_open(server.url)
        for _ in range(60):  # the last closing handshakes (up to the server's close timeout)
            if open_at_end == 0:
                break
            time.sleep(0.5)
            open_at_end = streams_open(server.url)
        rss = read_rss_mb(pid)
        if rss is not None:
            stats.rss.append((elapsed, rss))
    finally:
        server.stop()
    result = verdict(stats, elapsed, warmup_s, max_rss_growth=args.max_rss_growth,
                     max_lag_drift=args.max_lag_drift, open_at_end=open_at_end, rss_window_s=args.rss_window)
    report = {"command": sys.argv, "started": stamp, "minutes": args.minutes, "streams": streams,
              "max_streams": args.max_streams, "engine": args.engine, "warmup_s": warmup_s,
              "result": result, "rss": stats.rss}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(json.dumps({k: v for k, v in result.items() if k != "good_errors"}, indent=1))
    print(f"wrote {out}")
    return 0 if result["pass"] else 1


def add_soak_parser(bench: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    sp = bench.add_parser("soak", help="long run at 75 %% of capacity with streams coming and going and "
                                       "hostile clients: RSS growth, lag drift, errors",
                          description=__doc__.split("\n\n")[0] if __doc__ else None)
    sp.add_argument("--data", help="data folder with manifest.tsv (default: $TURNSCRIBE_SHARED/data)")
    sp.add_argument("--minutes", type=float, default=30.0, help="length of the run (default 30)")
    sp.add_argument("--max-streams", type=int, default=6, help="the server's admission limit (default 6)")
    sp.add_argument("--streams", type=int, help="good streams at once (default 75 %% of --max-streams)")
    sp.add_argument("--min-stream-s", type=float, default=15.0, help="shortest good stream, s (default 15)")
    sp.add_argument("--max-stream-s", type=float, default=60.0, help="longest good stream, s (default 60)")
    sp.add_argument("--hostile-every", type=float, default=2.0,
                    help="seconds between hostile clients (default 2)")
    sp.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples (default 10)")
    sp.add_argument("--warmup-share", type=float, default=0.2,
                    help="share of the run before the RSS baseline is taken (default 0.2)")
    sp.add_argument("--max-rss-growth", type=float, default=0.05, help="allowed RSS growth (default 0.05)")
    sp.add_argument("--rss-window", type=float, default=300.0,
                    help="seconds of RSS samples whose medians are compared (default 300)")
    sp.add_argument("--max-lag-drift", type=float, default=0.1,
                    help="allowed rise of the Update lag p95, last third vs first, s (default 0.1)")
    sp.add_argument("--engine", choices=("real", "fake"), default="real")
    sp.add_argument("--server-args", default="", help="extra flags for the server")
    sp.add_argument("--seed", type=int, default=7)
    sp.add_argument("--out", help="JSON path (default results/soak_<timestamp>.json)")
    sp.set_defaults(func=run)
