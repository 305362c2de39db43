"""One step of the load bench: N clients at once against one server, with the server's CPU, RSS and
per-engine compute (from ``/metrics``) around it, summed up into the step's figures."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from turnscribe.bench.lag_client import ClientResult, run_client
from turnscribe.bench.server_process import Server, http_base, read_cpu_s, read_rss_mb
from turnscribe.bench.slo import Slo, lag_summary
from turnscribe.bench.workload import StreamSpec


async def _sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss = read_rss_mb(pid)
        if rss is not None:
            peak[0] = max(peak[0], rss)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


async def run_step_async(url: str, specs: Sequence[StreamSpec], *, ramp_s: float, warmup_s: float,
                         close_timeout_s: float, pid: int | None,
                         headers: Mapping[str, str] | None = None) -> tuple[list[ClientResult], float]:
    """All clients of one step; returns their results and the server's peak RSS (MB, 0 unknown)."""
    peak = [0.0]
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(pid, peak, stop)) if pid else None
    n = len(specs)
    results = await asyncio.gather(*(
        run_client(url, s, start_delay_s=ramp_s * i / n, warmup_s=warmup_s,
                   close_timeout_s=close_timeout_s, headers=headers) for i, s in enumerate(specs)))
    stop.set()
    if sampler is not None:
        await sampler
    return list(results), peak[0]


def summarize_step(streams: int, results: Sequence[ClientResult]) -> dict[str, Any]:
    upd = [x for r in results for x in r.update_lags]
    eot = [x for r in results for x in r.eot_lags]
    errors = Counter(e for r in results for e in r.errors)
    served = [r for r in results if r.refused is None]
    return {
        "streams": streams,
        "kinds": dict(Counter(r.kind for r in results)),
        "audio_s": round(sum(r.audio_s for r in results), 3),
        "update_lag": lag_summary(upd),
        "eot_lag": lag_summary(eot),
        "word_age": lag_summary([x for r in results for x in r.word_ages]),
        "eot_total": sum(r.eot_total for r in results),
        "errors": sum(errors.values()),
        "error_codes": dict(errors),
        "refusals": sum(r.refused is not None for r in results),
        "refusal_statuses": dict(Counter(str(r.refused) for r in results if r.refused is not None)),
        "refusal_reasons": sorted({r.refused_reason for r in results if r.refused_reason}),
        "abnormal_closes": sum(r.abnormal for r in served),
        "close_codes": dict(Counter(str(r.close_code) for r in served)),
        "messages": sum(r.messages for r in results),
        "incomplete_streams": sum(r.audio_s - r.last_window_end > 0.3 for r in served),
        "send_late_max_s": round(max((r.send_late_max_s for r in results), default=0.0), 4),
    }



