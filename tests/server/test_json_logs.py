"""``serve --log-format json``: a real server process, one JSON object per stderr line, the stream's
request_id on its lines, and a closing line that sums the stream up."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from helpers import pcm16, quiet, tone
from servertools import stream

from turnscribe.bench.load import free_port, server_command, wait_ready

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


def test_json_logs_carry_the_request_id(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "server.log"
    cmd = [*server_command(), "serve", "--engine", "fake", "--port", str(port), "--log-format", "json"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 60, proc, log_path)
        msgs, code, _ = asyncio.run(stream(f"ws://127.0.0.1:{port}" + Q, pcm16(quiet(0.3), tone(1.25), quiet(1.5))))
        assert code == 1000
        rid = msgs[0]["request_id"]
    finally:
        proc.terminate()
        proc.wait(30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "message"} <= set(doc) for doc in lines)
    mine = [doc for doc in lines if rid in doc["message"]]
    assert len(mine) >= 3 and all(doc.get("request_id") == rid for doc in mine)
    assert any(doc.get("request_id") == rid and doc["logger"] == "turnscribe.websockets" for doc in lines), \
        "the WebSocket library's connection lines carry it too"
    (closed,) = [doc for doc in mine if "closed:" in doc["message"]]
    assert closed["close_code"] == 1000 and closed["turns"] >= 1
    assert closed["audio_s"] == 3.05 and closed["duration_s"] > 0
