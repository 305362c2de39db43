"""Prometheus metrics: the Metrics object itself, and ``GET /metrics`` on the server's port."""

from __future__ import annotations

import asyncio
import math
import time
import urllib.error
import urllib.request

import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from servertools import make_server
from websockets.exceptions import InvalidStatus

from turnscribe.runtime.metrics import Metrics

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} for every sample in an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def scrape(base: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read().decode()


def refuse(url: str, **kw: object) -> int:
    async def go() -> int:
        with pytest.raises(InvalidStatus) as e:
            await websockets.connect(url, **kw)  # type: ignore[arg-type]
        return e.value.response.status_code
    return asyncio.run(go())


def test_metrics_unit():
    m = Metrics()
    m.stream_opened("flux-general-en")
    m.stream_opened("flux-general-en")
    m.stream_closed()
    m.stream_refused("capacity")
    m.stream_error("IDLE_TIMEOUT")
    m.observe_update_lag(0.03, end_of_turn=False)
    m.observe_update_lag(0.2, end_of_turn=True)
    m.observe_batch("asr", 3, 0.012)
    m.set_queue_depth("asr", 5)
    m.job_dropped("asr", "superseded")
    body, ctype = m.render()
    text = body.decode()
    assert ctype.startswith("text/plain; version=")
    assert math.isnan(value(text, "turnscribe_cpu_seconds_per_audio_second"))  # no audio yet

    assert value(text, "turnscribe_streams_open") == 1
    assert value(text, "turnscribe_streams_total", model="flux-general-en") == 2
    assert value(text, "turnscribe_streams_refused_total", reason="capacity") == 1
    assert value(text, "turnscribe_streams_refused_total", reason="auth") == 0  # exported from the start
    assert value(text, "turnscribe_stream_errors_total", code="IDLE_TIMEOUT") == 1
    assert value(text, "turnscribe_update_lag_seconds_count") == 2
    assert value(text, "turnscribe_update_lag_seconds_sum") == pytest.approx(0.23)
    assert value(text, "turnscribe_update_lag_seconds_bucket", le="0.05") == 1
    assert value(text, "turnscribe_update_lag_seconds_bucket", le="0.005") == 0
    assert value(text, "turnscribe_update_lag_seconds_bucket", le="30.0") == 2
    assert value(text, "turnscribe_end_of_turn_lag_seconds_count") == 1
    assert value(text, "turnscribe_end_of_turn_lag_seconds_sum") == pytest.approx(0.2)
    assert value(text, "turnscribe_engine_batch_size_count", engine="asr") == 1
    assert value(text, "turnscribe_engine_batch_size_sum", engine="asr") == 3
    assert value(text, "turnscribe_engine_batch_size_bucket", engine="asr", le="2.0") == 0
    assert value(text, "turnscribe_engine_batch_size_bucket", engine="asr", le="4.0") == 1
    assert value(text, "turnscribe_engine_inference_seconds_sum", engine="asr") == pytest.approx(0.012)
    assert value(text, "turnscribe_engine_queue_depth", engine="asr") == 5
    assert value(text, "turnscribe_engine_jobs_dropped_total", engine="asr", reason="superseded") == 1

    t0 = time.process_time()
    while time.process_time() - t0 < 0.05:  # burn some CPU so the ratio is measurably positive
        pass
    m.add_audio(2.0)
    m.add_audio(0.5)
    text = m.render()[0].decode()
    assert value(text, "turnscribe_audio_seconds_total") == pytest.approx(2.5)
    ratio = value(text, "turnscribe_cpu_seconds_per_audio_second")
    assert 0.05 / 2.5 <= ratio < 1000
    with pytest.raises(ValueError):
        m.add_audio(-1.0)


def test_registries_are_separate():
    a, b = Metrics(), Metrics()
    a.stream_opened("m")
    assert value(b.render()[0].decode(), "turnscribe_streams_open") == 0
    assert value(a.render()[0].decode(), "turnscribe_streams_open") == 1


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
