"""``turnscribe bench load|soak`` — the benchmark commands."""

from __future__ import annotations

import argparse


def _run_load(args: argparse.Namespace) -> int:
    from turnscribe.bench.load import run

    return run(args)


def add_bench_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("bench", help="benchmarks against a live server")
    bench = p.add_subparsers(dest="bench_command", required=True)
    lp = bench.add_parser(
        "load", help="load benchmark: N WebSocket clients streaming real audio at real time",
        description="Streams real audio at real time from N clients per step, measures TurnInfo lag, "
                    "errors and server CPU/RSS, compares the scheduler with the inline baseline, and "
                    "writes JSON + PNG.")
    lp.add_argument("--data", help="data folder with manifest.tsv (default: $TURNSCRIBE_SHARED/data, "
                                   "else ../shared/data)")
    lp.add_argument("--streams", help="comma-separated stream counts, one step each (default 1,4,8,16,24; "
                                      "with --find-max: the ladder to climb)")
    lp.add_argument("--duration", type=float, default=60.0, help="seconds of audio per stream (default 60)")
    lp.add_argument("--mix", default="continuous",
                    help="stream kinds: continuous (speech back to back), conversational (~50%% silence), "
                         "multi, or weights like continuous=0.5,conversational=0.5 (default continuous)")
    lp.add_argument("--multi-share", type=float, default=None,
                    help="fraction of streams that are multi (multi_es/multi_fr, model=flux-general-multi)")
    lp.add_argument("--scheduler", choices=("batched", "inline"), default=None,
                    help="mode of the server under test (default batched; with --url only a label)")
    lp.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                    help="also run every step against a --scheduler inline server (default on)")
    lp.add_argument("--compare-ref", metavar="REF",
                    help="the baseline is this git revision of turnscribe (e.g. a commit before a change): its "
                         "src/ is exported from this checkout's repository and served the same way, in place "
                         "of the inline baseline; the report gives the ratios")
    lp.add_argument("--side-by-side", action="store_true",
                    help="run each step on both servers at the same time (the box carries both: 2N streams), so "
                         "a CPU comparison is not skewed by the machine's speed drifting between runs; the lag "
                         "and SLO figures then describe the combined load")
    lp.add_argument("--find-max", action="store_true",
                    help="climb N until a mode fails the SLO twice in a row; report the largest passing N")
    lp.add_argument("--max-n", type=int, default=64, help="highest N --find-max tries (default 64)")
    lp.add_argument("--slo-update", type=float, default=0.3, help="Update lag p95 limit, s (default 0.3)")
    lp.add_argument("--slo-eot", type=float, default=0.15, help="EndOfTurn lag p95 limit, s (default 0.15)")
    lp.add_argument("--ramp", type=float, default=2.0, help="seconds over which clients start (default 2)")
    lp.add_argument("--warmup", type=float, default=5.0,
                    help="seconds at the start of each stream left out of the lag statistics (default 5)")
    lp.add_argument("--pause", type=float, default=1.0, help="seconds of rest between steps (default 1)")
    lp.add_argument("--close-timeout", type=float, default=60.0,
                    help="seconds to wait for the server to close after CloseStream (default 60)")
    lp.add_argument("--engine", choices=("real", "fake"), default="real",
                    help="engines of the spawned servers (fake: scripted, no models)")
    lp.add_argument("--asr-model", help="--asr-model for the spawned servers (default: the server's)")
    lp.add_argument("--server-args", default="",
                    help="extra flags for the spawned servers, e.g. \"--compute-threads 2 --max-lag 10\"")
    lp.add_argument("--ready-timeout", type=float, default=600.0,
                    help="seconds to wait for a server's /readyz (default 600)")
    lp.add_argument("--url", help="ws://host:port of an already-running server (no server is spawned, "
                                  "no baseline; CPU/RSS only with --pid)")
    lp.add_argument("--pid", type=int, help="with --url: the server's process id, for CPU/RSS samples")
    lp.add_argument("--api-key", help="with --url: key sent as 'Authorization: Token <key>'")
    lp.add_argument("--out", help="JSON path (default results/bench_load_<timestamp>.json; the PNG and "
                                  "server logs go beside it)")
    lp.set_defaults(func=_run_load)

    from turnscribe.bench.soak import add_soak_parser

    add_soak_parser(bench)
