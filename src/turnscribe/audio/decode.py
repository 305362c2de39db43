"""Incremental audio decoding: Flux's raw encodings and containers → float32 mono at 16 kHz.

``make_decoder(encoding, sample_rate)`` builds an ``AudioDecoder``; ``feed(bytes)`` returns the
samples that could be decoded so far, ``flush()`` the resampler tail at end of stream.

Invariants:
- No I/O and no threads; all state lives in the decoder. Bytes may be split anywhere (inside a
  sample, a header, a page); partial data is buffered, bounded (see ``containers.py``).
- Output is always a 1-D float32 array in [-1, 1] at ``target_rate`` (possibly empty). Channels
  are averaged to mono. Rates differing from the target are resampled with one streaming soxr
  resampler per decoder (HQ), so chunking never changes the samples beyond float rounding.
- Undecodable bytes make ``feed``/``flush`` raise ``AudioFormatError`` and nothing else; the
  decoder is unusable afterwards. ``feed(b"")`` is a no-op. ``feed`` after ``flush`` is a
  programming error (``RuntimeError``).
- ``encoding="opus"``: each ``feed`` is exactly one Opus packet. Opus is decoded at 48 kHz with
  PyAV's libopus decoder configured for mono output (libopus downmixes stereo packets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import av
import numpy as np
import soxr

from turnscribe.audio.containers import OggParser, OpusHead, WavParser, WebmParser, parse_opus_head, sniff
from turnscribe.audio.g711 import expand_alaw, expand_ulaw
from turnscribe.errors import AudioFormatError
from turnscribe.types.engine import SAMPLE_RATE

__all__ = ["ENCODINGS", "SAMPLE_RATES", "TARGET_RATE", "AudioDecoder", "make_decoder"]

TARGET_RATE = SAMPLE_RATE
ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus")
SAMPLE_RATES = (8000, 16000, 24000, 44100, 48000)
OPUS_RATE = 48000
_MAX_RATE = 768_000
_EMPTY = np.zeros(0, dtype=np.float32)
_SAMPLE_BYTES = {"pcm_u8": 1, "linear16": 2, "linear24": 3, "linear32": 4, "float32": 4,
                 "float64": 8, "mulaw": 1, "alaw": 1}


class _Stage(Protocol):
    """bytes → float32 mono samples at ``rate`` (``rate`` is None until the format is known)."""

    @property
    def rate(self) -> int | None: ...

    @property
    def description(self) -> str: ...

    def feed(self, data: bytes) -> np.ndarray: ...


def _pcm_to_float(raw: bytes, codec: str, channels: int) -> np.ndarray:
    if codec == "linear16":
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(32768.0)
    elif codec == "linear32":
        x = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
    elif codec == "linear24":
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)  # sign lands in bit 31
        x = (v.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif codec == "pcm_u8":
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / np.float32(128.0)
    elif codec in ("float32", "float64"):
        f = np.frombuffer(raw, dtype="<f4" if codec == "float32" else "<f8")
        x = np.clip(np.nan_to_num(f, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0).astype(np.float32)
    elif codec == "mulaw":
        x = expand_ulaw(raw)
    elif codec == "alaw":
        x = expand_alaw(raw)
    else:  # pragma: no cover - guarded by construction
        raise AudioFormatError(f"unsupported PCM codec {codec}")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return x


class _PcmStage:
    """Fixed-size PCM/G.711 frames; a dangling partial frame waits for the next feed."""

    def __init__(self, codec: str, channels: int, rate: int, description: str) -> None:
        self._codec, self._channels, self.rate = codec, channels, rate
        self._frame = _SAMPLE_BYTES[codec] * channels
        self._rest = b""
        self.description = description

    def feed(self, data: bytes) -> np.ndarray:
        data = self._rest + data if self._rest else data
        usable = len(data) - len(data) % self._frame
        self._rest = bytes(data[usable:])
        if not usable:
            return _EMPTY
        return _pcm_to_float(data[:usable], self._codec, self._channels)


class _OpusDecoder:
    """One Opus packet → float32 mono at 48 kHz, dropping the first ``pre_skip`` samples."""

    def __init__(self, pre_skip: int = 0) -> None:
        self._skip = pre_skip
        try:
            ctx = av.CodecContext.create("libopus", "r")
        except ValueError:  # UnknownCodecError: no libopus wrapper, use FFmpeg's native decoder
            ctx = av.CodecContext.create("opus", "r")
        ctx.sample_rate = OPUS_RATE
        ctx.layout = "mono"
        ctx.options = {"request_sample_fmt": "flt"}
        self._ctx = ctx

    def decode(self, packet: bytes) -> np.ndarray:
        if not packet:
            return _EMPTY
        parts = []
        for frame in self._ctx.decode(av.Packet(packet)):
            a = frame.to_ndarray()
            if a.dtype == np.int16:
                a = a.astype(np.float32) / np.float32(32768.0)
            elif a.dtype != np.float32:
                a = a.astype(np.float32)
            parts.append(a.reshape(-1) if a.shape[0] == 1 else a.mean(axis=0, dtype=np.float32))
        x = np.concatenate(parts) if parts else _EMPTY
        if self._skip:
            n = min(self._skip, x.size)
            x, self._skip = x[n:], self._skip - n
        return np.clip(x, -1.0, 1.0)


class _RawOpusStage:
    rate = OPUS_RATE
    description = f"opus @ {OPUS_RATE} Hz"

    def __init__(self) -> None:
        self._dec = _OpusDecoder()

    def feed(self, data: bytes) -> np.ndarray:
        return self._dec.decode(data)


class _OggOpusStage:
    """Ogg pages → OpusHead, OpusTags, audio packets (first Opus logical stream; chains allowed)."""

    def __init__(self, description: str, declared: bool) -> None:
        self._parser = OggParser()
        self._serial: int | None = None
        self._head: OpusHead | None = None
        self._tags_seen = False
        self._dec: _OpusDecoder | None = None
        self._out_samples = 0  # samples emitted for the current logical stream
        self._others: list[str] = []
        self._label = description
        self.rate: int | None = OPUS_RATE if declared else None

    @property
    def description(self) -> str:
        return f"{self._label} @ {OPUS_RATE} Hz" if self.rate else f"{self._label} (detecting)"

    def feed(self, data: bytes) -> np.ndarray:
        out: list[np.ndarray] = []
        for page in self._parser.feed(data):
            if self._serial is None:
                if not page.flags & 2:
                    raise AudioFormatError(
                        "Ogg stream is not Opus: " + (f"first packet is {', '.join(self._others)}"
                                                      if self._others else "no beginning-of-stream page"))
                first = page.packets[0] if page.packets else b""
                if not first.startswith(b"OpusHead"):
                    self._others = [*self._others, repr(first[:8])][:4]
                    continue
                self._serial, self._head = page.serial, parse_opus_head(first)
                self._dec, self._tags_seen, self._out_samples = _OpusDecoder(self._head.pre_skip), False, 0
                self.rate = OPUS_RATE
                packets = page.packets[1:]
            elif page.serial != self._serial:
                continue
            else:
                packets = page.packets
            out.extend(self._page_audio(packets, page.granule, bool(page.flags & 4)))
        return np.concatenate(out) if out else _EMPTY

    def _page_audio(self, packets: list[bytes], granule: int, eos: bool) -> list[np.ndarray]:
        assert self._dec is not None and self._head is not None
        out = []
        for packet in packets:
            if not self._tags_seen:
                if not packet.startswith(b"OpusTags"):
                    raise AudioFormatError("Ogg/Opus stream lacks the OpusTags header")
                self._tags_seen = True
                continue
            x = self._dec.decode(packet)
            self._out_samples += x.size
            out.append(x)
        if eos:
            # end trimming: the last granule position says how many samples are real
            excess = self._out_samples - (granule - self._head.pre_skip)
            if out and 0 < excess <= out[-1].size:
                out[-1] = out[-1][:-excess]
            self._serial = None  # a chained stream may follow
        return out


class _WavStage:
    def __init__(self) -> None:
        self._parser = WavParser()
        self._pcm: _PcmStage | None = None

    @property
    def rate(self) -> int | None:
        return self._pcm.rate if self._pcm else None

    @property
    def description(self) -> str:
        return self._pcm.description if self._pcm else "WAV (reading header)"

    def feed(self, data: bytes) -> np.ndarray:
        payload = self._parser.feed(data)
        fmt = self._parser.format
        if self._pcm is None and fmt is not None:
            ch = f" ({fmt.channels} ch)" if fmt.channels > 1 else ""
            self._pcm = _PcmStage(fmt.codec, fmt.channels, fmt.sample_rate,
                                  f"WAV {fmt.codec}{ch} @ {fmt.sample_rate} Hz")
        if not payload or self._pcm is None:
            return _EMPTY
        return self._pcm.feed(payload)


class _WebmStage:
    def __init__(self) -> None:
        self._parser = WebmParser()
        self._dec: _OpusDecoder | None = None

    @property
    def rate(self) -> int | None:
        return OPUS_RATE if self._parser.head else None

    @property
    def description(self) -> str:
        name = "Matroska/Opus" if self._parser.doc_type == "matroska" else "WebM/Opus"
        return f"{name} @ {OPUS_RATE} Hz" if self._parser.head else f"{name} (reading header)"

    def feed(self, data: bytes) -> np.ndarray:
        packets = self._parser.feed(data)
        if not packets:
            return _EMPTY
        if self._dec is None:
            assert self._parser.head is not None
            self._dec = _OpusDecoder(self._parser.head.pre_skip)
        parts = [self._dec.decode(p) for p in packets]
        return np.concatenate(parts)


class _ContainerStage:
    """Sniffs the first bytes, then hands everything to the WAV/Ogg/WebM stage."""

    def __init__(self) -> None:
        self._head = b""
        self._inner: _Stage | None = None

    @property
    def rate(self) -> int | None:
        return self._inner.rate if self._inner else None

    @property
    def description(self) -> str:
        return self._inner.description if self._inner else "container (detecting)"

    def feed(self, data: bytes) -> np.ndarray:
        if self._inner is None:
            self._head += data
            kind = sniff(self._head)
            if kind is None:
                return _EMPTY
            data, self._head = self._head, b""
            stages: dict[str, Callable[[], _Stage]] = {
                "wav": _WavStage, "ogg": lambda: _OggOpusStage("Ogg/Opus", False), "webm": _WebmStage}
            self._inner = stages[kind]()
        return self._inner.feed(data)


class AudioDecoder:
    """Incremental decoder: ``feed`` bytes, get float32 mono samples at ``target_rate``."""

    def __init__(self, stage: _Stage, target_rate: int = TARGET_RATE) -> None:
        self._stage = stage
        self._target = target_rate
        self._resampler: soxr.ResampleStream | None = None
        self._passthrough = False
        self._in_samples = 0
        self._failed: str | None = None
        self._flushed = False

    @property
    def input_seconds(self) -> float:
        rate = self._stage.rate
        return self._in_samples / rate if rate else 0.0

    @property
    def input_rate(self) -> int | None:
        return self._stage.rate

    @property
    def description(self) -> str:
        return self._stage.description

    def feed(self, data: bytes) -> np.ndarray:
        if self._flushed:
            raise RuntimeError("AudioDecoder.feed() after flush()")
        if self._failed:
            raise AudioFormatError(self._failed)
        if not data:
            return _EMPTY
        return self._guard(lambda: self._stage.feed(bytes(data)), last=False)

    def flush(self) -> np.ndarray:
        if self._failed:
            raise AudioFormatError(self._failed)
        if self._flushed:
            return _EMPTY
        self._flushed = True
        return self._guard(lambda: _EMPTY, last=True)

    def _guard(self, step: Callable[[], np.ndarray], last: bool) -> np.ndarray:
        try:
            x = step()
            self._in_samples += x.size
            return self._resample(x, last)
        except AudioFormatError as e:
            self._failed = str(e)
            raise
        except Exception as e:  # PyAV/numpy errors on bad bytes: one error type at the boundary
            self._failed = f"cannot decode {self.description}: {type(e).__name__}: {e}"
            raise AudioFormatError(self._failed) from e

    def _resample(self, x: np.ndarray, last: bool) -> np.ndarray:
        if self._resampler is None and not self._passthrough:
            rate = self._stage.rate
            if rate is None or (x.size == 0 and not last):
                return _EMPTY
            if rate == self._target:
                self._passthrough = True
            else:
                self._resampler = soxr.ResampleStream(rate, self._target, 1, dtype="float32",
                                                      quality="HQ")
        if self._passthrough or self._resampler is None:
            return np.ascontiguousarray(x, dtype=np.float32)
        y = np.asarray(self._resampler.resample_chunk(np.ascontiguousarray(x, dtype=np.float32), last=last),
                       dtype=np.float32)
        return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)


def _check_rate(rate: object, what: str) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= _MAX_RATE:
        raise AudioFormatError(f"{what} must be a positive sample rate in Hz, got {rate!r}")
    return rate


def make_decoder(encoding: str | None, sample_rate: int | None, *,
                 target_rate: int = TARGET_RATE) -> AudioDecoder:
    """Decoder for Flux's ``encoding``/``sample_rate``; ``encoding=None`` = detect a container."""
    target = _check_rate(target_rate, "target_rate")
    stage: _Stage
    if encoding is None:
        stage = _ContainerStage()
    elif encoding == "opus":
        stage = _RawOpusStage()
    elif encoding == "ogg-opus":
        stage = _OggOpusStage("Ogg/Opus", True)
    elif encoding in ENCODINGS:
        if sample_rate is None:
            raise AudioFormatError(f"encoding {encoding} needs a sample_rate")
        rate = _check_rate(sample_rate, "sample_rate")
        stage = _PcmStage(encoding, 1, rate, f"{encoding} @ {rate} Hz")
    else:
        raise AudioFormatError(f"unsupported encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    return AudioDecoder(stage, target)
