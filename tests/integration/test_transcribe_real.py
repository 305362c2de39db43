"""`turnscribe transcribe` with the bundled models gives the messages a live server sends for the same file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import websockets

CLIP = "data/turns/incomplete_then_continuation_002.wav"  # 9.9 s, two turns


def without_request_id(lines: list[str]) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k != "request_id"} for x in lines if x.strip()]


async def realtime_client(url: str, data: bytes) -> list[str]:
    """A live caller: 80 ms frames at real time, then CloseStream; every message received."""
    got: list[str] = []
    async with websockets.connect(url + "/v2/listen?model=flux-general-en") as ws:
        async def send() -> None:
            t0 = asyncio.get_running_loop().time()
            for i, off in enumerate(range(0, len(data), 2560)):
                await asyncio.sleep(max(0.0, t0 + i * 0.08 - asyncio.get_running_loop().time()))
                await ws.send(data[off:off + 2560])
            await ws.send(json.dumps({"type": "CloseStream"}))

        sender = asyncio.create_task(send())
        async for raw in ws:
            got.append(str(raw))
        await sender
    return got


def transcribe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "turnscribe", "transcribe", "--no-progress", *args],
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.mark.model
def test_transcribe_jsonl_equals_what_the_server_sends_for_the_same_file(real_server, shared: Path, tmp_path):
    clip = shared / CLIP
    served = asyncio.run(realtime_client(real_server.url, clip.read_bytes()))
    local = transcribe("-f", "jsonl", str(clip))
    assert local.returncode == 0, local.stderr
    assert without_request_id(local.stdout.splitlines()) == without_request_id(served)
    events = [json.loads(x).get("event") for x in served]
    assert events.count("EndOfTurn") >= 1 and "StartOfTurn" in events

    # the same file to the server through --url: the same messages again; and the text formats
    remote = transcribe("-f", "jsonl", "--url", real_server.url, "--realtime", str(clip))
    assert remote.returncode == 0, remote.stderr
    assert without_request_id(remote.stdout.splitlines()) == without_request_id(served)
    text = transcribe("--output-dir", str(tmp_path), "-f", "srt", str(clip))
    assert text.returncode == 0, text.stderr
    srt = (tmp_path / "incomplete_then_continuation_002.srt").read_text()
    ends = [json.loads(x) for x in served if '"EndOfTurn"' in x]
    for end in ends:
        assert end["transcript"] in srt
    assert "flight" in srt.lower()
