"""``redact_usage`` (flux-protocol.md §2.1, §7.2): client text kept out of logs and usage records.

Under ``redact_usage`` the text a client supplies — keyterms and tags, and, to be safe, any other
free text it put in the query or a control message — never reaches a log line; the transcript on
the wire is unchanged. ``/metrics`` never carries client text at all (its labels are models,
reasons, codes and engine names chosen by the server), so it needs nothing here.

Three rules make that hold:

- **Conservative detection.** A request or frame that mentions ``redact_usage`` in any form other
  than a clean ``false`` asks for redaction, even when it cannot be parsed: a client that meant to
  hide its keyterms must never have them logged because it misspelt a value.
- **Sticky per stream.** Once a stream asked for redaction its logs stay redacted to its end, even
  if a later Configure switches it off: the websockets library logs frames as they arrive, before
  the session applies them, and keyterms supplied while redaction was on may still be in force
  after. Switching off still takes effect on the wire (ConfigureSuccess reports it).
- **At the source for our logs, by a filter for the library's.** turnscribe's own log calls redact
  what they write; the websockets library's records (the request line, headers and frame previews
  it logs at DEBUG, exception tracebacks) pass through :class:`RedactingFilter`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus

from websockets.frames import Frame, Opcode

from turnscribe.wire.params import (
    ENCODINGS,
    MODELS,
    REDACT_VALUES,
    REDACTED,
    SAMPLE_RATES,
    normalise_language,
)

PARAM = "redact_usage"

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_BOOLEAN_PARAMS = ("numerals", "profanity_filter", "mip_opt_out", "redact_usage", "turnscribe_reasons")
_NUMERIC_PARAMS = ("eot_threshold", "eager_eot_threshold", "eot_timeout_ms")
# request and response headers whose values are the server's or the protocol's, never client text
_SAFE_HEADERS = frozenset({"host", "upgrade", "connection", "sec-websocket-version", "sec-websocket-key",
                           "sec-websocket-accept", "sec-websocket-extensions", "content-type",
                           "content-length", "date", "server", "dg-request-id"})
# websockets formats whose arguments are the library's own (states, our status lines), kept as they are
_SAFE_FORMATS = frozenset({"= connection is %s", "> HTTP/1.1 %d %s", "connection rejected (%d %s)",
                           "HTTP response sent (%d %s)"})


# ---------------------------------------------------------------------------------- detection


def mentions_redaction(text: str) -> bool:
    """Whether ``text`` names ``redact_usage`` at all, percent-encoded or not."""
    try:
        decoded = unquote_plus(text)
    except Exception:  # noqa: BLE001 -- undecodable: judge the raw text
        decoded = text
    return PARAM in decoded.lower() or PARAM in text.lower()


def query_asks_redaction(query: str) -> bool:
    """Whether a ``/v2/listen`` query turns redaction on, judged conservatively: every
    ``redact_usage`` it carries must be exactly ``false`` (any case) for the answer to be no;
    ``true``, a bad value, a repeat with any non-false value, or a mention that does not parse as
    a parameter all count as yes."""
    pairs = parse_qsl(query, keep_blank_values=True)
    values = [v for k, v in pairs if PARAM in k.strip().lower()]
    if not values:
        return mentions_redaction(query)  # e.g. "redact_usage" with no "=": unparseable, so redact
    return any(v.strip().lower() != "false" for v in values)


def target_asks_redaction(target: str) -> bool:
    """The same for a whole request target (path and query), as the HTTP request line gives it;
    a mention in the path itself counts too, since the path is then no Flux path we can trust."""
    path, _, query = target.partition("?")
    return mentions_redaction(path) or query_asks_redaction(query)


def frame_asks_redaction(text: str) -> bool:
    """Whether a text frame turns redaction on: a JSON object with any ``redact_usage`` that is not
    ``false`` or ``null`` (a Configure). Text that is not a JSON object counts as yes when it
    mentions ``redact_usage`` at all (it cannot be applied, but it must not be logged either)."""
    pairs: list[tuple[str, Any]] = []

    def keep_pairs(kv: list[tuple[str, Any]]) -> dict[str, Any]:
        pairs.extend(kv)
        return dict(kv)

    try:
        doc = json.loads(text, object_pairs_hook=keep_pairs)
    except ValueError:
        return mentions_redaction(text)
    if not isinstance(doc, dict):
        return mentions_redaction(text)
    # every key of every nested object, duplicates included: json.loads alone keeps only the last
    return any(k == PARAM and v is not False and v is not None for k, v in pairs)


# ---------------------------------------------------------------------------------- rewriting


def _safe_value(name: str, value: str) -> bool:
    """Whether a query value is one of the protocol's own (an enum, number or boolean), not text
    the client made up, and so may stay in a redacted log line."""
    if name == "model":
        return value in MODELS
    if name == "encoding":
        return value in ENCODINGS
    if name == "sample_rate":
        return value in {str(r) for r in SAMPLE_RATES}
    if name == "redact":
        return value in REDACT_VALUES
    if name in _BOOLEAN_PARAMS:
        return value.lower() in ("true", "false")
    if name in _NUMERIC_PARAMS:
        return _NUMBER.fullmatch(value) is not None
    if name == "language_hint":
        try:
            normalise_language(value)
        except ValueError:
            return False
        return True
    return False  # keyterm, tag, and any unknown parameter


def _known_name(name: str) -> bool:
    return name in ("model", "encoding", "sample_rate", "redact", "language_hint", "keyterm", "tag",
                    *_BOOLEAN_PARAMS, *_NUMERIC_PARAMS)


def redact_query(query: str) -> str:
    """``query`` fit for a redacted log line: keyterms, tags, unknown parameter names and any value
    that is not one of the protocol's own become ``[REDACTED]``; the rest stays, for debugging."""
    out = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown_name = name if _known_name(name) else REDACTED
        shown_value = value if _safe_value(name, value) else REDACTED
        out.append(f"{quote(shown_name, safe='[]')}={quote(shown_value, safe='[]')}")
    return "&".join(out)


