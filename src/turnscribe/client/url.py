"""The URL a client streams to: a server's ``/v2/listen`` endpoint with the stream's query."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit, urlunsplit

from turnscribe.wire.params import LISTEN_PATH

__all__ = ["listen_url", "with_query"]


def listen_url(base: str, pairs: Iterable[tuple[str, str]] = ()) -> str:
    """``ws://host:port`` (any path or none: ``/v2/listen``) or a full ``.../v2/listen`` URL, with the
    query ``pairs`` in place of any query it had."""
    parts = urlsplit(base)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"--url must look like ws://host:port, got {base!r}")
    path = parts.path.rstrip("/") or LISTEN_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, urlencode(list(pairs)), ""))


def with_query(url: str, pairs: Iterable[tuple[str, str]]) -> str:
    """``url`` with ``pairs`` added to the query it may already have."""
    return f"{url}{'&' if '?' in url else '?'}{urlencode(list(pairs))}"
