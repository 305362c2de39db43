"""What a stream leaves in the logs when it ends: its usage record (``turnscribe.usage``) and the
one line that sums it up (``turnscribe.stream``), both with client text redacted as asked."""

from __future__ import annotations

import json
import logging

from turnscribe.core.session import Session
from turnscribe.server.state import FluxConnection
from turnscribe.wire.params import ListenParams, redacted

log = logging.getLogger("turnscribe.stream")
usage_log = logging.getLogger("turnscribe.usage")


def usage_record(request_id: str, params: ListenParams, audio_s: float, *, redact: bool) -> str:
    """The usage record written when a stream ends: what it used, and the labels (tags) and
    keyterms its client gave, each ``[REDACTED]`` under redact_usage (flux-protocol.md §2.1)."""
    shown = params.with_changes(redact_usage=redact)
    return json.dumps({"request_id": request_id, "model": params.model, "audio_seconds": round(audio_s, 3),
                       "keyterms": list(redacted(shown, params.keyterms)),
                       "tags": list(redacted(shown, params.tags)), "redact_usage": redact})


def log_usage(ws: FluxConnection, session: Session | None) -> None:
    """``session``: None when the stream failed before it had one."""
    assert ws.params is not None
    params = session.params if session is not None else ws.params  # Configure may change them
    audio_s = session.received_s if session is not None else 0.0
    redact = ws.redact_logs or params.redact_usage
    usage_log.info("stream %s usage %s", ws.request_id, usage_record(ws.request_id, params, audio_s,
                                                                      redact=redact))


def log_closed(ws: FluxConnection, session: Session | None, close_code: int | None, duration_s: float) -> None:
    """The one line that sums a stream up when it ends (fields of their own in JSON logs);
    ``close_code``: the one the stream chose, when the connection does not know its own."""
    audio_s = session.received_s if session is not None else 0.0
    turns = session.turn_index if session is not None else 0
    code = ws.close_code if ws.close_code is not None else close_code
    log.info("stream %s closed: %.1f s, %.1f s of audio, %d turn(s) ended, close code %s", ws.request_id,
             duration_s, audio_s, turns, code,
             extra={"request_id": ws.request_id, "duration_s": round(duration_s, 3),
                    "audio_s": round(audio_s, 3), "turns": turns, "close_code": code})