def redact_target(target: str) -> str:
    """A request target (path and query) fit for a redacted log line."""
    path, sep, query = target.partition("?")
    shown_path = REDACTED if mentions_redaction(path) else path
    return shown_path + (sep + redact_query(query) if sep else "")


def exception_summary(exc: BaseException) -> str:
    """A traceback with every exception message left out (only their types and the frames): what a
    redacted log may say about a failure, since messages may quote client text."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:  # the chain, innermost cause last
        seen.add(id(current))
        parts.append("".join(traceback.format_tb(current.__traceback__)) +
                     f"{type(current).__module__}.{type(current).__qualname__}: {REDACTED}")
        current = current.__cause__ or current.__context__
    return "\n(caused by)\n".join(parts)


def redacted_frame(frame: Frame) -> str:
    """A frame as websockets would log it, its payload left out."""
    return f"{frame.opcode.name} {REDACTED} [{len(frame.data)} bytes]"


# ---------------------------------------------------------------------------------- logging


def _connection(record: logging.LogRecord) -> object | None:
    """The connection a websockets record is about (websockets puts it in ``extra``)."""
    return getattr(record, "websocket", None)


def _redacting(conn: object | None) -> bool:
    if conn is None:
        return False
    try:
        return bool(getattr(conn, "redact_logs", False))
    except ReferenceError:  # the connection is gone: we can no longer tell, so redact
        return True


def _mark(conn: object | None) -> None:
    if conn is None:
        return
    with contextlib.suppress(ReferenceError, AttributeError):
        conn.redact_logs = True  # type: ignore[attr-defined]


def _record_text(record: logging.LogRecord) -> str:
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 -- a record that cannot be formatted: judge its parts
        text = f"{record.msg} {record.args}"
    if record.exc_info and record.exc_info[1] is not None:
        text += "".join(traceback.format_exception(record.exc_info[1]))
    return text


def _finish(record: logging.LogRecord, message: str) -> None:
    """Replace the record's message (already formatted) and any exception by their redacted forms."""
    if record.exc_info and record.exc_info[1] is not None:
        message += "\n" + exception_summary(record.exc_info[1])
    record.msg, record.args = message, ()
    record.exc_info, record.exc_text = None, None


