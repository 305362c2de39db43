"""Prometheus metrics: ``GET /metrics`` on the server's port (the Metrics object itself: tests/runtime)."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import pytest
import websockets
from helpers import metric_value as value
from servertools import make_server
from websockets.exceptions import InvalidStatus

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


def scrape(base: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read().decode()


def refuse(url: str, **kw: object) -> int:
    async def go() -> int:
        with pytest.raises(InvalidStatus) as e:
            await websockets.connect(url, **kw)  # type: ignore[arg-type]
        return e.value.response.status_code
    return asyncio.run(go())


def test_metrics_endpoint(server):
    status, ctype, text = scrape(server.http)
    assert status == 200 and ctype.startswith("text/plain; version=")
    assert "turnscribe_streams_open" in text and "turnscribe_audio_seconds_total" in text
    before = value(text, "turnscribe_streams_refused_total", reason="bad_request")
    assert refuse(server.url + Q + "&eot_threshold=2") == 400
    after = value(scrape(server.http)[2], "turnscribe_streams_refused_total", reason="bad_request")
    assert after >= 1 and after == before + 1


def test_refusal_reasons(keyed_server):
    assert refuse(keyed_server.url + Q) == 401
    assert refuse(keyed_server.url + "/v1/listen") == 404
    plain = urllib.request.Request(keyed_server.http + Q, headers={"Authorization": "Token k1"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(plain, timeout=5)
    e.value.close()  # an unread error response keeps its socket open, and server.close() waits on it
    assert e.value.code == 426
    text = scrape(keyed_server.http)[2]
    assert value(text, "turnscribe_streams_refused_total", reason="auth") >= 1
    assert value(text, "turnscribe_streams_refused_total", reason="not_found") >= 1
    assert value(text, "turnscribe_streams_refused_total", reason="not_websocket") >= 1


def test_refused_while_loading():
    srv = make_server(ready=False)
    try:
        assert refuse(srv.url + Q) == 503
        assert value(scrape(srv.http)[2], "turnscribe_streams_refused_total", reason="loading") == 1
    finally:
        srv.stop()
