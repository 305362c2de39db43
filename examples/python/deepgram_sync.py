"""Stream a WAV file to turnscribe with the official Deepgram Python SDK (sync client, Flux / listen v2).

    pip install deepgram-sdk==7.17.0
    python deepgram_sync.py --url ws://127.0.0.1:8000 recording.wav

A Deepgram Flux app changes one thing to use turnscribe: the client's environment, whose URLs all
point at the turnscribe server. Prints one ``EndOfTurn: <transcript>`` line per finished turn.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import wave

from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment

CHUNK_S = 0.08  # 80 ms of audio per message, as Deepgram recommends for Flux


def turnscribe_environment(url: str) -> DeepgramClientEnvironment:
    """Every SDK endpoint at the turnscribe server (``ws://host:port``)."""
    ws = url.rstrip("/").replace("http", "ws", 1)
    http = ws.replace("ws", "http", 1)
    return DeepgramClientEnvironment(base=http, production=ws, agent=ws, agent_rest=http)


def read_wav(path: str) -> tuple[bytes, int]:
    """(PCM16 mono samples, sample rate) of a WAV file."""
    with wave.open(path) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            sys.exit(f"{path}: need a 16-bit mono PCM WAV")
        return w.readframes(w.getnframes()), w.getframerate()


def send_audio(conn, pcm: bytes, rate: int, speed: float, tail_s: float, turn_done: threading.Event) -> None:
    """Send the recording in 80 ms chunks at ``speed`` x real time, then silence (an open
    microphone) until the last turn has ended (at most ``tail_s``), then CloseStream."""
    step = int(rate * CHUNK_S) * 2
    start, sent_s = time.monotonic(), 0.0
    chunks = [pcm[off:off + step] for off in range(0, len(pcm), step)]
    chunks += [bytes(step)] * int(tail_s / CHUNK_S)
    for i, chunk in enumerate(chunks):
        if i * step >= len(pcm) and turn_done.is_set():
            break
        conn.send_media(chunk)
        sent_s += CHUNK_S
        time.sleep(max(0.0, start + sent_s / speed - time.monotonic()))
    conn.send_close_stream()


def main() -> int:
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
    client = DeepgramClient(api_key=api_key, environment=turnscribe_environment(args.url))

    turns = 0
    turn_done = threading.Event()
    with client.listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate=rate) as conn:
        sender = threading.Thread(target=send_audio,
                                  args=(conn, pcm, rate, args.speed, args.tail, turn_done), daemon=True)
        sender.start()
        for msg in conn:  # ends when the server closes the stream after CloseStream
            kind = getattr(msg, "type", None)
            if kind == "Connected":
                print(f"Connected: {msg.request_id}", flush=True)
            elif kind == "TurnInfo" and msg.event == "StartOfTurn":
                turn_done.clear()
            elif kind == "TurnInfo" and msg.event == "EndOfTurn":
                turns += 1
                turn_done.set()
                print(f"EndOfTurn: {msg.transcript}", flush=True)
            elif kind in ("Warning", "Error"):
                print(f"{kind}: {msg.code}: {msg.description}", file=sys.stderr, flush=True)
        sender.join(5)
    if not turns:
        print("no EndOfTurn received", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
