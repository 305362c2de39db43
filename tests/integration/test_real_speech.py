"""End to end with the real models: real speech in, real words and turn ends out.

The official ``deepgram-sdk`` client (``listen.v2``) and a plain ``websockets`` client stream
real recordings from ../shared/data to an in-process server running the bundled engines.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import numpy as np
import pytest
from helpers import manifest, recall, silence_pcm, wav_pcm
from servertools import stream

pytestmark = pytest.mark.model

SENTENCES = ["wer/clean/ast_tt-weasels.wav", "wer/clean/ast_vm-msgforwarded.wav",
             "wer/clean/ast_dir-nomore.wav", "wer/clean/ast_conf-onlyperson.wav"]


def sdk_client(url: str):
    from deepgram import DeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    http = url.replace("ws://", "http://")
    env = DeepgramClientEnvironment(base=http, production=url, agent=url, agent_rest=http)
    return DeepgramClient(api_key="open-server", environment=env)


def test_sdk_streams_20s_of_real_speech_at_real_time(real_server, shared):
    rows = manifest(shared)
    audio = silence_pcm(0.5)
    for path in SENTENCES:
        audio += wav_pcm(shared / "data" / path) + silence_pcm(2.0)
    assert 18 <= len(audio) / 32000 <= 26
    chunk = 2560  # 80 ms, Deepgram's recommended frame

    with sdk_client(real_server.url).listen.v2.connect(
            model="flux-general-en", encoding="linear16", sample_rate=16000) as conn:
        def sender():
            t0 = time.monotonic()
            for i, off in enumerate(range(0, len(audio), chunk)):
                conn.send_media(audio[off:off + chunk])
                time.sleep(max(0.0, t0 + (i + 1) * 0.08 - time.monotonic()))
            conn.send_close_stream()
        t = threading.Thread(target=sender)
        t.start()
        msgs = list(conn)
        t.join(60)

    kinds = [type(m).__name__ for m in msgs]
    assert kinds[0] == "ListenV2Connected"
    events = [m.event for m in msgs if kinds[msgs.index(m)] == "ListenV2TurnInfo"]
    ends = [m for m in msgs if getattr(m, "event", None) == "EndOfTurn"]
    assert events.count("StartOfTurn") == len(SENTENCES), events
    assert len(ends) == len(SENTENCES), [e.transcript for e in ends]
    ref = " ".join(rows[p]["reference_text"] for p in SENTENCES)
    hyp = " ".join(e.transcript for e in ends)
    assert recall(ref, hyp) >= 0.8, (ref, hyp)
    for e in ends:
        assert e.trigger == "model" and e.words
        assert all(0 <= w.confidence <= 1 and w.start <= w.end for w in e.words)


async def ws_stream(url: str, query: str, data: bytes, chunk: int) -> list[dict]:
    msgs, _, _ = await stream(f"{url}/v2/listen?{query}", data, chunk=chunk)
    return msgs


def turn_text(msgs: list[dict]) -> str:
    """Every ended turn's transcript, then the turn still open when the stream closed (its text
    is in the final Update)."""
    infos = [m for m in msgs if m.get("type") == "TurnInfo"]
    ends = [m for m in infos if m["event"] == "EndOfTurn"]
    texts = [m["transcript"] for m in ends]
    last = infos[-1]
    if last["event"] != "EndOfTurn" and (not ends or last["turn_index"] > ends[-1]["turn_index"]):
        texts.append(last["transcript"])
    return " ".join(t for t in texts if t)


@pytest.mark.parametrize("path,query", [
    ("telephony/ast_vm-options_8k_mulaw.wav", "model=flux-general-en"),
    ("telephony/ast_vm-options_8k_s16le.raw", "model=flux-general-en&encoding=linear16&sample_rate=8000"),
    ("telephony/ast_conf-otherinparty.opus", "model=flux-general-en"),
    ("telephony/ast_conf-otherinparty_48k.wav", "model=flux-general-en"),
])
def test_telephony_formats_give_the_words(real_server, shared, path, query):
    rows = manifest(shared)
    data = (shared / "data" / path).read_bytes()
    msgs = asyncio.run(ws_stream(real_server.url, query, data, 1111))
    assert not [m for m in msgs if m["type"] == "Error"], msgs[-1]
    assert "StartOfTurn" in [m.get("event") for m in msgs]
    assert recall(rows[path]["reference_text"], turn_text(msgs)) >= 0.8, turn_text(msgs)


def test_silence_and_noise_give_no_words(real_server, shared):
    noise = (np.random.default_rng(0).normal(0, 0.01, 16000 * 4) * 32767).astype("<i2").tobytes()
    music = (shared / "data" / "turns" / "noise_only_music_053.wav").read_bytes()
    for query, data in (("model=flux-general-en&encoding=linear16&sample_rate=16000", silence_pcm(4.0) + noise),
                        ("model=flux-general-en", music)):
        msgs = asyncio.run(ws_stream(real_server.url, query, data, 2560))
        ti = [m for m in msgs if m["type"] == "TurnInfo"]
        assert ti and all(m["event"] == "Update" and m["transcript"] == "" for m in ti)


@pytest.mark.parametrize("query,hinted", [
    ("model=flux-general-multi&language_hint=es", ["es"]),
    ("model=flux-general-multi", None),
])
def test_multilingual_spanish_reports_its_language(real_server, shared, query, hinted):
    data = (shared / "data" / "wer/multi_es/ast_es_conf-kicked.wav").read_bytes() + silence_pcm(2.0)
    msgs = asyncio.run(ws_stream(real_server.url, query, data, 2560))
    ti = [m for m in msgs if m["type"] == "TurnInfo"]
    assert ti and all("languages" in m for m in ti), "flux-general-multi carries languages on every TurnInfo"
    assert all(m.get("languages_hinted") == hinted for m in ti)
    end = next(m for m in ti if m["event"] == "EndOfTurn")
    assert end["languages"] == ["es"]
    words = set(re.findall(r"\w+", end["transcript"].lower()))
    assert len(words & {"ha", "sido", "expulsado", "por", "el", "sistema", "de", "esta", "conferencia"}) >= 6, end
