"""Shared test fixtures: where ../shared lives, small audio helpers."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared folder beside the repository (override with TURNSCRIBE_SHARED)."""
    return Path(os.environ.get("TURNSCRIBE_SHARED", REPO.parent / "shared")).resolve()


@pytest.fixture(scope="session")
def real_engines():
    """The bundled models, loaded once for every test that needs them."""
    from turnscribe.engines.registry import load_engines

    return load_engines()


@pytest.fixture(scope="module")
def real_server(real_engines):
    """A real in-process server on the bundled models (no stream limit), for one test module."""

    from servertools import RunningServer, free_port

    from turnscribe.server.config import Settings

    srv = RunningServer(Settings(port=free_port(), max_streams=0), engines=real_engines)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder not found at {path}")
    return path


def read_wav_int16(path: Path) -> tuple[np.ndarray, int]:
    """(int16 mono samples, sample rate) of a PCM16 WAV file."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").copy(), w.getframerate()
