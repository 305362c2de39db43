"""Metrics: every typed method shows in the Prometheus text, per server (own registry)."""

import math

from prometheus_client.parser import text_string_to_metric_families

from turnscribe.runtime.metrics import Metrics


def samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = m.render()
    assert content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(body.decode()) for s in fam.samples}


def test_every_method_is_exported_under_its_labels():
    m = Metrics()
    m.stream_opened("flux-general-en")
    m.stream_opened("flux-general-en")
    m.stream_closed()
    m.stream_refused("capacity")
    m.stream_error("INTERNAL_SERVER_ERROR")
    m.observe_update_lag(0.1, end_of_turn=False)
    m.observe_update_lag(0.3, end_of_turn=True)
    m.observe_batch("vad", 4, 0.002)
    m.set_queue_depth("asr_partial", 3)
    m.job_dropped("asr_partial", "shed")
    m.add_audio(2.0)
    got = samples(m)
    assert got[("turnscribe_streams_open", ())] == 1
    assert got[("turnscribe_streams_total", (("model", "flux-general-en"),))] == 2
    assert got[("turnscribe_streams_refused_total", (("reason", "capacity"),))] == 1
    assert got[("turnscribe_stream_errors_total", (("code", "INTERNAL_SERVER_ERROR"),))] == 1
    assert got[("turnscribe_update_lag_seconds_count", ())] == 2, "an EndOfTurn is also a TurnInfo"
    assert got[("turnscribe_end_of_turn_lag_seconds_count", ())] == 1
    assert got[("turnscribe_engine_batch_size_sum", (("engine", "vad"),))] == 4
    assert got[("turnscribe_engine_queue_depth", (("engine", "asr_partial"),))] == 3
    assert got[("turnscribe_engine_jobs_dropped_total", (("engine", "asr_partial"), ("reason", "shed")))] == 1
    assert got[("turnscribe_audio_seconds_total", ())] == 2.0
    cpu = got[("turnscribe_cpu_seconds_per_audio_second", ())]
    assert cpu >= 0 and m.cpu_seconds_per_audio_second() >= 0


def test_servers_do_not_share_samples_and_cost_is_nan_before_audio():
    a, b = Metrics(), Metrics()
    a.stream_opened("flux-general-en")
    assert samples(b)[("turnscribe_streams_open", ())] == 0
    assert math.isnan(b.cpu_seconds_per_audio_second())
