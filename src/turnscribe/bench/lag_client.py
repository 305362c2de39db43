"""One load-bench client: a stream of a ``StreamSpec`` at real time (``turnscribe.client``), and what
it measured — the lag of every TurnInfo against the real-time schedule, errors, how it closed.

Lag = arrival − (t0 + ``audio_window_end``), t0 the time the stream's first 20 ms frame was due.
The frame that completes a window is due at ``t0 + end − 0.02``, so a lag can be as low as −20 ms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from turnscribe.bench.workload import FRAME_BYTES, StreamSpec
from turnscribe.client.stream import StreamResult, stream
from turnscribe.client.url import with_query
from turnscribe.runtime.driver import frames_of
from turnscribe.types.engine import SAMPLE_RATE


@dataclass
class ClientResult:
    index: int
    kind: str
    audio_s: float = 0.0                 # audio actually sent
    messages: int = 0
    update_lags: list[float] = field(default_factory=list)   # after warm-up
    eot_lags: list[float] = field(default_factory=list)      # after warm-up
    # audio_window_end - end of the newest word, per Update with words after warm-up: how stale
    # the live transcript is (partials shed under load make it grow; pauses inside turns too)
    word_ages: list[float] = field(default_factory=list)
    eot_total: int = 0                   # EndOfTurns incl. warm-up
    errors: list[str] = field(default_factory=list)          # Error codes (and client-side failures)
    refused: int | None = None           # HTTP status of a refused handshake
    refused_reason: str = ""
    close_code: int | None = None
    abnormal: bool = False
    last_window_end: float = 0.0
    send_late_max_s: float = 0.0         # worst lateness of a frame against its schedule


async def run_client(url: str, spec: StreamSpec, *, start_delay_s: float, warmup_s: float,
                     close_timeout_s: float, headers: Mapping[str, str] | None = None) -> ClientResult:
    """Stream ``spec`` after ``start_delay_s``; lags of windows ending before ``warmup_s`` are left out."""
    await asyncio.sleep(start_delay_s)
    full = with_query(url, [("model", spec.model), ("encoding", "linear16"), ("sample_rate", str(SAMPLE_RATE))])
    got = await stream(full, frames_of(spec.audio, FRAME_BYTES), bytes_per_second=2.0 * SAMPLE_RATE,
                       headers=headers, close_timeout_s=close_timeout_s)
    return measure(spec, got, warmup_s)


def measure(spec: StreamSpec, got: StreamResult, warmup_s: float) -> ClientResult:
    """The figures of one finished stream."""
    res = ClientResult(spec.index, spec.kind)
    if got.refusal is not None:
        res.refused, res.refused_reason = got.refusal.status, got.refusal.reason
        return res
    if got.connect_error is not None:  # an error of this stream, not of the bench
        res.errors.append(f"connect:{type(got.connect_error).__name__}")
        return res
    t0 = got.sent.started_at
    res.messages = len(got.arrivals)
    for arrival in got.arrivals:
        try:
            msg = arrival.document()
            if msg is None:
                continue
            typ = msg.get("type")
        except (ValueError, AttributeError):
            res.errors.append("client:UNPARSABLE_SERVER_MESSAGE")
            continue
        if typ == "TurnInfo" and t0 is not None:
            end = float(msg.get("audio_window_end", 0.0))
            res.last_window_end = max(res.last_window_end, end)
            is_eot = msg.get("event") == "EndOfTurn"
            res.eot_total += is_eot
            if end >= warmup_s:
                lag = arrival.at - (t0 + end)
                res.update_lags.append(lag)
                if is_eot:
                    res.eot_lags.append(lag)
                words = msg.get("words") or []
                if msg.get("event") == "Update" and words:
                    res.word_ages.append(end - max(float(w.get("end", 0.0)) for w in words))
        elif typ == "Error":
            res.errors.append(str(msg.get("code", "ERROR")))
    if got.close_timed_out:
        res.errors.append("client:CLOSE_TIMEOUT")
    res.audio_s = got.sent.audio_s
    res.send_late_max_s = got.sent.worst_lateness_s
    res.close_code = got.close_code
    res.abnormal = not got.normal_close
    return res
