"""``turnscribe transcribe FILE...``: run files through turnscribe without writing a client.

Locally the files go through the server's own ``Session`` and engines (no server needed), as fast
as the CPU allows or at real time (``--realtime``); with ``--url`` they are streamed to a running
server instead. Every Flux query parameter is a flag; the output is the server's messages
(``jsonl``) or the turns as text, SRT or WebVTT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from turnscribe.client.url import listen_url
from turnscribe.errors import BadRequest
from turnscribe.transcribe.formats import EXTENSIONS, FORMATS, TurnCollector, write_formatted
from turnscribe.transcribe.runner import Outcome, run_local, run_remote
from turnscribe.transcribe.source import STREAM_ENCODINGS, AudioSource, SourceError, open_source
from turnscribe.types.engine import Engines
from turnscribe.wire.params import MODELS, REDACT_VALUES, SAMPLE_RATES, ListenParams, parse_listen_params

__all__ = ["add_transcribe_command"]

KEY_ENVS = ("TURNSCRIBE_API_KEY", "DEEPGRAM_API_KEY")


def add_transcribe_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("transcribe", help="run audio files through turnscribe (no server needed)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE",
                   help="audio or video files (anything PyAV opens; WAV/Ogg/WebM are sent as they are), "
                        "or - for standard input (raw audio needs --encoding and --sample-rate)")
    out = p.add_argument_group("output")
    out.add_argument("--format", "-f", choices=FORMATS, default="text",
                     help="jsonl: every server message, one per line; text: one line per turn; "
                          "srt / vtt: one cue per turn (default text)")
    out.add_argument("--output", "-o", metavar="PATH", help="write here instead of standard output (one FILE)")
    out.add_argument("--output-dir", metavar="DIR", help="write DIR/<file stem>.<format> for each FILE")
    out.add_argument("--no-progress", action="store_true",
                     help="no progress bar (it is shown only when standard error is a terminal)")
    run = p.add_argument_group("how")
    run.add_argument("--url", metavar="ws://HOST:PORT",
                     help="stream to a running server instead of transcribing in this process")
    run.add_argument("--api-key", help=f"key for --url (default: ${KEY_ENVS[0]} or ${KEY_ENVS[1]})")
    run.add_argument("--realtime", action="store_true", help="send the audio at real time, as a live caller")
    run.add_argument("--log-level", default="WARNING", help="server-side log lines on standard error")
    run.add_argument("--engine", choices=("real", "fake"), default="real",
                     help="real: the bundled models; fake: scripted engines (protocol testing)")
    run.add_argument("--asr-model", default="tiny.en+base", help="as for turnscribe serve")
    run.add_argument("--asr-model-dir", action="append", metavar="[ROLE=]PATH", help="as for turnscribe serve")
    run.add_argument("--device", choices=("cpu", "cuda"), default=None, help="as for turnscribe serve")
    raw = p.add_argument_group("raw audio")
    raw.add_argument("--encoding", choices=STREAM_ENCODINGS, help="headerless audio: its encoding")
    raw.add_argument("--sample-rate", type=int, choices=SAMPLE_RATES, help="headerless audio: its sample rate")
    flux = p.add_argument_group("Flux query parameters (flux-protocol.md §2.2)")
    flux.add_argument("--model", choices=MODELS, default="flux-general-en")
    flux.add_argument("--eot-threshold", type=float)
    flux.add_argument("--eager-eot-threshold", type=float)
    flux.add_argument("--eot-timeout-ms", type=int)
    flux.add_argument("--keyterm", action="append", default=[], help="a term to favour (repeatable)")
    flux.add_argument("--language-hint", action="append", default=[],
                      help="with --model flux-general-multi (repeatable)")
    flux.add_argument("--numerals", action="store_true", help="numbers as digits")
    flux.add_argument("--profanity-filter", action="store_true")
    flux.add_argument("--redact", action="append", default=[], choices=REDACT_VALUES)
    flux.add_argument("--tag", action="append", default=[], help="usage tag (repeatable)")
    flux.add_argument("--mip-opt-out", action="store_true")
    flux.add_argument("--redact-usage", action="store_true")
    flux.add_argument("--decision-reasons", action="store_true",
                      help="ends carry turnscribe_reasons (turnscribe_reasons=true)")
    p.set_defaults(func=_main)


def query_pairs(args: argparse.Namespace, source: AudioSource) -> list[tuple[str, str]]:
    """The handshake query a client would send for these flags and this source."""
    pairs: list[tuple[str, str]] = [("model", args.model)]
    if source.encoding is not None:
        pairs += [("encoding", source.encoding), ("sample_rate", str(source.sample_rate))]
    for name in ("eot_threshold", "eager_eot_threshold", "eot_timeout_ms"):
        if (value := getattr(args, name)) is not None:
            pairs.append((name, str(value)))
    for name, flag in (("numerals", "numerals"), ("profanity_filter", "profanity_filter"),
                       ("mip_opt_out", "mip_opt_out"), ("redact_usage", "redact_usage"),
                       ("turnscribe_reasons", "decision_reasons")):
        if getattr(args, flag):
            pairs.append((name, "true"))
    for name, values in (("keyterm", args.keyterm), ("language_hint", args.language_hint),
                         ("redact", args.redact), ("tag", args.tag)):
        pairs += [(name, v) for v in values]
    return pairs


def _main(args: argparse.Namespace) -> int:
    try:
        return _transcribe_all(args)
    except BrokenPipeError:  # `... | head`: the reader has all it wants
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _transcribe_all(args: argparse.Namespace) -> int:
    if args.output and len(args.files) > 1:
        return _usage("--output takes one FILE; use --output-dir for several")
    if args.files.count("-") > 1:
        return _usage("standard input can be read once")
    engines: Engines | None = None
    failed = 0
    for name in args.files:
        try:
            source = open_source(name, stdin=sys.stdin.buffer, encoding=args.encoding,
                                 sample_rate=args.sample_rate)
        except SourceError as exc:
            _say(str(exc))
            failed += 1
            continue
        pairs = query_pairs(args, source)
        try:
            params = parse_listen_params(pairs)
        except BadRequest as exc:
            return _usage(str(exc))
        if args.url is None and engines is None:
            engines = _load_engines(args)
        with _destination(args, name) as out, _progress(args, source) as progress:
            outcome = _run_one(args, source, pairs, params, engines, out, progress)
        if outcome.error is not None:
            _say(f"{source.name}: {outcome.error}")
            failed += 1
    return 1 if failed else 0


def _run_one(args: argparse.Namespace, source: AudioSource, pairs: list[tuple[str, str]], params: ListenParams,
             engines: Engines | None, out: TextIO, progress: Callable[[float], None] | None) -> Outcome:
    turns = TurnCollector()

    def on_message(line: str) -> None:
        turns.add(line)
        if args.format == "jsonl":
            out.write(line + "\n")
            out.flush()

    try:
        if args.url is not None:
            url = listen_url(args.url, pairs)
            key = args.api_key or next((os.environ[k] for k in KEY_ENVS if os.environ.get(k)), None)
            outcome = asyncio.run(run_remote(url, source, on_message=on_message, api_key=key,
                                             on_progress=progress, realtime=args.realtime))
        else:
            assert engines is not None
            outcome = run_local(source, params, engines, on_message=on_message, on_progress=progress,
                                realtime=args.realtime)
    except (SourceError, ValueError) as exc:
        outcome = Outcome(error=str(exc))
    if args.format != "jsonl":
        write_formatted(args.format, turns.finish(), out)
    return outcome


def _load_engines(args: argparse.Namespace) -> Engines:
    from turnscribe.engines.selection import build_engines, model_options

    dirs, device = model_options(args, os.environ)
    return build_engines(args.engine, args.asr_model, model_dirs=dirs, device=device)


@contextlib.contextmanager
def _destination(args: argparse.Namespace, name: str) -> Iterator[TextIO]:
    if args.output is None and args.output_dir is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    if args.output is not None:
        path = Path(args.output)
    else:
        stem = "stdin" if name == "-" else Path(name).stem
        path = Path(args.output_dir) / f"{stem}.{EXTENSIONS[args.format]}"
        path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        yield f


@contextlib.contextmanager
def _progress(args: argparse.Namespace, source: AudioSource) -> Iterator[Callable[[float], None] | None]:
    """A tqdm bar over audio seconds on standard error, when that is a terminal."""
    if args.no_progress or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    total = round(source.duration_s, 1) if source.duration_s else None
    try:  # a terminal that reports no size (a bare pty) would get a bar of width 0: nothing at all
        columns = os.get_terminal_size(sys.stderr.fileno()).columns or 80
    except OSError:
        columns = 80
    with tqdm(total=total, unit="s", unit_scale=False, desc=Path(source.name).name, file=sys.stderr, ncols=columns,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total_fmt} s audio [{elapsed}<{remaining}]"
              if total else None, leave=False) as bar:
        def advance(seconds: float) -> None:
            bar.update(seconds)

        yield advance


def _say(message: str) -> None:
    print(f"turnscribe transcribe: {message}", file=sys.stderr)


def _usage(message: str) -> int:
    _say(f"error: {message}")
    return 2
