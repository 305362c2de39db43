"""Client bytes to 80 ms frames of 16 kHz samples: the stream's decoder, and the samples left over
until a frame is whole."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from turnscribe.audio import make_decoder
from turnscribe.types.engine import SAMPLE_RATE, Audio

FRAME = 1280  # 80 ms at 16 kHz: the decision step's unit
FRAME_S = FRAME / SAMPLE_RATE  # ... in seconds


# What the framer's output becomes in the session's inbox, in order with the control messages:
@dataclass(frozen=True, slots=True)
class Frames:
    count: int    # whole frames, pushed into the audio history


@dataclass(frozen=True, slots=True)
class Tail:
    samples: int  # the last, partial frame at the end of the stream


@dataclass(frozen=True, slots=True)
class EndOfInput:
    pass


class Framer:
    def __init__(self, encoding: str | None, sample_rate: int | None) -> None:
        self._decoder = make_decoder(encoding, sample_rate)
        self._pcm = np.zeros(0, dtype=np.float32)  # decoded, not yet a whole frame
        self.ended = False                          # the input was flushed (end of stream)

    def frames(self, data: bytes) -> list[Audio]:
        """The whole frames ``data`` completes. Raises ``AudioFormatError`` for bytes that do not decode."""
        return self._cut(self._decoder.feed(data))

    def finish(self) -> tuple[list[Audio], Audio]:
        """End of input: the whole frames the decoder still held, then the last, partial frame."""
        frames = self._cut(self._decoder.flush())
        tail, self._pcm = self._pcm, np.zeros(0, dtype=np.float32)
        self.ended = True
        return frames, tail

    def _cut(self, samples: Audio) -> list[Audio]:
        if len(samples) == 0:
            return []
        buf = np.concatenate([self._pcm, samples]) if len(self._pcm) else samples
        n = len(buf) // FRAME
        frames = [buf[i * FRAME:(i + 1) * FRAME] for i in range(n)]
        self._pcm = buf[n * FRAME:].copy()
        return frames
