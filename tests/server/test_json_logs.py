"""``serve --log-format json``: a real server process, one JSON object per stderr line, the stream's
request_id on its lines, and a closing line that sums the stream up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from helpers import pcm16, quiet, tone
from servertools import serve_process, stream

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    log_path = tmp_path / "server.log"
    with serve_process(["--engine", "fake", "--log-format", "json"], log_path) as (_, port):
        msgs, code, _ = asyncio.run(stream(f"ws://127.0.0.1:{port}" + Q, pcm16(quiet(0.3), tone(1.25), quiet(1.5))))
        assert code == 1000
        rid = msgs[0]["request_id"]
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(doc) for doc in lines)
    mine = [doc for doc in lines if rid in doc["message"]]
    assert len(mine) >= 3 and all(doc.get("request_id") == rid for doc in mine)
    assert any(doc.get("request_id") == rid and doc["logger"] == "turnscribe.websockets" for doc in lines), \
        "the WebSocket library's connection lines carry it too"
    (closed,) = [doc for doc in mine if "closed:" in doc["message"]]
    assert closed["close_code"] == 1000 and closed["turns"] >= 1
    assert closed["audio_s"] == 3.05 and closed["duration_s"] > 0
