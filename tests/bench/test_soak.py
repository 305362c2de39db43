"""The 2-minute version of ``turnscribe bench soak`` (the 30-minute run's figures are in the README):
real engines, good streams opening and closing beside hostile clients."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from turnscribe.bench.load import server_command


@pytest.mark.model
def test_two_minute_soak(shared: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [*server_command(), "bench", "soak", "--data", str(shared / "data"), "--minutes", "2",
           "--max-streams", "4", "--streams", "2", "--min-stream-s", "10", "--max-stream-s", "25",
           "--hostile-every", "1", "--warmup-share", "0.5", "--max-rss-growth", "0.10",
           "--max-lag-drift", "0.3", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=280)
    result = json.loads(out.read_text())["result"]
    assert result["good_error_count"] == 0, result["good_errors"]
    assert result["streams_open_at_end"] == 0
    assert result["hostile_clients"] >= 10 and result["good_streams"] >= 6
    assert result["checks"]["rss_growth"], result
    assert proc.returncode == 0, proc.stdout + proc.stderr
