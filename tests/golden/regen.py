"""Write the golden traces anew (``.venv/bin/python tests/golden/regen.py [NAME ...]``): only for a
change meant to change behaviour; say which traces changed, and why, in the commit."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: conftest, golden_cases

from conftest import shared_dir
from golden_cases import CASES, TRACES, run_case, trace_path

from turnscribe.engines.registry import load_engines


def main(names: list[str]) -> None:
    engines = load_engines()
    TRACES.mkdir(exist_ok=True)
    for case in CASES:
        if names and case.name not in names:
            continue
        lines = run_case(case, shared_dir(), engines)
        trace_path(case).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        print(f"{case.name}: {len(lines)} messages")


if __name__ == "__main__":
    main(sys.argv[1:])
