"""``turnscribe bench load``: real WebSocket clients streaming real audio at real time.

Each step opens N clients (started staggered over ``ramp_s``) against one server. Every client
sends linear16 16 kHz audio in 20 ms frames on an absolute schedule (frame k at ``t0 + k*0.02``,
``t0`` = when its first frame was sent) for ``duration_s``, then ``CloseStream``, and reads until
the server closes. Per TurnInfo it records the lag ``arrival − (t0 + audio_window_end)``
(Update lag: every TurnInfo; EndOfTurn lag: EndOfTurn only). The first ``warmup_s`` of stream
audio is left out of the lag statistics. Because the frame that completes a window is sent at
``t0 + end − 0.02``, a lag can be as low as −20 ms.

The parts: ``workload`` (the audio each stream sends), ``lag_client`` (one client and its lags),
``step`` (N clients at once and the server's figures around them), ``slo`` (statistics and the
pass/fail rule), ``server_process`` (the server under test), ``report`` (table and plot); this
module runs the ladder of steps for ``turnscribe bench load``.

The bench spawns the server itself (one process per scheduler mode, alive for the whole run,
loaded one step at a time, or both at once with ``--side-by-side``: this box's speed drifts by
+-30 % within an hour, so a CPU comparison of two servers run one after the other can show the drift
instead of the change) and samples its CPU seconds and RSS from ``/proc``; or it drives an
already-running server (``--url``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shlex
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from turnscribe.bench.report import format_table, mix_label, plot
from turnscribe.bench.server_process import Server, export_revision, http_base, read_rss_mb, wait_ready
from turnscribe.bench.slo import Slo, find_max_ladder, max_within_slo
from turnscribe.bench.step import add_rss_per_stream, run_step
from turnscribe.bench.workload import (
    ENGLISH_SETS,
    MULTI_SETS,
    StreamSpec,
    build_streams,
    data_folder,
    load_clips,
    parse_mix,
)
from turnscribe.client.url import listen_url

__all__ = ["run"]


def _parse_streams(text: str) -> list[int]:
    out = [int(x) for x in text.replace(" ", "").split(",") if x]
    if not out or any(n < 1 for n in out):
        raise ValueError("--streams needs positive integers, e.g. 1,4,8")
    return out


def _steps_at_once(modes: list[str], servers: dict[str, Server], specs: list[StreamSpec], args: argparse.Namespace,
                   slo: Slo, headers: dict[str, str] | None) -> dict[str, dict[str, Any]]:
    """One step on every server at the same time, each with its own clients (``--side-by-side``)."""
    print(f"[{' | '.join(modes)}] {len(specs)} stream(s) each, side by side, x {args.duration:g} s ...",
          file=sys.stderr, flush=True)
    with ThreadPoolExecutor(len(modes)) as pool:  # each step runs its own event loop
        futures = {m: pool.submit(run_step, servers[m], specs, args, slo, headers) for m in modes}
        return {m: f.result() for m, f in futures.items()}


def run(args: argparse.Namespace) -> int:
    try:
        weights = parse_mix(args.mix, args.multi_share)
        ladder = (_parse_streams(args.streams) if args.streams else
                  (find_max_ladder(args.max_n) if args.find_max else [1, 4, 8, 16, 24]))
        url = listen_url(args.url) if args.url else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = data_folder(args.data)
    if data is None:
        return 2
    clips: dict[str, list[bytes]] = {"english": [], "multi": []}
    wanted = (("english", ENGLISH_SETS, any(k != "multi" for k in weights)),
              ("multi", MULTI_SETS, "multi" in weights))
    for pool, sets, needed in wanted:
        if not needed:
            continue
        try:
            clips[pool] = load_clips(data, sets)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: reading the audio: {exc}", file=sys.stderr)
            return 2
        if not clips[pool]:
            print(f"error: no audio in sets {', '.join(sets)} of {data}", file=sys.stderr)
            return 2

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"bench_load_{stamp}.json"
    png = out.with_suffix(".png")
    slo = Slo(args.slo_update, args.slo_eot)
    headers = {"Authorization": f"Token {args.api_key}"} if args.api_key else None

    scheduler = args.scheduler or ("url" if url is not None else "batched")  # the label of a --url server
    ref: str | None = getattr(args, "compare_ref", None)
    baseline = args.baseline and url is None and scheduler != "inline"
    if (args.baseline or ref) and url is not None:
        print("note: --url given, so there is no baseline server to compare with", file=sys.stderr)
    base_mode = f"ref {ref}" if ref and url is None else ("inline" if baseline else None)
    modes = [scheduler] + ([base_mode] if base_mode else [])
    tmp = tempfile.TemporaryDirectory(prefix="turnscribe-ref-") if ref and url is None else None
    servers: dict[str, Server] = {}
    report: dict[str, Any] = {
        "command": sys.argv,
        "started": datetime.now().isoformat(timespec="seconds"),
        "config": {"data": str(data), "mix": weights, "mix_label": mix_label(weights),
                   "duration_s": args.duration, "ramp_s": args.ramp, "warmup_s": args.warmup,
                   "engine": args.engine, "asr_model": args.asr_model, "server_args": args.server_args,
                   "find_max": args.find_max, "ladder": ladder, "url": url, "cpus": os.cpu_count(),
                   "lag": "arrival - (t0 + audio_window_end), t0 = when the stream's first 20 ms frame was sent"},
        "slo": {"update_p95_s": slo.update_p95_s, "eot_p95_s": slo.eot_p95_s,
                "errors": 0, "abnormal_closes": 0},
        "modes": {},
    }
    extra = shlex.split(args.server_args) if args.server_args else []
    try:
        for mode in modes:  # load the models one server at a time (it is CPU-heavy)
            if url is not None:
                servers[mode] = Server(mode, url, args.pid)
                wait_ready(http_base(url), args.ready_timeout)
            else:
                log_path = out.with_name(f"{out.stem}_server_{mode.replace(' ', '_')}.log")
                print(f"starting the {mode} server ...", file=sys.stderr, flush=True)
                source = export_revision(ref, Path(tmp.name)) if ref and tmp is not None and mode == base_mode else None
                servers[mode] = Server.spawn(mode, engine=args.engine, asr_model=args.asr_model, extra=extra,
                                             log_path=log_path, ready_timeout_s=args.ready_timeout,
                                             scheduler=scheduler if source is not None else None, source=source)
            srv = servers[mode]
            idle = read_rss_mb(srv.pid) if srv.pid else None
            report["modes"][mode] = {
                "server": {"cmd": srv.cmd, "pid": srv.pid, "url": srv.url, "ready_s": srv.ready_s,
                           "log": str(srv.log_path) if srv.log_path else None,
                           "idle_rss_mb": round(idle, 1) if idle is not None else None},
                "steps": [], "max_streams_within_slo": 0, "stopped_at": None}
        fails = dict.fromkeys(modes, 0)
        for n in ladder:
            active = [m for m in modes if not (args.find_max and fails[m] >= 2)]
            if not active:
                break
            specs = build_streams(n, weights, clips, args.duration)
            together = args.side_by_side and len(active) > 1
            at_once = _steps_at_once(active, servers, specs, args, slo, headers) if together else None
            for mode in active:  # else one server under load at a time
                if at_once is None:
                    print(f"[{mode}] {n} stream(s) x {args.duration:g} s ...", file=sys.stderr, flush=True)
                step = at_once[mode] if at_once is not None else run_step(servers[mode], specs, args, slo, headers)
                entry = report["modes"][mode]
                entry["steps"].append(step)
                fails[mode] = 0 if step["pass"] else fails[mode] + 1
                if args.find_max and fails[mode] >= 2:
                    entry["stopped_at"] = n
                time.sleep(args.pause)
    except KeyboardInterrupt:
        print("interrupted: reporting the steps that finished", file=sys.stderr)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for srv in servers.values():
            srv.stop()
        if tmp is not None:
            tmp.cleanup()

    for entry in report["modes"].values():
        add_rss_per_stream(entry["steps"], entry["server"]["idle_rss_mb"])
        entry["max_streams_within_slo"] = max_within_slo(entry["steps"])
    names = list(report["modes"])
    report["ratio_max_streams"] = None
    if len(names) == 2:
        a, b = (report["modes"][k]["max_streams_within_slo"] for k in names)
        report["ratio_max_streams"] = round(a / b, 3) if b else None
        report["ratio_of"] = f"{names[0]} / {names[1]}"
        # the cost side by side, step by step: CPU per stream-second of this revision / the baseline's
        steps = [{s["streams"]: s.get("cpu_ms_per_stream_s") for s in report["modes"][k]["steps"]} for k in names]
        report["ratio_cpu_per_stream_s"] = {str(n): round(a / steps[1][n], 3) for n, a in steps[0].items()
                                            if a and steps[1].get(n)}
    report["finished"] = datetime.now().isoformat(timespec="seconds")
    out.parent.mkdir(parents=True, exist_ok=True)
    has_png = importlib.util.find_spec("matplotlib") is not None
    report["plot"] = str(png) if has_png else None
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if has_png:
        plot(report, png)
    else:
        print("note: no PNG (matplotlib is in the eval extra: pip install 'turnscribe[eval]')", file=sys.stderr)
    print(format_table(report))
    print(f"wrote {out}" + (f" and {png}" if has_png else ""))
    return 0
