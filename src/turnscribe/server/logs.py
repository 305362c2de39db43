"""Log output: the usual text lines, or one JSON object per line (``turnscribe serve --log-format json``).

In JSON every line a stream's code writes carries that stream's ``request_id`` (the id of its
``dg-request-id`` header and of every message), whether it was passed explicitly (``extra``), comes
from the WebSocket library's connection logger, or from the context of the stream's task
(``REQUEST_ID``, set once per stream). Fields given through ``extra`` appear as they are, so the
line logged when a stream closes is a record of its own: duration, audio seconds, turns, close code.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["REQUEST_ID", "JsonFormatter", "configure_logging"]

REQUEST_ID: ContextVar[str | None] = ContextVar("turnscribe_request_id", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# attributes every LogRecord has; anything else on a record came from ``extra``
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "websocket"}


def _request_id(record: logging.LogRecord) -> str | None:
    rid = getattr(record, "request_id", None)
    if rid:
        return str(rid)
    ws = getattr(record, "websocket", None)  # websockets' connection logger adds the connection
    rid = getattr(ws, "request_id", None)
    return str(rid) if rid else REQUEST_ID.get()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = _request_id(record)
        if rid:
            doc["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in doc:
                doc[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Root logging to stderr in ``fmt`` (``text`` or ``json``). Like ``logging.basicConfig`` it
    leaves logging that is already set up alone (an embedding program's, or a test runner's)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())
