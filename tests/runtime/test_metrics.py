"""Metrics: every typed method shows in the Prometheus text, per server (own registry)."""

import math
import time

import pytest
from helpers import metric_value as value

from turnscribe.runtime.metrics import Metrics


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
    m.add_engine_cpu("asr", 0.25)
    m.add_engine_cpu("asr", -1e-9)  # clock noise: ignored
    m.observe_word_age(0.4)
    m.observe_word_age(-0.01)  # a word that ends at the edge counts as fresh
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
    assert value(text, "turnscribe_engine_cpu_seconds_total", engine="asr") == pytest.approx(0.25)
    assert value(text, "turnscribe_partial_word_age_seconds_count") == 2
    assert value(text, "turnscribe_partial_word_age_seconds_sum") == pytest.approx(0.4)

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
