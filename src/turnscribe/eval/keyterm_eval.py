"""``turnscribe eval keyterms`` — does the ``keyterm`` parameter raise recall of rare words?

Test set, built from a data folder's ``manifest.tsv``: for every English row, its *rare terms*
are the words of its original transcript that are uncommon in English (``wordfreq`` Zipf
frequency below ``--zipf`` but known to it, at least 4 letters, no digits). Rows without one are skipped.
Each row is streamed through the real Session twice: without keyterms, and with a keyterm list
of its own rare terms plus ``--distractors`` rare terms of other rows (a realistic list where
most terms are not said). Reported: term recall (a term counts when its word appears in the
final transcript), WER both ways, and distractor terms wrongly inserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from pathlib import Path
from typing import Any

Rec = dict[str, Any]
EN_SETS = ("wer_clean", "wer_noisy_snr10", "telephony_mulaw8k")
# misspellings in the Asterisk prompt scripts that the references inherit (the speaker says the
# right word): never a keyterm
SCRIPT_TYPOS = frozenset({"witheld", "represenatives", "un-indentified"})
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")


def rare_terms(text: str, zipf_max: float) -> list[str]:
    from wordfreq import zipf_frequency

    out: list[str] = []
    for w in _WORD.findall(text):
        z = zipf_frequency(w.lower(), "en")
        # zipf 0 = unknown to wordfreq: in these transcripts, typos of the prompt scripts
        # ("witheld", "represenatives"), not what was said
        if (len(w) >= 4 and 0 < z < zipf_max and w.lower() not in SCRIPT_TYPOS
                and w.lower() not in (t.lower() for t in out)):
            out.append(w)
    return out


def term_hits(terms: list[str], hypothesis: str) -> int:
    said = {w.lower().strip("'") for w in _WORD.findall(hypothesis)}
    return sum(t.lower() in said for t in terms)


def build_set(data: Path, sets: tuple[str, ...], zipf_max: float, limit: int | None) -> list[Rec]:
    rows = []
    with open(data / "manifest.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["set"] in sets:
                terms = rare_terms(row["original_text"], zipf_max)
                if terms:
                    rows.append({"path": row["path"], "set": row["set"], "reference": row["reference_text"],
                                 "sample_rate": int(row["sample_rate"]), "terms": terms})
    return rows[:limit] if limit else rows


def run(args: argparse.Namespace) -> int:
    from turnscribe.engines.registry import load_engines
    from turnscribe.eval.replay import replay_file
    from turnscribe.eval.wer import score
    from turnscribe.wire.params import ListenParams

    data = Path(args.data)
    rows = build_set(data, tuple(args.sets.split(",")), args.zipf, args.limit)
    pool = sorted({t for r in rows for t in r["terms"]})
    rng = random.Random(0)
    engines = load_engines()
    totals = {"terms": 0, "hits_without": 0, "hits_with": 0, "distractors": 0, "distractor_hits": 0,
              "errors_without": 0, "errors_with": 0, "ref_words": 0}
    per_file = []
    t0 = time.time()
    for n, row in enumerate(rows, 1):
        others = [t for t in pool if t.lower() not in {x.lower() for x in row["terms"]}]
        distractors = rng.sample(others, min(args.distractors, len(others)))
        keyterms = row["terms"] + distractors
        rng.shuffle(keyterms)
        path = data / row["path"]
        hyp_off = replay_file(path, engines, raw_rate=row["sample_rate"]).final_text()
        hyp_on = replay_file(path, engines, params=ListenParams(keyterms=tuple(keyterms)),
                             raw_rate=row["sample_rate"]).final_text()
        s_off, s_on = score(row["reference"], hyp_off), score(row["reference"], hyp_on)
        e_off, e_on, nref = s_off.errors, s_on.errors, s_off.ref_words
        rec = {**row, "keyterms": keyterms, "without": hyp_off, "with": hyp_on,
               "hits_without": term_hits(row["terms"], hyp_off), "hits_with": term_hits(row["terms"], hyp_on),
               "distractor_hits": term_hits(distractors, hyp_on) - term_hits(distractors, hyp_off)}
        per_file.append(rec)
        totals["terms"] += len(row["terms"])
        totals["hits_without"] += rec["hits_without"]
        totals["hits_with"] += rec["hits_with"]
        totals["distractors"] += len(distractors)
        totals["distractor_hits"] += max(rec["distractor_hits"], 0)
        totals["errors_without"] += e_off
        totals["errors_with"] += e_on
        totals["ref_words"] += nref
        print(f"[{n}/{len(rows)}] {row['path']}: terms {row['terms']} hits {rec['hits_without']} -> "
              f"{rec['hits_with']}", file=sys.stderr)
    summary = {
        "files": len(rows), "terms": totals["terms"],
        "recall_without": totals["hits_without"] / max(totals["terms"], 1),
        "recall_with": totals["hits_with"] / max(totals["terms"], 1),
        "wer_without": totals["errors_without"] / max(totals["ref_words"], 1),
        "wer_with": totals["errors_with"] / max(totals["ref_words"], 1),
        "distractors": totals["distractors"], "distractors_inserted": totals["distractor_hits"],
    }
    doc = {"command": " ".join(sys.argv), "date": time.strftime("%Y-%m-%d %H:%M"), "zipf_max": args.zipf,
           "sets": args.sets, "summary": summary, "elapsed_s": round(time.time() - t0, 1), "files": per_file}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(f"keyterm recall: {summary['recall_without']:.1%} without -> {summary['recall_with']:.1%} with "
          f"({summary['terms']} terms in {summary['files']} files); WER {summary['wer_without']:.2%} -> "
          f"{summary['wer_with']:.2%}; distractors inserted {summary['distractors_inserted']}/"
          f"{summary['distractors']}; wrote {out}")
    return 0


def add_command(ev: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = ev.add_parser("keyterms", help="keyterm recall with vs. without keyterms")
    p.add_argument("--data", required=True)
    p.add_argument("--sets", default=",".join(EN_SETS))
    p.add_argument("--zipf", type=float, default=3.5, help="rare = wordfreq Zipf frequency below this")
    p.add_argument("--distractors", type=int, default=10)
    p.add_argument("--limit", type=int)
    p.add_argument("--out", default="results/keyterms.json")
    p.set_defaults(func=run)
