"""Transcribe a WAV file with turnscribe through LiveKit Agents' ``deepgram.STTv2`` (Flux) stream.

    pip install "livekit-agents==1.8.9" "livekit-plugins-deepgram==1.8.9"
    python stt_stream.py --url ws://127.0.0.1:8000 recording.wav

A LiveKit agent changes one thing to use turnscribe: ``STTv2(base_url=...)``. Used here standalone,
without a room or a job: the plugin then needs an aiohttp session of its own (``http_session``).
Prints one ``EndOfTurn: <transcript>`` line per FINAL_TRANSCRIPT (sent on Flux's EndOfTurn).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import wave

import aiohttp
from livekit import rtc
from livekit.agents import stt
from livekit.plugins import deepgram

CHUNK_S = 0.08  # 80 ms of audio per frame, as Deepgram recommends for Flux


def listen_url(url: str) -> str:
    """The server's Flux endpoint: ``ws://host:port`` -> ``ws://host:port/v2/listen``."""
    url = url.rstrip("/").replace("http", "ws", 1)
    return url if url.endswith("/v2/listen") else url + "/v2/listen"


def read_wav(path: str) -> tuple[bytes, int]:
    """(PCM16 mono samples, sample rate) of a WAV file."""
    with wave.open(path) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit(f"{path}: need a 16-bit mono PCM WAV")
        return w.readframes(w.getnframes()), w.getframerate()


async def push_audio(stream: stt.SpeechStream, turn_done: asyncio.Event, pcm: bytes, rate: int,
                     speed: float, tail_s: float) -> None:
    """Push the recording as 80 ms AudioFrames at ``speed`` x real time (as a room track would),
    then silence until the last turn has ended (at most ``tail_s``), then end the input
    (the plugin sends CloseStream and waits for the server to close)."""
    step = int(rate * CHUNK_S) * 2
    start, sent_s = time.monotonic(), 0.0
    chunks = [pcm[off:off + step] for off in range(0, len(pcm), step)]
    chunks += [bytes(step)] * int(tail_s / CHUNK_S)
    for i, chunk in enumerate(chunks):
        if i * step >= len(pcm) and turn_done.is_set():
            break
        stream.push_frame(rtc.AudioFrame(chunk, sample_rate=rate, num_channels=1,
                                         samples_per_channel=len(chunk) // 2))
        sent_s += CHUNK_S
        await asyncio.sleep(max(0.0, start + sent_s / speed - time.monotonic()))
    stream.end_input()


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav", help="16-bit mono PCM WAV file")
    ap.add_argument("--url", default=os.environ.get("TURNSCRIBE_URL", "ws://127.0.0.1:8000"),
                    help="turnscribe server (default $TURNSCRIBE_URL or ws://127.0.0.1:8000)")
    ap.add_argument("--speed", type=float, default=1.0, help="send at this multiple of real time")
    ap.add_argument("--tail", type=float, default=6.0, help="most seconds of silence sent after the file")
    args = ap.parse_args()

    pcm, rate = read_wav(args.wav)
    # An open server accepts any key; one started with API keys needs one of them.
    api_key = os.environ.get("TURNSCRIBE_API_KEY") or os.environ.get("DEEPGRAM_API_KEY") or "none"

    turns = 0
    turn_done = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        flux = deepgram.STTv2(model="flux-general-en", sample_rate=rate, audio_chunk_duration_ms=80,
                              api_key=api_key, base_url=listen_url(args.url), http_session=session)
        async with flux.stream() as stream:
            pusher = asyncio.create_task(push_audio(stream, turn_done, pcm, rate, args.speed, args.tail))
            async for ev in stream:  # ends once the server has closed the stream
                if ev.type == stt.SpeechEventType.START_OF_SPEECH:
                    turn_done.clear()
                elif ev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                    turns += 1
                    print(f"EndOfTurn: {ev.alternatives[0].text}", flush=True)
                elif ev.type == stt.SpeechEventType.END_OF_SPEECH:
                    turn_done.set()
            await pusher
    if not turns:
        print("no EndOfTurn received", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
