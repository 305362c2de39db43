"""Fixtures: in-process servers with fake engines."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from servertools import Captured, RunningServer, make_server


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    srv = make_server(idle_timeout_s=1.0)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[RunningServer]:
    srv = make_server(api_keys=frozenset({"k1", "k2"}))
    yield srv
    srv.stop()


@pytest.fixture
def logs() -> Iterator[Captured]:
    """The server's logs at DEBUG: the websockets library's request lines and frames included."""
    logger = logging.getLogger("turnscribe")
    handler, level = Captured(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
