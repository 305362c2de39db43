"""What the load bench streams: clips from the data folder's manifest, mixed into per-stream audio
by kind (continuous speech, conversational with pauses, multilingual), one ``StreamSpec`` each."""

from __future__ import annotations

import csv
import math
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from turnscribe.client.wav import read_pcm16_wav
from turnscribe.types.engine import SAMPLE_RATE

FRAME_S = 0.02
FRAME_BYTES = int(SAMPLE_RATE * FRAME_S) * 2  # 640 bytes of PCM16
EN_MODEL = "flux-general-en"
MULTI_MODEL = "flux-general-multi"
KINDS = ("continuous", "conversational", "multi")
ENGLISH_SETS = ("wer_clean",)
MULTI_SETS = ("multi_es", "multi_fr")


def default_data_dir() -> Path:
    """``$TURNSCRIBE_SHARED/data`` when set, else ``../shared/data`` relative to the CWD."""
    shared = os.environ.get("TURNSCRIBE_SHARED")
    return Path(shared) / "data" if shared else Path("..") / "shared" / "data"


def data_folder(arg: str | None) -> Path | None:
    """``--data`` (else the default) when it holds a manifest; None, said on stderr, when not."""
    data = Path(arg) if arg else default_data_dir()
    if not (data / "manifest.tsv").is_file():
        print(f"error: {data / 'manifest.tsv'} not found (use --data or TURNSCRIBE_SHARED)", file=sys.stderr)
        return None
    return data



def load_clips(data: Path, sets: Sequence[str]) -> list[bytes]:
    """PCM of every manifest row in ``sets``; for several sets, interleaved (a0, b0, a1, b1, ...)."""
    manifest = data / "manifest.tsv"
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    per_set: list[list[bytes]] = []
    for name in sets:
        per_set.append([read_pcm16_wav(data / r["path"], sample_rate=SAMPLE_RATE).data for r in rows if r.get("set") == name])
    out: list[bytes] = []
    for i in range(max((len(s) for s in per_set), default=0)):
        out += [s[i] for s in per_set if i < len(s)]
    return [c for c in out if c]


def parse_mix(spec: str, multi_share: float | None = None) -> dict[str, float]:
    """Stream kinds and their shares, summing to 1.

    ``spec`` is ``continuous``, ``conversational`` or weights such as
    ``continuous=0.5,conversational=0.5`` (``multi=...`` allowed too). ``multi_share``, when
    given, fixes the multi fraction; the other kinds share the rest in their given proportions.
    """
    weights: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown stream kind {name!r} (choose from {', '.join(KINDS)})")
        try:
            w = float(value) if sep else 1.0
        except ValueError:
            raise ValueError(f"bad weight in {part!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"bad weight in {part!r}")
        weights[name] = weights.get(name, 0.0) + w
    if multi_share is not None:
        if not 0.0 <= multi_share <= 1.0:
            raise ValueError("--multi-share must be between 0 and 1")
        weights.pop("multi", None)
        rest = sum(weights.values())
        if rest <= 0 and multi_share < 1.0:
            weights = {"continuous": 1.0}
            rest = 1.0
        weights = {k: (1.0 - multi_share) * w / rest for k, w in weights.items()} if rest > 0 else {}
        if multi_share > 0:
            weights["multi"] = multi_share
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the mix has no stream kind with a positive weight")
    return {k: w / total for k, w in weights.items() if w > 0}


def assign_kinds(n: int, weights: Mapping[str, float]) -> list[str]:
    """Deterministic kinds for streams 0..n-1, spread evenly (smooth weighted round robin)."""
    order = [k for k in KINDS if weights.get(k, 0.0) > 0]
    counts = dict.fromkeys(order, 0)
    out: list[str] = []
    for i in range(n):
        kind = max(order, key=lambda k: (weights[k] * (i + 1) - counts[k], -order.index(k)))
        counts[kind] += 1
        out.append(kind)
    return out


def build_stream_audio(kind: str, clips: Sequence[bytes], offset: int, duration_s: float) -> bytes:
    """``duration_s`` of PCM (a whole number of 20 ms frames): clips back to back from
    ``clips[offset]`` on, cycling; ``conversational`` puts silence as long as each clip after it."""
    if not clips:
        raise ValueError(f"no audio for {kind!r} streams")
    need = max(1, round(duration_s / FRAME_S)) * FRAME_BYTES
    parts: list[bytes] = []
    have = 0
    i = offset % len(clips)
    while have < need:
        clip = clips[i]
        parts.append(clip)
        have += len(clip)
        if kind == "conversational":
            parts.append(bytes(len(clip)))
            have += len(clip)
        i = (i + 1) % len(clips)
    return b"".join(parts)[:need]


@dataclass(frozen=True)
class StreamSpec:
    index: int
    kind: str
    model: str
    audio: bytes

    @property
    def audio_s(self) -> float:
        return len(self.audio) / (2 * SAMPLE_RATE)


def build_streams(n: int, weights: Mapping[str, float], clips: Mapping[str, Sequence[bytes]],
                  duration_s: float) -> list[StreamSpec]:
    """N streams; each starts at a different offset in its clip list (spread over the list), so
    the streams are not in lockstep."""
    kinds = assign_kinds(n, weights)
    per_kind = Counter(kinds)
    seen: Counter[str] = Counter()
    out = []
    for i, kind in enumerate(kinds):
        pool = clips["multi" if kind == "multi" else "english"]
        j = seen[kind]
        seen[kind] += 1
        offset = (j * len(pool)) // per_kind[kind] if pool else 0
        out.append(StreamSpec(i, kind, MULTI_MODEL if kind == "multi" else EN_MODEL,
                              build_stream_audio(kind, pool, offset, duration_s)))
    return out

