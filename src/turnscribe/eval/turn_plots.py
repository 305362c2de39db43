"""Plots for ``turnscribe eval turns``: one figure per clip, and the threshold sweep trade-off.

Matplotlib's Agg backend (no display); every figure is closed after saving.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox

from turnscribe.client.wav import read_pcm16_wav

EVENT_STYLE = {  # event → (colour, line style, short label)
    "StartOfTurn": ("tab:green", "-", "Start"),
    "EagerEndOfTurn": ("tab:orange", "--", "Eager"),
    "TurnResumed": ("tab:purple", ":", "Resumed"),
    "EndOfTurn": ("tab:red", "-", "EoT"),
}
TURN_COLOUR, PAUSE_COLOUR, CUT_COLOUR = "#cfe8cf", "#f6d6a8", "#f4a6a6"


def _envelope(path: Path, buckets: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, min, max) of the waveform in ``buckets`` bins (16-bit PCM WAV)."""
    pcm = read_pcm16_wav(path, mono=False)
    rate, x = pcm.sample_rate, pcm.mono_floats()
    n = max(1, len(x) // buckets)
    m = len(x) // n
    if m == 0:
        return np.zeros(1), np.zeros(1), np.zeros(1)
    b = x[:m * n].reshape(m, n)
    return (np.arange(m) * n + n / 2) / rate, b.min(axis=1), b.max(axis=1)


def _shade(ax: Any, clip: dict[str, Any], *, labels: bool) -> None:
    for t in clip["turns"]:
        ax.axvspan(t["start_s"], t["end_s"], color=TURN_COLOUR, alpha=0.6, lw=0, zorder=0)
        ax.axvline(t["end_s"], color="darkgreen", ls=":", lw=1, zorder=1)  # labelled end (latency origin)
        for p in t["pauses"]:
            ax.axvspan(p["start_s"], p["end_s"], color=CUT_COLOUR if p["cut"] else PAUSE_COLOUR, alpha=0.9,
                       lw=0, zorder=0.5)
            if labels:
                ax.text((p["start_s"] + p["end_s"]) / 2, 0.04, p["kind"].replace("_", " "),
                        transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize=7,
                        color="saddlebrown", rotation=90 if p["end_s"] - p["start_s"] < 0.6 else 0)


def _title(clip: dict[str, Any]) -> str:
    turns = clip["turns"]
    pauses = [p for t in turns for p in t["pauses"]]
    lat = [f"{t['latency_s']:.2f}" for t in turns if t["latency_s"] is not None]
    parts = [f"{clip['name']}  ({clip['kind']})", f"turns {len(turns)}"]
    if pauses:
        parts.append(f"cut pauses {sum(p['cut'] for p in pauses)}/{len(pauses)}")
    if turns:
        parts.append(f"missed ends {sum(not t['detected'] for t in turns)}")
        parts.append("latency " + (", ".join(lat) + " s" if lat else "-"))
    if clip["spurious_starts"]:
        parts.append(f"spurious starts {len(clip['spurious_starts'])}")
    return "  |  ".join(parts)


def plot_clip(wav: Path, clip: dict[str, Any], out: Path, *, eot_threshold: float,
              eager_threshold: float | None = None) -> Path:
    """Waveform + labels on top; end_of_turn_confidence, thresholds and events below."""
    events = clip["events"]
    t, lo, hi = _envelope(wav)
    dur = max(clip["duration_s"], float(t[-1]) if len(t) else 0.0)
    width = min(24.0, max(11.0, 0.75 * dur))
    fig, (ax_w, ax_c) = plt.subplots(2, 1, sharex=True, figsize=(width, 6.6),
                                     gridspec_kw={"height_ratios": [1.1, 1.5], "hspace": 0.08})
    # waveform
    _shade(ax_w, clip, labels=True)
    ax_w.fill_between(t, lo, hi, color="0.35", lw=0, zorder=2)
    peak = max(0.05, float(np.max(np.abs([lo.min(), hi.max()]))))
    ax_w.set_ylim(-peak * 1.05, peak * 2.1)  # headroom above the waveform for the words
    ax_w.set_yticks([])
    ax_w.set_ylabel("audio")
    # the words of each EndOfTurn at their start times, staggered on three rows
    row = 0
    for e in events:
        if e["event"] != "EndOfTurn":
            continue
        for word, ws, _we in e.get("words", []):
            ax_w.text(ws, peak * (1.22 + 0.3 * (row % 3)), word, fontsize=8, color="darkred",
                      ha="left", va="center", zorder=3, clip_on=True)
            row += 1
    ax_w.set_title(_title(clip), fontsize=10, loc="left")

    # confidence
    _shade(ax_c, clip, labels=False)
    ts = [0.0] + [e["t"] for e in events]
    cs = [0.0] + [e["conf"] for e in events]
    ax_c.step(ts, cs, where="pre", color="tab:blue", lw=1.4, zorder=3)  # value describes the tick ending at t
    ax_c.plot(ts[1:], cs[1:], ".", color="tab:blue", ms=3, zorder=3)
    ax_c.axhline(eot_threshold, color="tab:red", ls="--", lw=1, zorder=2)
    ax_c.text(0.002, eot_threshold, f" eot {eot_threshold:g}", transform=ax_c.get_yaxis_transform(),
              va="bottom", fontsize=8, color="tab:red")
    if eager_threshold is not None:
        ax_c.axhline(eager_threshold, color="tab:orange", ls=":", lw=1, zorder=2)
        ax_c.text(0.002, eager_threshold, f" eager {eager_threshold:g}", transform=ax_c.get_yaxis_transform(),
                  va="bottom", fontsize=8, color="tab:orange")
    n = 0
    for e in events:
        style = EVENT_STYLE.get(e["event"])
        if style is None:
            continue
        colour, ls, short = style
        if e["event"] == "EndOfTurn" and e.get("trigger") == "timeout":
            ls = "-."
        for ax in (ax_w, ax_c):
            ax.axvline(e["t"], color=colour, ls=ls, lw=1.3, zorder=4)
        label = short + (f" ({e['trigger']})" if e.get("trigger") else "") + f" {e['conf']:.2f}"
        ax_c.text(e["t"], 1.0 - 0.075 * (n % 3), " " + label, fontsize=7.5, color=colour, va="top",
                  ha="left", transform=ax_c.get_xaxis_transform(), zorder=5,
                  bbox={"facecolor": "white", "alpha": 0.75, "lw": 0, "pad": 0.5})
        n += 1
    ax_c.set_ylim(-0.02, 1.22)
    ax_c.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax_c.set_ylabel("end_of_turn_confidence")
    ax_c.set_xlabel("audio time (s)")
    ax_c.set_xlim(0, dur)
    ax_c.grid(axis="y", alpha=0.3)
    handles = [Patch(color=TURN_COLOUR, label="labelled turn"),
               Line2D([], [], color="darkgreen", ls=":", label="turn end"), Patch(color=PAUSE_COLOUR, label="pause"),
               Patch(color=CUT_COLOUR, label="pause cut off")]
    handles += [Line2D([], [], color=c, ls=ls, label=name) for name, (c, ls, _s) in EVENT_STYLE.items()]
    ax_c.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5,
                fontsize=8, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_sweep(points: list[dict[str, Any]], out: Path) -> Path:
    """False cut-off rate against EndOfTurn latency (median and p95), one point per eot_threshold,
    with a table of the numbers underneath (points of close thresholds often overlap)."""
    fig, ax = plt.subplots(figsize=(8.5, 7.2))
    pts = [p for p in points if p["latency_median"] is not None and p["false_cutoff_rate"] is not None]
    offsets = [(6, 5), (6, -11), (-24, 5), (-24, -11), (6, 15), (-24, 15)]
    for key, marker, colour, name in (("latency_median", "o", "tab:blue", "median latency"),
                                      ("latency_p95", "s", "tab:red", "p95 latency")):
        sel = [p for p in pts if p[key] is not None]
        xs, ys = [1000 * p[key] for p in sel], [100 * p["false_cutoff_rate"] for p in sel]
        ax.plot(xs, ys, marker=marker, color=colour, label=name, lw=1, ms=7, alpha=0.85)
        for i, (p, x, y) in enumerate(zip(sel, xs, ys, strict=True)):
            ax.annotate(f"{p['eot_threshold']:g}", (x, y), textcoords="offset points",
                        xytext=offsets[i % len(offsets)], fontsize=8, color=colour)
    ax.axhline(8, color="0.5", ls=":", lw=1)
    ax.axvline(300, color="tab:blue", ls=":", lw=1)
    ax.axvline(900, color="tab:red", ls=":", lw=1)
    ax.text(0.99, 8, "target 8 %", transform=ax.get_yaxis_transform(), ha="right", va="bottom", fontsize=8)
    ax.text(300, 0.99, " median target", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="tab:blue")
    ax.text(900, 0.99, " p95 target", transform=ax.get_xaxis_transform(), va="top", fontsize=8, color="tab:red")
    ax.set_xlabel("EndOfTurn latency after the last word (ms, audio clock)")
    ax.set_ylabel("false cut-off rate (% of labelled pauses)")
    ax.set_title("eot_threshold sweep: false cut-offs vs. latency (labels = eot_threshold)")
    ax.set_ylim(0, 100)
    ax.set_xlim(0, max([1000.0] + [1000 * p["latency_p95"] * 1.1 for p in pts if p["latency_p95"] is not None]))
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=9)

    def fmt(v: Any, scale: float, unit: str) -> str:
        return "-" if v is None else f"{scale * v:.0f}{unit}" if scale == 1000 else f"{scale * v:.1f}{unit}"

    rows = [[f"{p['eot_threshold']:g}", fmt(p["false_cutoff_rate"], 100, " %"), fmt(p["latency_median"], 1000, " ms"),
             fmt(p["latency_p95"], 1000, " ms"), fmt(p.get("missed_rate"), 100, " %"), str(p.get("short_missed", "-")),
             str(p.get("late", "-")), str(p.get("spurious", "-"))] for p in points]
    height = 0.055 * (len(rows) + 1)
    table = ax.table(cellText=rows, colLabels=["eot_threshold", "false cut-off", "median", "p95", "missed",
                                               "short missed", "late", "spurious"],
                     loc="bottom", bbox=Bbox.from_bounds(0.0, -0.16 - height, 1.0, height))
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out
