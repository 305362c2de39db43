"""Audio sources for ``turnscribe transcribe``: a file or stdin as the byte stream a client would send.

A file in a container the server reads itself (WAV, Ogg/Opus, WebM/Opus) is sent as its own bytes,
with no ``encoding``, exactly as a Flux client uploading it would; anything else PyAV can open
(MP3, FLAC, M4A, video files ...) is decoded here to 16 kHz mono ``linear16``. Raw headerless audio
(a ``.raw`` file or stdin) needs ``--encoding`` and ``--sample-rate``, as it does on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from turnscribe.audio.containers import sniff
from turnscribe.errors import AudioFormatError
from turnscribe.types.engine import SAMPLE_RATE

__all__ = ["STREAM_ENCODINGS", "AudioSource", "SourceError", "open_source"]

FRAME_S = 0.08                 # what a client sends per WebSocket frame (Flux recommends 80 ms)
# raw encodings a byte stream can carry; plain "opus" needs one packet per frame, which a file has not
STREAM_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "ogg-opus")
_BYTES_PER_SAMPLE = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}
_CONTAINER_FRAME_BYTES = 2560  # 80 ms of 16 kHz linear16: containers are cut like raw audio of that rate


class SourceError(Exception):
    """The input cannot be read or decoded; the message says why, for the command line."""


@dataclass
class AudioSource:
    """The bytes to stream and the query parameters that describe them."""

    name: str
    encoding: str | None        # None: a container, the server reads its header
    sample_rate: int | None
    frames: Iterator[bytes]      # wire frames, in order
    duration_s: float | None     # for the progress bar, when known
    bytes_per_second: float      # to pace --realtime and to count progress


def open_source(path: str, *, stdin: BinaryIO | None = None, encoding: str | None = None,
                sample_rate: int | None = None) -> AudioSource:
    """Open ``path`` (``-`` = ``stdin``) as the frames a client would send.

    Raises:
        SourceError: unreadable, undecodable, or raw audio without its encoding and rate.
    """
    if encoding is not None:
        if encoding not in STREAM_ENCODINGS:
            raise SourceError(f"--encoding {encoding} cannot be read from a byte stream; use one of "
                              f"{', '.join(STREAM_ENCODINGS)}")
        if sample_rate is None:
            raise SourceError(f"--encoding {encoding} needs --sample-rate")
    if path == "-":
        if stdin is None:
            raise SourceError("no standard input")
        return _from_stream("<stdin>", stdin, encoding, sample_rate)
    file = Path(path)
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    if encoding is not None or file.suffix.lower() == ".raw":
        if encoding is None:
            handle.close()
            raise SourceError(f"{path} is headerless audio: give --encoding and --sample-rate")
        return _from_stream(path, handle, encoding, sample_rate, size=file.stat().st_size)
    head = handle.read(12)
    handle.seek(0)
    try:
        kind = sniff(head)
    except AudioFormatError:
        kind = None
    if kind is not None:
        return _container(path, handle, kind, file.stat().st_size)
    handle.close()
    return _decoded(path)


def _chunks(handle: BinaryIO, size: int) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk


def _from_stream(name: str, handle: BinaryIO, encoding: str | None, sample_rate: int | None,
                 size: int | None = None) -> AudioSource:
    if encoding is None:  # stdin without --encoding: only a container says what it holds
        head = handle.peek(12)[:12] if hasattr(handle, "peek") else b""
        try:
            kind = sniff(head)
        except AudioFormatError as exc:
            raise SourceError(f"{name}: {exc}; for raw audio give --encoding and --sample-rate") from None
        if kind is None:
            raise SourceError(f"{name}: give --encoding and --sample-rate for raw audio")
        return _container(name, handle, kind, size)
    assert sample_rate is not None
    if encoding == "ogg-opus":
        return _container(name, handle, "ogg", size, encoding=encoding, sample_rate=sample_rate)
    bps = float(_BYTES_PER_SAMPLE[encoding] * sample_rate)
    frame = max(1, round(bps * FRAME_S))
    frame -= frame % _BYTES_PER_SAMPLE[encoding]
    return AudioSource(name, encoding, sample_rate, _chunks(handle, frame),
                       size / bps if size is not None else None, bps)


def _container(name: str, handle: BinaryIO, kind: str, size: int | None, *, encoding: str | None = None,
               sample_rate: int | None = None) -> AudioSource:
    """A container's own bytes; duration and byte rate from its header (WAV) or PyAV (compressed)."""
    duration = _probe_duration(name) if size is not None else None
    if duration and size:
        bps = size / duration
    elif kind == "wav":
        bps = 32000.0
    else:
        bps = 4000.0  # ~32 kbit/s Opus: only paces --realtime on a stream whose length is unknown
    frame = _CONTAINER_FRAME_BYTES if kind == "wav" else max(256, round(bps * FRAME_S))
    return AudioSource(name, encoding, sample_rate, _chunks(handle, frame), duration, bps)


def _probe_duration(path: str) -> float | None:
    try:
        with av.open(path) as c:
            if c.duration is not None:
                return float(c.duration) / av.time_base
            stream = c.streams.audio[0]
            if stream.duration is not None and stream.time_base is not None:
                return float(stream.duration * stream.time_base)
    except (av.FFmpegError, IndexError, OSError):
        return None
    return None


def _decoded(path: str) -> AudioSource:
    """Decode any file PyAV opens to 16 kHz mono linear16, lazily, frame by frame."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError) as exc:
        raise SourceError(f"cannot decode {path}: {exc}") from None
    if not container.streams.audio:
        container.close()
        raise SourceError(f"{path} has no audio stream")
    duration = float(container.duration) / av.time_base if container.duration is not None else None
    return AudioSource(path, "linear16", SAMPLE_RATE, _decode_frames(path, container), duration,
                       SAMPLE_RATE * 2.0)


def _decode_frames(path: str, container: av.container.InputContainer) -> Iterator[bytes]:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    frame_bytes = int(SAMPLE_RATE * FRAME_S) * 2
    pending = bytearray()
    with container:
        try:
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pending += _pcm(out)
                while len(pending) >= frame_bytes:
                    yield bytes(pending[:frame_bytes])
                    del pending[:frame_bytes]
            for out in resampler.resample(None):
                pending += _pcm(out)
        except av.FFmpegError as exc:
            raise SourceError(f"cannot decode {path}: {exc}") from None
    if pending:
        yield bytes(pending)


def _pcm(frame: av.AudioFrame) -> bytes:
    return np.asarray(frame.to_ndarray(), dtype="<i2").reshape(-1).tobytes()
