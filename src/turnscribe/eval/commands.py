"""``turnscribe eval wer|turns|eot|keyterms`` — the evaluation commands (each lives in its own module)."""

from __future__ import annotations

import argparse


def add_eval_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("eval", help="evaluate accuracy and turn-taking on a data folder")
    ev = p.add_subparsers(dest="eval_command", required=True)
    # each module imports its heavy libraries (jiwer, matplotlib, the engines) only when it runs
    from turnscribe.eval import eotbench, keyterm_eval, turn_events, wer

    for command in (wer, turn_events, eotbench, keyterm_eval):
        command.add_command(ev)
