"""Real engines (bundled models) behind a real in-process server; real speech from ../shared/data."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "server"))

from servertools import RunningServer, free_port

from turnscribe.config import Settings


@pytest.fixture(scope="module")
def real_server(real_engines) -> Iterator[RunningServer]:
    srv = RunningServer(Settings(port=free_port(), max_streams=0), engines=real_engines)
    yield srv
    srv.stop()
