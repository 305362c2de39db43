"""Prometheus metrics for one server, served as text on its own port at ``GET /metrics``.

Every :class:`Metrics` owns its own :class:`~prometheus_client.CollectorRegistry` (never the
process-global one), so several servers can live in one process — the tests run many — without
their samples mixing or their registrations colliding. Callers use the typed methods below and
never touch a prometheus object.

No label ever holds text a client supplied: models are validated before a stream is counted, and
reasons, codes and engine names are the server's own. So ``redact_usage`` (flux-protocol.md §2.1)
holds for ``/metrics`` by construction; a new label must keep it so (never a keyterm, tag, query
value or error message).

What an operator reads from each metric (all names carry the ``turnscribe_`` prefix):

``streams_open`` (gauge)
    Streams open right now: the load on this replica, and what a drain waits for.
``streams_total{model}`` (counter)
    Streams accepted, by model: traffic and model mix (``rate()`` gives new streams per second).
``streams_refused_total{reason}`` (counter)
    Handshakes refused before the upgrade. ``capacity`` means the replica is full (scale out);
    ``draining`` / ``loading`` are expected around deploys but should be brief; ``auth`` spikes point
    at a misconfigured client or a leaked/rotated key; ``bad_request`` / ``not_found`` at a client
    sending parameters or paths the server does not understand; ``not_websocket`` at plain HTTP
    requests to the streaming endpoint (a proxy dropping the Upgrade header).
``stream_errors_total{code}`` (counter)
    Streams that ended with a fatal Error message, by its code (``IDLE_TIMEOUT``,
    ``UNSUPPORTED_AUDIO_FORMAT``, ``INTERNAL_SERVER_ERROR``, …): client bugs versus server faults.
``update_lag_seconds`` (histogram)
    For every TurnInfo sent: wall time it was sent minus wall time the audio at its
    ``audio_window_end`` arrived — how far behind real time the transcript runs, server side only
    (network excluded). Rising quantiles mean the engines cannot keep up with the streams.
``end_of_turn_lag_seconds`` (histogram)
    The same, for EndOfTurn events only: how long after the speaker's audio arrived the turn was
    closed — the latency a voice agent waits before it may answer.
``engine_batch_size{engine}`` (histogram)
    Jobs per engine call. Batches near 1 under load mean batching is not happening; batches at
    the cap mean the engine is saturated.
``engine_queue_depth{engine}`` (gauge)
    Jobs waiting for an engine. A queue that keeps growing is the first sign of overload, before
    the lag shows it.
``engine_inference_seconds{engine}`` (histogram)
    Wall time of one engine call (one batch): the compute cost per batch, to size hardware and
    thread counts.
``engine_cpu_seconds_total{engine}`` (counter)
    CPU time of the engine calls: the calling worker thread's own time plus the time the model's
    native worker threads spent for it (``engines/cputime.py``). ``rate()`` of it over
    ``rate(audio_seconds_total)`` is what one second of a stream costs in each engine, the figure
    capacity is planned by; unlike ``engine_inference_seconds`` it does not grow when threads wait
    for a core.
``engine_jobs_dropped_total{engine, reason}`` (counter)
    Jobs thrown away without running (e.g. superseded by newer audio, or the stream closed, or
    too far behind): work shed under load.
``partial_word_age_seconds`` (histogram)
    For every Update that carries words: its ``audio_window_end`` minus the end of its newest
    word — how stale the live transcript is (it grows when partials are shed or come less often
    under load, and through the pauses inside a turn).
``audio_seconds_total`` (counter)
    Seconds of audio processed: throughput; ``rate()`` of it is how many real-time streams the
    replica is actually serving.
``cpu_seconds_per_audio_second`` (gauge, computed when scraped)
    Process CPU time (all threads, user + system) since this Metrics object was created, divided
    by the audio processed since then: the cost of one second of audio in CPU seconds — 0.25 means
    one core serves about four real-time streams. NaN until some audio has been processed. The
    CPU time is the whole process's, so with several servers in one process it covers them all.
"""

from __future__ import annotations

import math
import threading
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "turnscribe"

#: Lag buckets, 5 ms … 30 s.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Jobs per engine call.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
#: One engine call, 1 ms … 30 s.
INFERENCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: Refusal reasons exported as 0 from the start, so alerts on them have a series to watch.
REFUSAL_REASONS = ("capacity", "draining", "loading", "auth", "bad_request", "not_found", "not_websocket")


