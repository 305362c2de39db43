"""Bounds on what one client may send, each a server setting (``turnscribe serve --limit NAME=VALUE``).

Where each is enforced, and the wire form a client gets when it goes past it:

=========================  ========  ======================================================================
limit                      default   past it
=========================  ========  ======================================================================
max_query_bytes            16384     HTTP 414 + ``dg-error`` (before the upgrade)
max_keyterms               100       HTTP 400 in the query; ``ConfigureFailure`` in a Configure
max_keyterm_chars          100       same (Deepgram refuses a keyterm over 100 characters)
max_keyterm_total_chars    2000      same (all keyterms together; the decoder prompt is small)
max_tags                   32        HTTP 400
max_tag_chars              128       HTTP 400
max_text_frame_bytes       65536     ``Error`` ``MESSAGE_TOO_LARGE``, close 1009 (a Configure is a text frame)
max_binary_frame_bytes     4 MiB     ``Error`` ``MESSAGE_TOO_LARGE``, close 1009
max_backlog_s              30        nothing: the server stops reading the socket until it has caught up
                                     (a client sending faster than real time is throttled by TCP)
max_streams_per_key        0 (off)   HTTP 429 ``TOO_MANY_REQUESTS``
max_send_wait_s            10        a client that has not read a message for this long is closed (1008):
                                     what it has not read cannot pile up in the server
=========================  ========  ======================================================================

A frame far larger than its limit (over twice it) is refused by the WebSocket library itself with
close 1009 before turnscribe sees it, so that no client can make the server buffer it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "Limits", "parse_limit"]


@dataclass(frozen=True, slots=True)
class Limits:
    max_query_bytes: int = 16384
    max_keyterms: int = 100
    max_keyterm_chars: int = 100
    max_keyterm_total_chars: int = 2000
    max_tags: int = 32
    max_tag_chars: int = 128
    max_text_frame_bytes: int = 64 * 1024
    max_binary_frame_bytes: int = 4 * 1024 * 1024
    max_backlog_s: float = 30.0
    max_streams_per_key: int = 0
    max_send_wait_s: float = 10.0

    @property
    def websocket_max_size(self) -> int:
        """The frame size the WebSocket library accepts: past the larger frame limit, so an
        oversized frame gets turnscribe's Error, yet bounded."""
        return 2 * max(self.max_text_frame_bytes, self.max_binary_frame_bytes)

    def with_settings(self, settings: Iterable[str]) -> Limits:
        """These limits with ``NAME=VALUE`` settings applied; ValueError names a bad one."""
        changes: dict[str, int | float] = {}
        for item in settings:
            name, value = parse_limit(item)
            changes[name] = value
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


DEFAULT_LIMITS = Limits()
_FIELDS = {f.name: f.type for f in dataclasses.fields(Limits)}


def parse_limit(item: str) -> tuple[str, int | float]:
    """``"max_keyterms=50"`` -> ``("max_keyterms", 50)``; ValueError for an unknown name or a bad value."""
    name, sep, raw = item.partition("=")
    name = name.strip().replace("-", "_")
    if not sep or name not in _FIELDS:
        raise ValueError(f"--limit takes NAME=VALUE with NAME one of {', '.join(_FIELDS)}; got {item!r}")
    try:
        value: int | float = float(raw) if _FIELDS[name] in (float, "float") else int(raw)
    except ValueError:
        raise ValueError(f"--limit {name} needs a number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"--limit {name} must not be negative")
    return name, value
