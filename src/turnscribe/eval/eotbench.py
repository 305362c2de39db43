"""``turnscribe eval eot`` — turn-end detection measured the eot-bench way.

Every silence of a labelled clip is a *span*: a **hold** (a pause inside a turn: ending the turn
there is a false cut-off) or an **eot** (the silence after a turn: ending it there is right, and
how soon is the latency). As in LiveKit's eot-bench, only holds of 0.2-5 s are scored.

1. *Record* (slow, once): each clip is replayed through the real Session and engines with model
   ends off (every turn is ended by hand ``ORACLE_END_S`` after its labelled end, so each turn
   starts fresh). At every 80 ms decision frame of a pause the session's end-of-turn cues are
   traced. Beside them the baselines' inputs are recorded on the same audio: the VAD's silence at
   every frame, and Smart Turn v3.2 asked pipecat's way (on the turn's audio from 0.5 s before its
   onset) at every frame of the first ``SMART_TURN_MAX_S`` of each span.
2. *Sweep* (fast, from the recording): a policy is (threshold, minimum silence before acting,
   timeout). For each policy: false cut-off rate over the scored holds and mean latency over the
   eots (an eot the policy never ends within its span counts as the span's length). Three systems
   go through the same sweep: **turnscribe** (its fused confidence), **silence only** (the VAD's
   silence reaching the minimum), and **Smart Turn alone** (asked once when the VAD's silence
   reaches the minimum; "complete" at or above the threshold ends the turn there, otherwise the
   timeout does).
3. *Out of sample*: turnscribe's parameters are set by hand (``eot.EotModel``), so they are
   evaluated cross-validated two ways: leaving out one speaker/source group at a time
   (``group_of``), and across the two labelled sets. In each fold the three that shape the
   decisions most are re-chosen from ``CV_GRID`` on the other folds (``selection_score``) and
   the held-out fold is scored with that choice; the shipped values are reported beside it.

Headline figures per system: best false cut-off rate at a mean-latency budget of 300 / 600 ms,
best mean latency at a cut-off budget of 5 % / 10 %, the Pareto frontier, and the default
settings' point (with eager mode's precision and lead time); a plot per clip.

4. *Wall clock* (``--url``): every clip, silence and noise clips included, is streamed at real
   time through a running server (``live.py``); the EndOfTurns are scored as they arrive, at the
   server's settings.

The steps live in ``eot_spans`` (labels as holds and eots), ``eot_record`` (1), ``eot_sweep`` (2),
``eot_crossval`` (3), ``eot_live`` (4) and ``eot_report`` (table and plots); this module is the
command.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from turnscribe.eval.eot_crossval import evaluate
from turnscribe.eval.eot_live import run_live
from turnscribe.eval.eot_record import record
from turnscribe.eval.eot_report import plot, plot_clips, summary
from turnscribe.eval.eot_spans import group_of, load_labels

__all__ = ["add_command", "run"]


def run(args: argparse.Namespace) -> int:
    data = Path(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.url:
        labels = load_labels(data, turnless=True)
        if args.groups:
            labels = [lab for lab in labels if group_of(lab) in args.groups.split(",")]
        if args.sets:
            labels = [lab for lab in labels if lab["set"] in args.sets.split(",")]
        return run_live(args, labels[: args.limit] if args.limit else labels, out)
    rec_path = out / "recording.json"
    if args.from_recording:
        clips = json.loads(Path(args.from_recording).read_text())
    else:
        from turnscribe.engines.registry import load_engines

        engines = load_engines()
        clips = record(data, load_labels(data), engines, log=lambda s: print(s, file=sys.stderr))
        rec_path.write_text(json.dumps(clips))
    doc = evaluate(clips)
    doc["clips"] = len(clips)
    (out / "eot.json").write_text(json.dumps(doc, indent=1))
    print(summary(doc))
    if not args.no_plots:
        plot(doc, out / "pareto.png")
        for s in doc["sets"]:
            plot(doc, out / f"pareto_{s}.png", turn_set=s)
        plot_clips(clips, out / "clips")
        print(f"wrote {out / 'eot.json'}, {out / 'pareto.png'} (pooled), a pareto_<set>.png per turn set "
              f"and a plot per clip in {out / 'clips'}")
    return 0


def add_command(ev: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = ev.add_parser("eot", help="turn-end detection the eot-bench way: sweeps, baselines, cross-validation")
    p.add_argument("--data", required=True, type=Path, help="data folder holding turns/ (and turns/real/)")
    p.add_argument("--out", default="results/eot", type=Path, help="output folder (default results/eot)")
    p.add_argument("--from-recording", default=None, help="reuse a recording.json instead of replaying")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--url", default=None,
                   help="ws://host:port/v2/listen of a running server: stream every clip at real time and "
                        "score the EndOfTurns as they arrive (wall clock) at the server's / these settings")
    p.add_argument("--streams", type=int, default=1, help="with --url: clips streamed at once (default 1)")
    p.add_argument("--groups", default="", help="with --url: only these speaker/source groups (comma-separated)")
    p.add_argument("--sets", default="", help="with --url: only these turn sets (comma-separated: callers,real,...)")
    p.add_argument("--limit", type=int, default=None, help="with --url: only the first N clips")
    p.add_argument("--api-key", default=None, help="with --url: sent as 'Authorization: Token KEY'")
    p.add_argument("--eot-threshold", type=float, default=None,
                   help="with --url: sent in the query (offline, the sweep covers the thresholds)")
    p.add_argument("--eager-eot-threshold", type=float, default=None, help="with --url: sent in the query")
    p.add_argument("--eot-timeout-ms", type=int, default=None, help="with --url: sent in the query")
    p.set_defaults(func=run)