def scrape_engines(ws_url: str) -> dict[tuple[str, str], float] | None:
    """The server's per-engine counters from ``/metrics``: (engine, what) -> value, where what is
    busy_s (inference wall time), cpu_s (CPU time, native workers included), calls, jobs or dropped. None when /metrics does not answer."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{http_base(ws_url)}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    names = {"turnscribe_engine_inference_seconds_sum": "busy_s",
             "turnscribe_engine_inference_seconds_count": "calls",
             "turnscribe_engine_batch_size_sum": "jobs",
             "turnscribe_engine_jobs_dropped_total": "dropped",
             "turnscribe_engine_cpu_seconds_total": "cpu_s"}
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            what = names.get(sample.name)
            if what is not None and "engine" in sample.labels:
                key = (sample.labels["engine"], what)
                out[key] = out.get(key, 0.0) + sample.value
    return out


def engine_profile(before: Mapping[tuple[str, str], float] | None,
                   after: Mapping[tuple[str, str], float] | None, wall_s: float,
                   audio_s: float) -> dict[str, Any] | None:
    """Where the compute went in one step: per engine, CPU seconds and CPU ms per stream-second of
    audio (the cost), busy seconds (wall time of its calls, and as a share of the step's wall time:
    1.0 = one core busy throughout), calls, jobs per call, jobs dropped."""
    if before is None or after is None:
        return None
    engines = sorted({e for e, _ in after})
    prof: dict[str, Any] = {}
    for e in engines:
        d = {w: after.get((e, w), 0.0) - before.get((e, w), 0.0)
             for w in ("busy_s", "cpu_s", "calls", "jobs", "dropped")}
        measured = (e, "cpu_s") in after  # a server before CPU accounting has no such counter
        prof[e] = {"cpu_s": round(d["cpu_s"], 3) if measured else None,
                   "cpu_ms_per_stream_s": round(1000 * d["cpu_s"] / audio_s, 2) if audio_s and measured else None,
                   "busy_s": round(d["busy_s"], 3), "cores": round(d["busy_s"] / wall_s, 3) if wall_s else None,
                   "calls": int(d["calls"]), "jobs": int(d["jobs"]),
                   "jobs_per_call": round(d["jobs"] / d["calls"], 2) if d["calls"] else None,
                   "dropped": int(d["dropped"])}
    return prof


def run_step(server: Server, specs: Sequence[StreamSpec], args: argparse.Namespace, slo: Slo,
             headers: Mapping[str, str] | None) -> dict[str, Any]:
    pid = server.pid
    cpu0 = read_cpu_s(pid) if pid else None
    bench_cpu0 = time.process_time()
    engines0 = scrape_engines(server.url)
    t = time.monotonic()
    results, peak = asyncio.run(run_step_async(
        server.url, specs, ramp_s=args.ramp, warmup_s=args.warmup, close_timeout_s=args.close_timeout,
        pid=pid, headers=headers))
    wall = time.monotonic() - t
    cpu1 = read_cpu_s(pid) if pid else None
    step = summarize_step(len(specs), results)
    rss_end = read_rss_mb(pid) if pid else None
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    step.update({
        "wall_s": round(wall, 2),
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "cpu_per_audio_s": round(cpu / step["audio_s"], 4) if cpu is not None and step["audio_s"] else None,
        "cpu_ms_per_stream_s": round(1000 * cpu / step["audio_s"], 1) if cpu is not None and step["audio_s"] else None,
        "rss_end_mb": round(rss_end, 1) if rss_end is not None else None,
        "rss_peak_mb": round(max(peak, rss_end or 0.0), 1) if pid else None,
        "bench_cpu_s": round(time.process_time() - bench_cpu0, 3),
        "engines": engine_profile(engines0, scrape_engines(server.url), wall, step["audio_s"]),
    })
    engines = step["engines"] or {}
    if engines and all(p["cpu_s"] is not None for p in engines.values()) and step["cpu_ms_per_stream_s"] is not None:
        engines_ms = sum(p["cpu_ms_per_stream_s"] or 0.0 for p in engines.values())  # the rest: sessions, protocol
        step["other_cpu_ms_per_stream_s"] = round(step["cpu_ms_per_stream_s"] - engines_ms, 1)
    reasons = slo.check(step)
    step["pass"] = not reasons
    step["fail_reasons"] = reasons
    return step


def add_rss_per_stream(steps: list[dict[str, Any]], idle_rss: float | None) -> None:
    """RSS growth per added stream: against the 1-stream step when there is one, else idle."""
    one = next((s for s in steps if s["streams"] == 1 and s.get("rss_peak_mb") is not None), None)
    for s in steps:
        peak = s.get("rss_peak_mb")
        if peak is None:
            s["rss_delta_per_stream_mb"] = None
        elif one is not None and s["streams"] > 1:
            s["rss_delta_per_stream_mb"] = round((peak - one["rss_peak_mb"]) / (s["streams"] - 1), 2)
        elif idle_rss is not None:
            s["rss_delta_per_stream_mb"] = round((peak - idle_rss) / s["streams"], 2)
        else:
            s["rss_delta_per_stream_mb"] = None

