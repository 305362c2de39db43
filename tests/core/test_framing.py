"""Framer: client bytes to whole 80 ms frames, however the bytes are split."""

import numpy as np
import pytest

from turnscribe.core.framing import FRAME, Framer
from turnscribe.errors import AudioFormatError


def pcm(n: int) -> bytes:
    return (np.arange(n) % 1000).astype("<i2").tobytes()


def test_frames_are_whole_and_the_rest_waits_for_more_bytes():
    f = Framer("linear16", 16000)
    data = pcm(FRAME * 2 + 100)
    first = f.frames(data[:1000])
    assert first == [], "500 samples: no whole frame yet"
    rest = f.frames(data[1000:])
    assert [len(x) for x in rest] == [FRAME, FRAME]
    frames, tail = f.finish()
    assert frames == [] and len(tail) == 100 and f.ended


def test_the_split_does_not_change_the_samples():
    data = pcm(FRAME * 3 + 7)
    whole = Framer("linear16", 16000)
    a = whole.frames(data) + whole.finish()[0]
    split = Framer("linear16", 16000)
    b = [x for i in range(0, len(data), 333) for x in split.frames(data[i:i + 333])] + split.finish()[0]
    assert len(a) == len(b) == 3
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_bytes_that_do_not_decode_raise_and_nothing_ends():
    f = Framer(None, None)  # a container is expected: its header must come first
    with pytest.raises(AudioFormatError):
        f.frames(b"not a container at all" * 10)
    assert not f.ended
