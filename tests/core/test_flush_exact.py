"""After CloseStream the last message answers every sample received, to the sample (issue: nothing
lost), whatever the length, encoding and rate."""

from __future__ import annotations

import numpy as np
import pytest

from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import InlineSession
from turnscribe.wire.events import TurnInfo
from turnscribe.wire.params import ListenParams


@pytest.mark.parametrize("samples", [1, 160, 12345, 16001, 19752])
def test_last_window_end_is_every_sample_linear16(samples: int) -> None:
    s = InlineSession(ListenParams(encoding="linear16", sample_rate=16000), fake_engines())
    pcm = (np.sin(np.arange(samples) / 5) * 8000).astype("<i2").tobytes()
    for off in range(0, len(pcm), 2222):  # frames that split samples
        s.receive_audio(pcm[off:off + 2222])
    s.receive_text('{"type":"CloseStream"}')
    last = [e for e in s.events_to_send() if isinstance(e, TurnInfo)][-1]
    assert last.audio_window_end == samples / 16000


def test_last_window_end_is_every_sample_mulaw_8k() -> None:
    s = InlineSession(ListenParams(encoding="mulaw", sample_rate=8000), fake_engines())
    data = bytes(range(256)) * 40 + b"\x11" * 7
    s.receive_audio(data)
    s.receive_text('{"type":"CloseStream"}')
    last = [e for e in s.events_to_send() if isinstance(e, TurnInfo)][-1]
    assert last.audio_window_end == len(data) / 8000
