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
        from turnscribe.eval import turns
    except ImportError:
        turns = None  # type: ignore[assignment]
    if turns is not None:
        turns.add_command(ev)
    from turnscribe.eval import eotbench, keyterms

    eotbench.add_command(ev)
    keyterms.add_command(ev)