def _redact_args(record: logging.LogRecord) -> str:
    """The record's message with the client text in its arguments left out; the formats are the
    ones websockets uses (request line, header lines, frame previews)."""
    args = record.args if isinstance(record.args, tuple) else ()
    msg = str(record.msg)
    if msg in _SAFE_FORMATS:
        return record.getMessage()
    if msg == "< %s %s %s" and len(args) == 3:  # the request line
        return msg % (args[0], redact_target(str(args[1])), args[2])
    if msg in ("< %s: %s", "> %s: %s") and len(args) == 2:  # a header
        name = str(args[0])
        return msg % (name, args[1] if name.lower() in _SAFE_HEADERS else REDACTED)
    if msg in ("< %s", "> %s") and len(args) == 1 and isinstance(args[0], Frame):
        return msg % redacted_frame(args[0])
    # any other shape: numbers (status codes, sizes) stay, every other argument goes
    kept = tuple(a if isinstance(a, (int, float)) else REDACTED for a in args)
    try:
        return msg % kept if kept else msg
    except (TypeError, ValueError):
        return f"{msg.split('%', 1)[0].rstrip()} [{REDACTED}]"


def _asks_redaction(record: logging.LogRecord) -> bool:
    """Whether this record, on a stream not yet redacted, itself asks for redaction: a request line
    or incoming frame that turns it on, or anything else that mentions it."""
    args = record.args if isinstance(record.args, tuple) else ()
    if record.msg == "< %s %s %s" and len(args) == 3:
        return target_asks_redaction(str(args[1]))
    if record.msg in ("< %s", "> %s") and len(args) == 1 and isinstance(args[0], Frame):
        frame = args[0]
        if frame.opcode not in (Opcode.TEXT, Opcode.CONT):  # audio, pings, close: no control text
            return False
        # a frame is judged as JSON, so a Configure (or our ConfigureSuccess) saying
        # "redact_usage": false leaves a stream that never asked for redaction as it was
        return frame_asks_redaction(bytes(frame.data).decode("utf-8", "replace"))
    return mentions_redaction(_record_text(record))


_CREDENTIAL_HEADERS = ("authorization", "sec-websocket-protocol")


def scrub_credential(name: str, value: str) -> str:
    """A credential header's value as it may be logged: the scheme (``Token``, ``Bearer``) or the
    subprotocol names stay, the key or token after them never does."""
    if name.lower() == "authorization":
        scheme, _, secret = value.strip().partition(" ")
        return f"{scheme} {REDACTED}" if secret else REDACTED
    parts = [p.strip() for p in value.split(",")]
    out = [REDACTED if i > 0 and parts[i - 1].lower() in ("token", "bearer") else p for i, p in enumerate(parts)]
    return ", ".join(out)


def _scrub_credentials(record: logging.LogRecord) -> None:
    """API keys never reach a log, on any stream, at any level (websockets logs every header at DEBUG)."""
    args = record.args if isinstance(record.args, tuple) else ()
    if record.msg in ("< %s: %s", "> %s: %s") and len(args) == 2 and str(args[0]).lower() in _CREDENTIAL_HEADERS:
        record.args = (args[0], scrub_credential(str(args[0]), str(args[1])))


class RedactingFilter(logging.Filter):
    """Rewrites the websockets library's records about streams under ``redact_usage``; every record
    passes (redacted or not). A record that asks for redaction marks its connection, so the headers
    and frames logged after it are redacted too. Credentials are scrubbed from every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub_credentials(record)
        conn = _connection(record)
        if not _redacting(conn):
            if not _asks_redaction(record):
                return True
            _mark(conn)
        _finish(record, _redact_args(record))
        return True


_FILTER = RedactingFilter()


def install(logger: logging.Logger) -> logging.Logger:
    """Put the redacting filter on ``logger`` (once, however many servers share it)."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def redacted_log(log: Callable[..., None], redact: bool, msg: str, *args: object,
                 exc: BaseException | None = None, extra: Mapping[str, object] | None = None) -> None:
    """Log ``msg`` with ``exc`` the usual way, or, under redaction, with a traceback that leaves the
    exception messages out (they may quote client text); ``extra``: fields of the record."""
    if exc is None:
        log(msg, *args, extra=extra)
    elif redact:
        log(msg + "\n%s", *args, exception_summary(exc), extra=extra)
    else:
        log(msg, *args, exc_info=exc, extra=extra)
