"""Eight real-model streams at once over real sockets, sharing one set of models through the
scheduler: every stream gets its own words, its turn end, and a clean close."""

from __future__ import annotations

import asyncio

import pytest
from helpers import manifest, recall, silence_pcm, wav_pcm
from servertools import stream

pytestmark = pytest.mark.model

CLIPS = ["wer/clean/ast_tt-weasels.wav", "wer/clean/ast_vm-msgforwarded.wav", "wer/clean/ast_dir-nomore.wav",
         "wer/clean/ast_conf-onlyperson.wav", "wer/clean/ast_agent-pass.wav", "wer/clean/ast_agent-incorrect.wav",
         "wer/clean/ast_at-tone-time-exactly.wav", "wer/clean/ast_agent-alreadyon.wav"]


def test_eight_concurrent_real_streams_each_get_their_own_transcript(real_server, shared):
    refs = manifest(shared)
    url = real_server.url + "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"

    async def main():
        jobs = [stream(url, silence_pcm(0.5) + wav_pcm(shared / "data" / c) + silence_pcm(2.0), chunk=640 * 4)
                for c in CLIPS]
        return await asyncio.gather(*jobs)

    results = asyncio.run(main())
    for clip, (msgs, code, _) in zip(CLIPS, results, strict=True):
        assert code == 1000, (clip, [m for m in msgs if m["type"] == "Error"])
        ends = [m for m in msgs if m.get("event") == "EndOfTurn"]
        assert ends, f"{clip}: no EndOfTurn"
        text = " ".join(m["transcript"] for m in ends)
        assert recall(refs[clip]["reference_text"], text) >= 0.8, (clip, text)
