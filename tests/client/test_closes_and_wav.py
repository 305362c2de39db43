"""The normal-close definition and the WAV reader."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from helpers import write_pcm_wav

from turnscribe.client.closes import is_normal_close
from turnscribe.client.wav import read_pcm16_wav


def test_normal_closes_are_1000_going_away_and_flux_empty_close_frame() -> None:
    assert is_normal_close(1000) and is_normal_close(1001) and is_normal_close(1005)
    for code in (1006, 1008, 1009, 1011, 4000, None):
        assert not is_normal_close(code), code


def test_wav_reader_gives_the_samples_and_checks_the_format(tmp_path: Path) -> None:
    pcm = np.array([0, 16384, -32768, 32767], dtype="<i2").tobytes()
    path = write_pcm_wav(tmp_path / "a.wav", pcm, 8000)
    got = read_pcm16_wav(path)
    assert got.data == pcm and got.sample_rate == 8000 and got.channels == 1
    assert got.seconds == pytest.approx(4 / 8000)
    assert got.mono_floats().tolist() == [0.0, 0.5, -1.0, 32767 / 32768]
    assert read_pcm16_wav(path, sample_rate=8000).data == pcm
    with pytest.raises(ValueError, match="16000 Hz"):
        read_pcm16_wav(path, sample_rate=16000)


def test_wav_reader_takes_several_channels_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(np.array([16384, 0, -16384, -16384], dtype="<i2").tobytes())
    with pytest.raises(ValueError, match="mono"):
        read_pcm16_wav(path)
    both = read_pcm16_wav(path, mono=False)
    assert both.channels == 2 and both.mono_floats().tolist() == [0.25, -0.5]
