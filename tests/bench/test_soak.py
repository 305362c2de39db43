"""The 2-minute version of ``turnscribe bench soak`` (the 30-minute run's figures are in the README):
real engines, good streams opening and closing beside hostile clients."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from turnscribe.bench.server_process import server_command


@pytest.mark.model
def test_two_minute_soak(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [*server_command(), "bench", "soak", "--data", str(shared / "data"), "--minutes", "2",
           "--max-streams", "4", "--streams", "2", "--min-stream-s", "10", "--max-stream-s", "25",
           "--hostile-every", "1", "--warmup-share", "0.5", "--max-rss-growth", "0.10",
           "--max-lag-drift", "0.3", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280, check=False)
    result = json.loads(out.read_text())["result"]
    assert result["good_error_count"] == 0, result["good_errors"]
    assert result["streams_open_at_end"] == 0
    assert result["hostile_clients"] >= 10 and result["good_streams"] >= 6
    assert result["checks"]["rss_growth"], result
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rss_growth_compares_window_medians_so_that_swings_do_not_count_but_a_ramp_does() -> None:
    import numpy as np

    from turnscribe.bench.soak import rss_figures

    t = np.arange(0.0, 1801.0, 10.0)
    rng = np.random.default_rng(1)
    swings = 500 + rng.uniform(-30, 30, len(t))  # a live working set: ±6 % from sample to sample
    swings[36], swings[-1] = 470, 530             # a low warm-up sample and a high last one
    flat = rss_figures(list(zip(t, swings, strict=True)), 1800.0, 360.0, 300.0)
    assert (flat["rss_growth_end_vs_warmup_sample"] or 0) > 0.1  # what the end points alone would say
    assert abs(flat["rss_growth"] or 1) < 0.03 and flat["rss_window_s"] == 300.0
    ramp = rss_figures(list(zip(t, 500 + t * 0.05, strict=True)), 1800.0, 360.0, 300.0)  # +90 MB in 30 min
    assert (ramp["rss_growth"] or 0) > 0.1 and (ramp["rss_peak_growth"] or 0) > 0.05
    short = rss_figures(list(zip(t[:13], swings[:13], strict=True)), 120.0, 60.0, 300.0)
    assert short["rss_window_s"] == 15.0 and short["rss_growth"] is not None
