"""Command line: ``turnscribe serve`` (and the evaluation commands under ``turnscribe eval``)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from turnscribe import __version__
from turnscribe.config import REASONS_ENV, Settings, env_flag, load_api_keys
from turnscribe.engines.base import Engines

log = logging.getLogger("turnscribe")


def build_engines(engine: str, asr_model: str, *, inter_threads: int = 1) -> Engines:
    if engine == "fake":
        from turnscribe.engines.fake import fake_engines

        return fake_engines()
    from turnscribe.engines.registry import load_engines

    return load_engines(asr_model=asr_model, inter_threads=inter_threads)


async def _serve(settings: Settings) -> None:
    from turnscribe.server.app import AppState, drain, start_server, start_work

    state = AppState(settings=settings, executor=ThreadPoolExecutor(settings.workers,
                                                                      thread_name_prefix="session"))
    server = await start_server(state)
    log.info("turnscribe %s listening on ws://%s:%d/v2/listen", __version__, settings.host, settings.port)
    if not settings.auth_required:
        log.warning("no API keys configured (TURNSCRIBE_API_KEYS / --api-key-file): the server is OPEN to "
                    "anyone who can reach it")
    if settings.decision_reasons:
        log.info("decision reasons on: every EndOfTurn/EagerEndOfTurn carries turnscribe_reasons (debug)")
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    def request_stop() -> None:
        if not stop.done():
            stop.set_result(None)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, request_stop)
    try:
        # the scheduler's workers may run one model in parallel: let CTranslate2 run that many batches
        inter = settings.compute_threads if settings.scheduler == "batched" else 1
        engines = await loop.run_in_executor(state.executor, functools.partial(
            build_engines, settings.engine, settings.asr_model, inter_threads=inter))
        start_work(state, engines)
        log.info("models loaded: %s; %s scheduler; at most %s streams; ready", engines.names,
                 settings.scheduler, settings.max_streams or "unlimited")
    except Exception as exc:  # keep serving /healthz and a failing /readyz so the cause is visible
        state.load_error = f"{type(exc).__name__}: {exc}"
        log.exception("loading the models failed")
    await stop
    log.info("shutting down: draining %d open stream(s)", state.streams)
    await drain(state)
    if state.work is not None:
        state.work.close()
    server.close()
    await server.wait_closed()
    state.executor.shutdown(wait=False, cancel_futures=True)


_DEFAULTS = Settings()


def _add_serve(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the Flux-compatible WebSocket server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--api-key-file", help="file with one accepted API key per line (also TURNSCRIBE_API_KEYS)")
    p.add_argument("--idle-timeout", type=float, default=60.0, help="seconds without input before closing")
    p.add_argument("--engine", choices=("real", "fake"), default="real",
                   help="real: bundled models; fake: scripted engines for protocol testing")
    p.add_argument("--asr-model", default="tiny.en+base",
                   help="speech model: tiny.en+base (default: partials tiny.en, finals base), base, tiny.en")
    p.add_argument("--workers", type=int, default=8, help="threads that run stream processing")
    p.add_argument("--scheduler", choices=("batched", "inline"), default="batched",
                   help="batched: one set of models shared through the batching scheduler (default); "
                        "inline: each session calls the models itself (the baseline for bench load)")
    p.add_argument("--max-streams", type=int, default=_DEFAULTS.max_streams,
                   help="concurrent streams admitted; more are refused with HTTP 503 (0 = no limit)")
    p.add_argument("--max-lag", type=float, default=_DEFAULTS.max_lag_s,
                   help="seconds a stream may fall behind real time before it is closed with an Error")
    p.add_argument("--compute-threads", type=int, default=_DEFAULTS.compute_threads,
                   help="scheduler threads that run the models (one per core)")
    p.add_argument("--decision-reasons", action="store_true",
                   help="debug: every EndOfTurn/EagerEndOfTurn carries turnscribe_reasons, the inputs behind "
                        f"its confidence, as if each stream asked turnscribe_reasons=true (also {REASONS_ENV}=1)")
    p.add_argument("--log-level", default="INFO")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="turnscribe", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    try:
        from turnscribe.eval.cli import add_eval_commands
    except ImportError:  # evaluation tools are optional
        pass
    else:
        add_eval_commands(sub)
    try:
        from turnscribe.bench.cli import add_bench_commands
    except ImportError:  # benchmark tools are optional
        add_bench_commands = None  # type: ignore[assignment]
    if add_bench_commands is not None:
        add_bench_commands(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "INFO").upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        try:
            keys = load_api_keys(key_file=args.api_key_file)
        except OSError as exc:
            parser.error(f"cannot read the API key file: {exc}")
        try:
            reasons = args.decision_reasons or env_flag(REASONS_ENV)
        except ValueError as exc:
            parser.error(str(exc))
        settings = Settings(host=args.host, port=args.port, api_keys=keys, idle_timeout_s=args.idle_timeout,
                            engine=args.engine, asr_model=args.asr_model, workers=args.workers,
                            scheduler=args.scheduler, max_streams=args.max_streams, max_lag_s=args.max_lag,
                            compute_threads=args.compute_threads, decision_reasons=reasons)
        asyncio.run(_serve(settings))
        return 0
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
