"""Transcribe a WAV file with turnscribe through pipecat's ``DeepgramFluxSTTService`` in a minimal pipeline.

    pip install "pipecat-ai==1.14.0"
    python flux_pipeline.py --url ws://127.0.0.1:8000 recording.wav

A pipecat bot changes one thing to use turnscribe: the service's ``url``. The pipeline is
(recording fed as InputAudioRawFrames at real time) -> DeepgramFluxSTTService -> TurnPrinter;
the service pushes a finalized TranscriptionFrame on each Flux EndOfTurn, which TurnPrinter
prints as ``EndOfTurn: <transcript>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import wave

from loguru import logger
from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame, TranscriptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.deepgram.flux.stt import DeepgramFluxSTTService
from pipecat.workers.runner import WorkerRunner

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


class TurnPrinter(FrameProcessor):
    """Prints each finished turn: DeepgramFluxSTTService sends it as a finalized TranscriptionFrame."""

    def __init__(self) -> None:
        super().__init__()
        self.turns = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and frame.finalized:
            self.turns += 1
            print(f"EndOfTurn: {frame.text}", flush=True)
        await self.push_frame(frame, direction)


async def feed_audio(worker: PipelineWorker, connected: asyncio.Event, turn_done: asyncio.Event,
                     pcm: bytes, rate: int, speed: float, tail_s: float) -> None:
    """Queue the recording as 80 ms InputAudioRawFrames at ``speed`` x real time (what a transport
    would do), then silence until the last turn has ended (at most ``tail_s``), then end the pipeline."""
    try:
        await asyncio.wait_for(connected.wait(), 30)
    except TimeoutError:
        print("no Connected message from the server within 30 s", file=sys.stderr)
        await worker.cancel(reason="not connected")
        return
    step = int(rate * CHUNK_S) * 2
    start, sent_s = time.monotonic(), 0.0
    chunks = [pcm[off:off + step] for off in range(0, len(pcm), step)]
    chunks += [bytes(step)] * int(tail_s / CHUNK_S)
    for i, chunk in enumerate(chunks):
        if i * step >= len(pcm) and turn_done.is_set():
            break
        await worker.queue_frame(InputAudioRawFrame(audio=chunk, sample_rate=rate, num_channels=1))
        sent_s += CHUNK_S
        await asyncio.sleep(max(0.0, start + sent_s / speed - time.monotonic()))
    await worker.queue_frame(EndFrame())  # the service sends CloseStream and closes


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("wav", help="16-bit mono PCM WAV file")
    ap.add_argument("--url", default=os.environ.get("TURNSCRIBE_URL", "ws://127.0.0.1:8000"),
                    help="turnscribe server (default $TURNSCRIBE_URL or ws://127.0.0.1:8000)")
    ap.add_argument("--speed", type=float, default=1.0, help="send at this multiple of real time")
    ap.add_argument("--tail", type=float, default=6.0, help="most seconds of silence sent after the file")
    ap.add_argument("--log-level", default="WARNING", help="pipecat's log level (e.g. DEBUG)")
    args = ap.parse_args()
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)

    pcm, rate = read_wav(args.wav)
    # An open server accepts any key; one started with API keys needs one of them.
    api_key = os.environ.get("TURNSCRIBE_API_KEY") or os.environ.get("DEEPGRAM_API_KEY") or "none"
    stt = DeepgramFluxSTTService(api_key=api_key, url=listen_url(args.url), sample_rate=rate,
                                 settings=DeepgramFluxSTTService.Settings(model="flux-general-en"))
    printer = TurnPrinter()

    connected, turn_done = asyncio.Event(), asyncio.Event()

    @stt.event_handler("on_connected")
    async def on_connected(service):
        connected.set()

    @stt.event_handler("on_start_of_turn")
    async def on_start_of_turn(service, transcript):
        turn_done.clear()

    @stt.event_handler("on_end_of_turn")
    async def on_end_of_turn(service, transcript):
        turn_done.set()

    worker = PipelineWorker(Pipeline([stt, printer]), params=PipelineParams(audio_in_sample_rate=rate),
                            enable_rtvi=False)
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await asyncio.gather(runner.run(),
                         feed_audio(worker, connected, turn_done, pcm, rate, args.speed, args.tail))
    if not printer.turns:
        print("no EndOfTurn received", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
