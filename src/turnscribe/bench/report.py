"""The load bench's report: the table on standard output and the lag-versus-streams plot."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def format_table(report: Mapping[str, Any]) -> str:
    head = ["mode", "N", "upd p50", "upd p95", "upd max", "eot p50", "eot p95", "eot n", "age p50", "err", "refused",
            "abn", "msgs", "cpu ms/s", "rss MB", "dRSS/str", "SLO"]
    rows = [head]
    for mode, m in report["modes"].items():
        for s in m["steps"]:
            u, e = s["update_lag"], s["eot_lag"]
            rows.append([mode, str(s["streams"]), _f(u["p50"]), _f(u["p95"]), _f(u["max"]), _f(e["p50"]),
                         _f(e["p95"]), str(e["count"]), _f(s.get("word_age", {}).get("p50")),
                         str(s["errors"]), str(s["refusals"]),
                         str(s["abnormal_closes"]), str(s["messages"]), _f(s.get("cpu_ms_per_stream_s"), 1),
                         _f(s["rss_end_mb"], 0), _f(s["rss_delta_per_stream_mb"], 1),
                         "pass" if s["pass"] else "FAIL"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for mode, m in report["modes"].items():
        lines.append(f"{mode}: max streams within SLO = {m['max_streams_within_slo']}")
        for s in m["steps"]:
            notes = list(s["fail_reasons"])
            if s["refusals"]:
                notes.append(f"{s['refusals']} refused ({', '.join(s['refusal_reasons']) or 'no reason'})")
            if s["incomplete_streams"]:
                notes.append(f"{s['incomplete_streams']} stream(s) ended short of their audio")
            if notes:
                lines.append(f"  N={s['streams']}: " + "; ".join(notes))
            if s.get("engines"):
                lines.append(f"  N={s['streams']} CPU ms per stream-second: " + ", ".join(
                    f"{e} {_f(p.get('cpu_ms_per_stream_s'), 1)} ({p['cores']:.2f} cores busy, "
                    f"{p['jobs_per_call'] or 0:.1f}/call"
                    + (f", {p['dropped']} dropped)" if p["dropped"] else ")")
                    for e, p in s["engines"].items() if p["calls"] or p["dropped"])
                    + (f", other {s['other_cpu_ms_per_stream_s']:.1f}" if s.get("other_cpu_ms_per_stream_s") is not None else ""))
    for n, r in (report.get("ratio_cpu_per_stream_s") or {}).items():
        lines.append(f"CPU per stream-second at N={n} ({' / '.join(report['modes'])}) = {r:.2f}")
    if report.get("ratio_max_streams") is not None:
        lines.append(f"ratio of max streams within SLO ({' / '.join(report['modes'])}) = "
                     f"{report['ratio_max_streams']:.2f}")
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slo = report["slo"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("update_lag", "Update lag p95", slo["update_p95_s"]),
              ("eot_lag", "EndOfTurn compute lag p95", slo["eot_p95_s"]))
    for ax, (key, title, limit) in zip(axes, panels, strict=True):
        cap = 4 * limit  # overloaded points (lag growing without bound) are drawn at the top, labelled
        all_x: set[int] = set()
        for mode, m in report["modes"].items():
            pts = [(s["streams"], s[key]["p95"]) for s in m["steps"] if s[key]["p95"] is not None]
            if not pts:
                continue
            xs, ys = zip(*pts, strict=True)
            all_x.update(xs)
            line, = ax.plot(xs, [min(y, cap) for y in ys], marker="o", label=mode)
            for x, y in pts:
                if y > cap:
                    ax.plot([x], [cap], marker="^", color=line.get_color(), markersize=9)
                    ax.annotate(f"{y:.1f}s", (x, cap), textcoords="offset points", xytext=(0, -14),
                                ha="center", fontsize=8, color=line.get_color())
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"SLO {limit:g} s")
        ax.set_ylim(-0.05 * cap, cap * 1.05)
        if all_x:
            ax.set_xticks(sorted(all_x))
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel("seconds")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"turnscribe bench load ({report['config']['mix_label']}, {report['config']['duration_s']:g} s"
                 " per stream)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def mix_label(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {w:.0%}" for k, w in weights.items())

