"""The one WAV reader of the clients and the tools: 16-bit PCM, as the test sets and callers send it."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Pcm16", "read_pcm16_wav"]


@dataclass(frozen=True, slots=True)
class Pcm16:
    """Little-endian 16-bit samples, interleaved when there are several channels."""

    data: bytes
    sample_rate: int
    channels: int = 1

    @property
    def seconds(self) -> float:
        return len(self.data) / (2 * self.channels * self.sample_rate)

    def mono_floats(self) -> np.ndarray:
        """The samples as float32 in [-1, 1), channels averaged."""
        x = np.frombuffer(self.data, dtype="<i2").astype(np.float32) / np.float32(32768.0)
        if self.channels > 1:
            x = x.reshape(-1, self.channels).mean(axis=1, dtype=np.float32)
        return x


def read_pcm16_wav(path: Path, *, sample_rate: int | None = None, mono: bool = True) -> Pcm16:
    """The samples of a PCM16 WAV file.

    Args:
        sample_rate: the rate the file must have (None: any).
        mono: whether the file must have one channel.

    Raises:
        ValueError: the file is not 16-bit PCM, or has another rate or channel count than asked.
        OSError, wave.Error: the file cannot be read as WAV.
    """
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        if width != 2 or (mono and channels != 1) or (sample_rate is not None and rate != sample_rate):
            want = f"{'mono ' if mono else ''}16-bit{f' {sample_rate} Hz' if sample_rate else ''} PCM"
            raise ValueError(f"{path}: need {want}, got {channels} ch, {8 * width} bit, {rate} Hz")
        return Pcm16(bytes(w.readframes(w.getnframes())), rate, channels)