class Metrics:
    """One server's metrics in a registry of its own; see the module docstring for each metric."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._streams_open = Gauge("streams_open", "Streams open now.", namespace=PREFIX, registry=r)
        self._streams_total = Counter("streams_total", "Streams accepted, by model.", ["model"],
                                      namespace=PREFIX, registry=r)
        self._streams_refused = Counter("streams_refused_total", "Handshakes refused, by reason.",
                                        ["reason"], namespace=PREFIX, registry=r)
        self._stream_errors = Counter("stream_errors_total", "Streams ended by a fatal error, by code.",
                                      ["code"], namespace=PREFIX, registry=r)
        self._update_lag = Histogram(
            "update_lag_seconds",
            "Server-side lag of each TurnInfo: sent minus arrival of the audio at its audio_window_end.",
            namespace=PREFIX, registry=r, buckets=LAG_BUCKETS)
        self._eot_lag = Histogram(
            "end_of_turn_lag_seconds",
            "Server-side lag of each EndOfTurn: sent minus arrival of the audio at its audio_window_end.",
            namespace=PREFIX, registry=r, buckets=LAG_BUCKETS)
        self._batch_size = Histogram("engine_batch_size", "Jobs per engine call.", ["engine"],
                                     namespace=PREFIX, registry=r, buckets=BATCH_BUCKETS)
        self._queue_depth = Gauge("engine_queue_depth", "Jobs waiting for an engine.", ["engine"],
                                  namespace=PREFIX, registry=r)
        self._inference = Histogram("engine_inference_seconds", "Wall time of one engine call.",
                                    ["engine"], namespace=PREFIX, registry=r, buckets=INFERENCE_BUCKETS)
        self._engine_cpu = Counter("engine_cpu_seconds_total", "CPU seconds of engine calls (native workers included).",
                                   ["engine"], namespace=PREFIX, registry=r)
        self._word_age = Histogram("partial_word_age_seconds",
                                   "Per Update with words: audio_window_end minus the end of its newest word.",
                                   namespace=PREFIX, registry=r, buckets=LAG_BUCKETS)
        self._dropped = Counter("engine_jobs_dropped_total", "Engine jobs dropped without running.",
                                ["engine", "reason"], namespace=PREFIX, registry=r)
        self._audio = Counter("audio_seconds_total", "Seconds of audio processed.",
                              namespace=PREFIX, registry=r)
        self._cpu_per_audio = Gauge(
            "cpu_seconds_per_audio_second",
            "Process CPU seconds per second of audio processed, since the metrics were created.",
            namespace=PREFIX, registry=r)

        self._cpu_start = time.process_time()
        self._audio_seconds = 0.0  # mirrors audio_seconds_total for the ratio (no private API reads)
        self._audio_lock = threading.Lock()  # engines add audio from worker threads
        self._cpu_per_audio.set_function(self.cpu_seconds_per_audio_second)
        for reason in REFUSAL_REASONS:
            self._streams_refused.labels(reason=reason)

    # -- streams --------------------------------------------------------------------------------

    def stream_opened(self, model: str) -> None:
        """A stream was accepted (after the upgrade) for ``model``."""
        self._streams_open.inc()
        self._streams_total.labels(model=model).inc()

    def stream_closed(self) -> None:
        """A stream opened with :meth:`stream_opened` has ended, however it ended."""
        self._streams_open.dec()

    def stream_refused(self, reason: str) -> None:
        """A handshake was refused before the upgrade (``capacity``, ``draining``, ``auth``, …)."""
        self._streams_refused.labels(reason=reason).inc()

    def stream_error(self, code: str) -> None:
        """A stream ended with a fatal Error message carrying ``code``."""
        self._stream_errors.labels(code=code).inc()

    def observe_update_lag(self, seconds: float, *, end_of_turn: bool) -> None:
        """A TurnInfo went out ``seconds`` after the audio at its audio_window_end arrived; EndOfTurn
        events count in both histograms."""
        self._update_lag.observe(seconds)
        if end_of_turn:
            self._eot_lag.observe(seconds)

    # -- engines --------------------------------------------------------------------------------

    def observe_batch(self, engine: str, size: int, seconds: float) -> None:
        """``engine`` ran one call on ``size`` jobs in ``seconds`` of wall time."""
        self._batch_size.labels(engine=engine).observe(size)
        self._inference.labels(engine=engine).observe(seconds)

    def add_engine_cpu(self, engine: str, seconds: float) -> None:
        """``engine``'s calls spent ``seconds`` of CPU (negative amounts, clock noise, are ignored)."""
        if seconds > 0.0:
            self._engine_cpu.labels(engine=engine).inc(seconds)

    def observe_word_age(self, seconds: float) -> None:
        """An Update went out whose newest word ends ``seconds`` before its audio_window_end."""
        self._word_age.observe(max(0.0, seconds))

    def set_queue_depth(self, engine: str, depth: int) -> None:
        """``depth`` jobs are waiting for ``engine`` now."""
        self._queue_depth.labels(engine=engine).set(depth)

    def job_dropped(self, engine: str, reason: str) -> None:
        """A job for ``engine`` was discarded without running, for ``reason``."""
        self._dropped.labels(engine=engine, reason=reason).inc()

    # -- audio and cost -------------------------------------------------------------------------

    def add_audio(self, seconds: float) -> None:
        """``seconds`` of audio were processed (must not be negative)."""
        self._audio.inc(seconds)  # raises ValueError on a negative amount, before the mirror moves
        with self._audio_lock:
            self._audio_seconds += seconds

    def cpu_seconds_per_audio_second(self) -> float:
        """Process CPU seconds since creation per audio second since creation; NaN before any audio."""
        with self._audio_lock:
            audio = self._audio_seconds
        if audio <= 0.0:
            return math.nan
        return (time.process_time() - self._cpu_start) / audio

    # -- exposition -----------------------------------------------------------------------------

    def render(self) -> tuple[bytes, str]:
        """The text exposition of every metric, and its Content-Type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
