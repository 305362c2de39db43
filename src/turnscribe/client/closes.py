"""What a normal end of a stream is, as a client sees the close code.

* 1000: the server closed after ``CloseStream`` (or after a client's own close);
* 1001: going away — a draining server (SIGTERM) ends each live stream once no turn is open;
  the stream ends in order, every message sent, so it is no failure;
* 1005: no status in the close frame. Deepgram's Flux closes with an empty close frame, which
  every client reads as 1005 (docs/protocol.md, "Closing"), so a client pointed at Flux must take
  it as normal too. Only an orderly close frame reads as 1005: a dropped connection is 1006.

Everything else (1006, 1008, 1009, 1011, ..., or no close at all) is abnormal.
"""

from __future__ import annotations

NORMAL_CLOSES = frozenset({1000, 1001, 1005})


def is_normal_close(code: int | None) -> bool:
    """Whether a stream closed with ``code`` ended normally (None: it never closed, or never opened)."""
    return code in NORMAL_CLOSES
