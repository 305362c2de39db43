"""Command line: ``turnscribe serve``, ``turnscribe transcribe`` (and ``turnscribe eval`` / ``bench``)."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from turnscribe import __version__
from turnscribe.engines.selection import build_engines, model_options
from turnscribe.server.config import REASONS_ENV, Settings, env_flag, load_api_keys
from turnscribe.server.logs import configure_logging

log = logging.getLogger("turnscribe")


async def _serve(settings: Settings) -> None:
    from turnscribe.server.app import drain, start_server, start_work
    from turnscribe.server.memory import jemalloc_loaded, limit_malloc_arenas
    from turnscribe.server.state import AppState

    capped = limit_malloc_arenas()  # before any worker thread allocates
    log.info("memory allocator: %s", "jemalloc" if jemalloc_loaded() else
             "glibc malloc" + (" (arenas capped)" if capped else ""))
    state = AppState(settings=settings, executor=ThreadPoolExecutor(settings.workers,
                                                                      thread_name_prefix="session"))
    server = await start_server(state)
    scheme = "wss" if settings.tls_cert else "ws"
    log.info("turnscribe %s listening on %s://%s:%d/v2/listen", __version__, scheme, settings.host, settings.port)
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
            build_engines, settings.engine, settings.asr_model, inter_threads=inter,
            model_dirs=settings.asr_model_dirs, device=settings.device))
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
    p.add_argument("--asr-model-dir", action="append", metavar="[ROLE=]PATH",
                   help="your own CTranslate2 Whisper directory (model.bin, config.json, tokenizer.json; "
                        "80 or 128 mel bins: small.en, distil-large-v3, large-v3-turbo ...), checked at "
                        "start-up, never downloaded. PATH alone: it decodes partials and finals; "
                        "partial=PATH or final=PATH (repeatable, once per role): that role only, the other "
                        "keeps its --asr-model model; e.g. --asr-model-dir final=/models/small.en. "
                        "Also TURNSCRIBE_ASR_MODEL_DIR (specs separated by commas)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None,
                   help="where the Whisper models run (default cpu, int8; cuda: int8_float16 or float16, "
                        "needs a CUDA GPU visible to CTranslate2). Also TURNSCRIBE_DEVICE")
    p.add_argument("--workers", type=int, default=8, help="threads that run stream processing")
    p.add_argument("--scheduler", choices=("batched", "inline"), default="batched",
                   help="batched: one set of models shared through the batching scheduler (default); "
                        "inline: each session calls the models itself (the baseline for bench load)")
    p.add_argument("--max-streams", type=int, default=_DEFAULTS.max_streams,
                   help="the compute budget streams are admitted against, in flux-general-en streams; a stream "
                        "that would go past it is refused with HTTP 503 (0 = no limit)")
    p.add_argument("--multi-stream-weight", type=float, default=_DEFAULTS.multi_stream_weight,
                   help="what one flux-general-multi stream weighs against --max-streams (default %(default)g)")
    p.add_argument("--max-lag", type=float, default=_DEFAULTS.max_lag_s,
                   help="seconds a stream may fall behind real time before it is closed with an Error")
    p.add_argument("--ping-interval", type=float, default=_DEFAULTS.ping_interval_s,
                   help="seconds between WebSocket pings; a peer that answers none for as long is closed")
    p.add_argument("--engine-timeout", type=float, default=_DEFAULTS.engine_timeout_s,
                   help="seconds an engine call may run before its streams fail (Error + 1011), its "
                        "worker is replaced and /readyz reports degraded until it returns (0: never)")
    p.add_argument("--unhealthy-after-stall", type=float, default=_DEFAULTS.unhealthy_after_stall_s,
                   help="seconds an engine call given up on may go on running before /healthz answers "
                        "503, so that a liveness probe restarts the process (0: never)")
    p.add_argument("--drain-timeout", type=float, default=_DEFAULTS.drain_timeout_s,
                   help="on SIGTERM, seconds live streams are still served while waiting for a turn "
                        "boundary before they are flushed and closed (1001)")
    p.add_argument("--tls-cert", help="PEM certificate (chain) file: serve wss:// instead of ws://")
    p.add_argument("--tls-key", help="PEM private key for --tls-cert (default: inside the certificate file)")
    p.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                   help="a browser page (scheme://host[:port]) allowed to open streams (repeatable); "
                        "when given, other browser Origins get 403; clients without Origin are unaffected")
    p.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                   help="change one client limit (repeatable), e.g. max_keyterm_chars=200; names and "
                        "defaults: wire/limits.py and the README")
    p.add_argument("--compute-threads", type=int, default=_DEFAULTS.compute_threads,
                   help="scheduler threads that run the models (one per core)")
    p.add_argument("--decision-reasons", action="store_true",
                   help="debug: every EndOfTurn/EagerEndOfTurn carries turnscribe_reasons, the inputs behind "
                        f"its confidence, as if each stream asked turnscribe_reasons=true (also {REASONS_ENV}=1)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-format", choices=("text", "json"), default="text",
                   help="json: one JSON object per line, with the stream's request_id on its lines")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="turnscribe", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_serve(sub)
    from turnscribe.transcribe.command import add_transcribe_command

    add_transcribe_command(sub)
    try:
        from turnscribe.eval.commands import add_eval_commands
    except ImportError:  # evaluation tools are optional
        pass
    else:
        add_eval_commands(sub)
    try:
        from turnscribe.bench.commands import add_bench_commands
    except ImportError:  # benchmark tools are optional
        add_bench_commands = None  # type: ignore[assignment]
    if add_bench_commands is not None:
        add_bench_commands(sub)
    args = parser.parse_args(argv)
    configure_logging(getattr(args, "log_level", "INFO"), getattr(args, "log_format", "text"))
    if args.command == "serve":
        if argv is None:  # the real command line (not a test calling main): run on jemalloc if present
            from turnscribe.server.memory import reexec_with_jemalloc

            reexec_with_jemalloc(sys.argv[1:])
        try:
            keys = load_api_keys(key_file=args.api_key_file)
        except OSError as exc:
            parser.error(f"cannot read the API key file: {exc}")
        try:
            reasons = args.decision_reasons or env_flag(REASONS_ENV)
        except ValueError as exc:
            parser.error(str(exc))
        try:
            limits = _DEFAULTS.limits.with_settings(args.limit)
        except ValueError as exc:
            parser.error(str(exc))
        try:
            model_dirs, device = model_options(args, os.environ)
        except (ValueError, RuntimeError) as exc:  # ModelDirError, DeviceError: say why, exit 2
            parser.error(str(exc))
        settings = Settings(host=args.host, port=args.port, api_keys=keys, idle_timeout_s=args.idle_timeout,
                            engine=args.engine, asr_model=args.asr_model, asr_model_dirs=model_dirs,
                            device=device, workers=args.workers,
                            scheduler=args.scheduler, max_streams=args.max_streams,
                            multi_stream_weight=args.multi_stream_weight, max_lag_s=args.max_lag,
                            compute_threads=args.compute_threads, decision_reasons=reasons, limits=limits,
                            drain_timeout_s=args.drain_timeout, engine_timeout_s=args.engine_timeout,
                            unhealthy_after_stall_s=args.unhealthy_after_stall,
                            ping_interval_s=args.ping_interval,
                            allowed_origins=frozenset(o.rstrip("/") for o in args.allowed_origin),
                            tls_cert=Path(args.tls_cert) if args.tls_cert else None,
                            tls_key=Path(args.tls_key) if args.tls_key else None)
        if settings.tls_key and not settings.tls_cert:
            parser.error("--tls-key needs --tls-cert")
        try:
            from turnscribe.server.app import tls_context

            tls_context(settings)  # a bad certificate or key stops here, not after the models load
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            parser.error(f"cannot use the TLS certificate: {exc}")
        asyncio.run(_serve(settings))
        return 0
    if args.command == "eval" and (missing := _missing_eval_modules()):
        parser.error(f"turnscribe eval needs the eval extra ({', '.join(missing)} not installed): "
                     "pip install 'turnscribe[eval]' (scripts/install eval)")
    return int(args.func(args))


def _missing_eval_modules() -> list[str]:
    import importlib.util

    eval_modules = ("jiwer", "whisper_normalizer", "matplotlib", "wordfreq")
    return [m for m in eval_modules if importlib.util.find_spec(m) is None]


if __name__ == "__main__":
    sys.exit(main())
