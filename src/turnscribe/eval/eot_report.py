"""The report of ``turnscribe eval eot``: the summary table, the Pareto plot, and a plot per clip."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from turnscribe.core.eot import EotModel
from turnscribe.eval.eot_record import smart_turn_frames
from turnscribe.eval.eot_spans import Rec, spans_from
from turnscribe.wire.params import Thresholds


def _fmt(h: Rec | None, key: str) -> str:
    if h is None:
        return "-"
    if key == "cutoff":
        return f"{100 * h['cutoff']:.1f}% ({h['mean_latency_s'] * 1000:.0f} ms)"
    return f"{h['mean_latency_s'] * 1000:.0f} ms ({100 * h['cutoff']:.1f}%)"


def table(entries: dict[str, Rec]) -> list[str]:
    """The headline table of ``{system: report}`` (each with its ``headline``), and the default
    settings' point of each system that has one."""
    head = ["system", "cut-off @300ms", "cut-off @600ms", "latency @5%", "latency @10%"]
    rows = [head]
    for name, e in entries.items():
        h = e["headline"]
        rows.append([name, _fmt(h["cutoff_at_300ms"], "cutoff"), _fmt(h["cutoff_at_600ms"], "cutoff"),
                     _fmt(h["latency_at_5pct"], "lat"), _fmt(h["latency_at_10pct"], "lat")])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for name, e in entries.items():
        if e.get("default_point"):
            d = e["default_point"]
            lines.append(f"{name} at the default settings: cut-off {100 * d['cutoff']:.1f}% "
                         f"({d['cut']}/{d['holds']} holds), mean latency {d['mean_latency_s'] * 1000:.0f} ms, "
                         f"{d['missed']} of {d['eots']} eots missed")
    return lines


def summary(doc: Rec) -> str:
    """Pooled over every turn set, then per set; the cross-validations left out, and why."""
    lines = [f"pooled ({', '.join(doc.get('sets', []))})", *table(doc["systems"])]
    for name, e in doc["systems"].items():
        if "default_point" in e:
            for e in entry_eager(doc, name):
                lines.append(f"  eager {e['eager_threshold']}: precision {100 * (e['precision'] or 0):.0f}% "
                             f"({e['eager_in_holds']} in holds), {e['eots_with_eager']}/{e['eots']} eots, "
                             f"lead mean {ms(e['lead_mean_s'])} / median {ms(e['lead_median_s'])}")
    for s in doc.get("sets", []):
        lines += ["", f"set {s}", *table({n: e["per_set"][s] for n, e in doc["systems"].items()})]
    lines += [f"({name} left out: {why})" for name, why in doc.get("cv_skipped", {}).items()]
    return "\n".join(lines)


def entry_eager(doc: Rec, name: str) -> list[Rec]:
    return list(doc["systems"][name].get("eager", []))


def plot(doc: Rec, path: Path, turn_set: str | None = None) -> None:
    """The Pareto frontier of every system, pooled or on one ``turn_set``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for name, system in doc["systems"].items():
        e = system if turn_set is None else system["per_set"][turn_set]
        f = e["frontier"]
        ax.step([p["mean_latency_s"] * 1000 for p in f], [100 * p["cutoff"] for p in f], where="post",
                label=name, marker=".")
        if e.get("default_point"):
            d = e["default_point"]
            ax.plot([d["mean_latency_s"] * 1000], [100 * d["cutoff"]], "k*", ms=10)
    ax.set_xlabel("mean EndOfTurn latency after the end of speech (ms, audio clock)")
    ax.set_ylabel("false cut-offs (% of holds 0.2-5 s)")
    where = "pooled" if turn_set is None else f"set {turn_set}"
    ax.set_title(f"Turn-end detection, {where}: Pareto frontier per system (* = default settings)", fontsize=10)
    ax.set_xlim(0, 1600)
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ms(x: float | None) -> str:
    return "-" if x is None else f"{1000 * x:.0f} ms"


def plot_clips(clips: Sequence[Rec], folder: Path, model: EotModel | None = None,
               threshold: float | None = None) -> None:
    """One PNG per clip: the fused confidence (shipped weights) and Smart Turn's answers over the
    clip's silences, holds shaded red and eots green, the EndOfTurn threshold drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from turnscribe.eval.cues import cues_from

    model = model or EotModel()
    threshold = Thresholds().eot_threshold if threshold is None else threshold
    folder.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        fig, ax = plt.subplots(figsize=(12, 3))
        for sp in spans_from(clip):
            ax.axvspan(sp.start, sp.end, color="tab:red" if sp.hold else "tab:green",
                       alpha=0.25 if sp.hold and sp.scored else 0.12, lw=0)
        pts = [(float(t), model.probability(cues_from(c))) for t, c in clip["trace"]]
        if pts:
            ax.plot(*zip(*pts, strict=True), ".", ms=3, color="tab:blue", label="turnscribe confidence")
        st = [tp for sp, sc in zip(spans_from(clip), clip["smart_turn"], strict=True)
              for tp in zip(smart_turn_frames(sp), sc, strict=False)]
        if st:
            ax.plot(*zip(*st, strict=True), "x", ms=3, color="tab:orange", label="Smart Turn P(complete)")
        ax.axhline(threshold, color="k", lw=0.8, ls="--", label=f"eot_threshold {threshold}")
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("clip time (s)")
        ax.set_title(f"{clip['path']}  (red: holds, green: after the turn)", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(folder / (Path(clip["path"]).stem + ".png"), dpi=90)
        plt.close(fig)

