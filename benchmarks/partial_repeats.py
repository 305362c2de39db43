"""How often does a live partial decode the same tail text as the partial before it?

Word alignment (CTranslate2's ``align``: one decoder pass over the text plus DTW, 5-7 ms per
tiny.en partial) could be skipped for a partial whose words on the wire do not change: the
previous partial's word times would do. This counts how often that happens. Every file is
streamed through the sans-I/O session with the bundled engines at the shipped policy; each live
partial is compared with the one before it (same tail start, same text).

    python benchmarks/partial_repeats.py --data ../shared/data [--files 8] [--out results/partial_repeats.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

from turnscribe.core.session import TurnPolicy
from turnscribe.engines.registry import load_engines
from turnscribe.engines.whisper_asr import WhisperAsr
from turnscribe.runtime.driver import InlineSession, drive
from turnscribe.transcribe.source import open_source
from turnscribe.types.engine import AsrRequest, AsrResult
from turnscribe.wire.params import ListenParams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--files", type=int, default=8, help="files of wer/clean and turns/real, half each")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    half = max(1, args.files // 2)
    paths = (sorted((args.data / "wer" / "clean").glob("*.wav"))[:half]
             + sorted((args.data / "turns" / "real").glob("*.wav"))[:half])
    partials: list[tuple[float, str]] = []
    transcribe = WhisperAsr.transcribe

    def recording(self: WhisperAsr, batch: Sequence[AsrRequest]) -> list[AsrResult]:
        out = transcribe(self, batch)
        partials.extend((q.offset, " ".join(w.text for w in r.words))
                        for q, r in zip(batch, out, strict=True) if q.short_window and not q.final)
        return out

    WhisperAsr.transcribe = recording  # type: ignore[method-assign]
    engines = load_engines()
    total = repeats = 0
    for path in paths:
        partials.clear()
        source = open_source(str(path))
        session = InlineSession(ListenParams(encoding=source.encoding, sample_rate=source.sample_rate), engines,
                                policy=TurnPolicy())
        drive(session, source.frames, on_events=lambda _events: None)
        total += len(partials)
        repeats += sum(1 for a, b in itertools.pairwise(partials) if a == b and b[1])
        print(f"{path.name}: {len(partials)} partials")
    result = {"files": len(paths), "partials": total, "same_tail_text_as_previous": repeats,
              "share": repeats / total if total else None}
    print(json.dumps(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
