"""`turnscribe transcribe` with the bundled models gives the messages a live server sends for the same file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from turnscribe.client.stream import stream
from turnscribe.runtime.driver import frames_of

CLIP = "data/turns/incomplete_then_continuation_002.wav"  # 9.9 s, two turns


def without_request_id(lines: list[str]) -> list[dict]:
    return [{k: v for k, v in json.loads(x).items() if k != "request_id"} for x in lines if x.strip()]


async def realtime_client(url: str, data: bytes) -> list[str]:
    """A live caller: the WAV file's bytes in 80 ms frames at real time, then CloseStream; every
    message received."""
    res = await stream(url + "/v2/listen?model=flux-general-en", frames_of(data, 2560), bytes_per_second=32000.0)
    assert res.normal_close and res.sent.closed_stream, res
    return [str(a.message) for a in res.arrivals]


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
