"""``turnscribe eval wer|turns`` — the evaluation commands (each lives in its own module)."""

from __future__ import annotations

import argparse


def add_eval_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", help="evaluate accuracy and turn-taking on a data folder")
    ev = p.add_subparsers(dest="eval_command", required=True)
    try:
        from turnscribe.eval import wer
    except ImportError:
        wer = None  # type: ignore[assignment]
    if wer is not None:
        wer.add_command(ev)
    try:
        from turnscribe.eval import turn_events
    except ImportError:
        turn_events = None  # type: ignore[assignment]
    if turn_events is not None:
        turn_events.add_command(ev)
    from turnscribe.eval import eotbench, keyterm_eval

    eotbench.add_command(ev)
    keyterm_eval.add_command(ev)
