"""The HTTP/WebSocket edge: routing, authentication, handshake validation (flux-protocol.md §2–§4).

One port serves ``/v2/listen`` (WebSocket), ``/healthz`` (process alive), ``/readyz``
(models loaded), ``/metrics`` (Prometheus text, turnscribe/metrics.py) and the demo page at ``/``
(server/static.py). Every refused handshake gets the wire form of §4.2 — status, ``dg-error``,
``dg-request-id`` and a JSON body — is never upgraded, and counts in
``turnscribe_streams_refused_total{reason}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import ssl
import uuid
from collections.abc import Callable
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from websockets import http11
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from turnscribe.errors import (
    ForbiddenOrigin,
    HandshakeError,
    NotFound,
    TooManyStreams,
    Unauthorized,
    UriTooLong,
)
from turnscribe.server import redaction, static
from turnscribe.server.config import Settings
from turnscribe.server.state import AppState, FluxConnection
from turnscribe.types.engine import Engines
from turnscribe.wire.params import LISTEN_PATH, parse_listen_params

log = logging.getLogger("turnscribe.server")

DRAIN_FLUSH_S = 10.0  # after the drain deadline: time for the last flushes and close handshakes
AUTH_SUBPROTOCOLS = ("token", "bearer")


def _json_response(status: int, doc: dict[str, object], *, extra: dict[str, str] | None = None) -> Response:
    body = json.dumps(doc).encode()
    headers = Headers()
    headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    for k, v in (extra or {}).items():
        headers[k] = v
    return Response(status, HTTPStatus(status).phrase, headers, body)


def error_response(status: int, err_code: str, message: str, request_id: str) -> Response:
    """§4.2: never upgraded; dg-error + dg-request-id headers and the REST error body."""
    safe = message.replace("\r", " ").replace("\n", " ")
    return _json_response(status, {"err_code": err_code, "err_msg": message, "request_id": request_id},
                          extra={"dg-error": safe, "dg-request-id": request_id})


def offered_subprotocols(request: Request) -> list[str]:
    values = request.headers.get_all("Sec-WebSocket-Protocol")
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def credentials(request: Request) -> str | None:
    """The key or token from ``Authorization: Token|Bearer X`` or the subprotocol list (§3)."""
    auth = request.headers.get("Authorization")
    if auth is not None:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() in AUTH_SUBPROTOCOLS and value.strip():
            return value.strip()
        return None
    protos = offered_subprotocols(request)
    for i, p in enumerate(protos[:-1]):
        if p.lower() in AUTH_SUBPROTOCOLS:
            return protos[i + 1]
    return None


def check_origin(request: Request, allowed: frozenset[str]) -> None:
    """A browser's page must be one of ``allowed`` (when any are configured): a key in the ``token``
    subprotocol could otherwise be used from any site that learnt it."""
    origin = request.headers.get("Origin")
    if allowed and origin is not None and origin.rstrip("/") not in allowed:
        raise ForbiddenOrigin(f"Origin {origin!r} may not open streams on this server.")


def check_auth(request: Request, keys: frozenset[str]) -> str | None:
    """The configured key the request carries (None when the server is open); raises Unauthorized."""
    if not keys:
        return None
    given = credentials(request)
    if given is None:
        raise Unauthorized("Missing or malformed credentials: send 'Authorization: Token <key>'.")
    # every key is compared, so the time taken does not tell which one (nearly) matched
    matches = [k for k in keys if hmac.compare_digest(given.encode(), k.encode())]
    if not matches:
        raise Unauthorized("Invalid credentials.")
    return matches[0]


def make_process_request(state: AppState) -> Callable[[ServerConnection, Request], Response | None]:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        assert isinstance(connection, FluxConnection)
        request_id = str(uuid.uuid4())
        connection.request_id = request_id
        if redaction.target_asks_redaction(request.path):  # before parsing: a refusal is redacted too
            connection.redact_logs = True
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return _json_response(*state.liveness())
        if url.path == "/metrics":
            body, content_type = state.metrics.render()
            headers = Headers()
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(body))
            return Response(200, "OK", headers, body)
        if url.path == "/readyz":
            status, doc = state.readiness()
            return _json_response(status, doc)
        page = static.serve(request, url.path)  # the demo page at / (server/static.py)
        if page is not None:
            return page
        try:
            if url.path != LISTEN_PATH:
                raise NotFound(f"No such endpoint {url.path!r}; Flux streams on {LISTEN_PATH}.")
            check_origin(request, state.settings.allowed_origins)
            key = check_auth(request, state.settings.api_keys)
            limits = state.settings.limits
            if len(url.query.encode()) > limits.max_query_bytes:
                raise UriTooLong(f"The query string is {len(url.query.encode())} bytes; the limit is "
                                 f"{limits.max_query_bytes}.")
            params = parse_listen_params(parse_qsl(url.query, keep_blank_values=True), limits)
            if state.settings.decision_reasons:  # --decision-reasons: every stream gets them
                params = params.with_changes(decision_reasons=True)
            connection.params = params
        except HandshakeError as exc:
            log_refusal(connection, exc, url.query)
            state.metrics.stream_refused("auth" if isinstance(exc, Unauthorized)
                                         else "not_found" if isinstance(exc, NotFound)
                                         else "too_long" if isinstance(exc, UriTooLong)
                                         else "origin" if isinstance(exc, ForbiddenOrigin) else "bad_request")
            return error_response(exc.status, exc.err_code, str(exc), request_id)
        if state.draining.is_set():
            state.metrics.stream_refused("draining")
            return error_response(503, "SERVICE_UNAVAILABLE", "The server is shutting down; connect to "
                                  "another replica.", request_id)
        if not state.ready:
            state.metrics.stream_refused("loading")
            return error_response(503, "SERVICE_UNAVAILABLE", "Models are still loading; retry shortly.",
                                  request_id)
        if "upgrade" not in request.headers.get("Connection", "").lower():
            state.metrics.stream_refused("not_websocket")
            return error_response(426, "Bad Request", "This endpoint only speaks WebSocket.", request_id)
        weight = state.settings.stream_weight(params.multilingual)
        if not state.fits(weight):
            state.metrics.stream_refused("capacity")
            return error_response(503, "SERVICE_UNAVAILABLE", f"The server is at capacity ({state.settings.max_streams} "
                                  f"streams' worth of compute; a {params.model} stream weighs {weight:g}); retry "
                                  "or connect to another replica.", request_id)
        per_key = state.settings.limits.max_streams_per_key
        if key is not None and per_key and state.admitted_by_key[key] >= per_key:
            state.metrics.stream_refused("key_limit")
            refusal = TooManyStreams(f"This API key already has {per_key} open streams (the limit per key).")
            return error_response(refusal.status, refusal.err_code, str(refusal), request_id)
        admit(state, connection, key, weight)
        return None

    return process_request


def log_refusal(connection: FluxConnection, exc: HandshakeError, query: str) -> None:
    """Log a refused handshake; under redact_usage without its reason, which may quote client text
    (the client still gets it in dg-error), and with the query's client text left out."""
    if connection.redact_logs:
        log.info("refused handshake %s: %s (reason redacted: redact_usage) query %s",
                 connection.request_id, exc.status, redaction.redact_query(query))
    else:
        log.info("refused handshake %s: %s %s", connection.request_id, exc.status, exc)


def start_work(state: AppState, engines: Engines) -> None:
    """Make ``engines`` the server's and start where their work runs (``settings.scheduler``)."""
    from turnscribe.runtime.lanes import BatchedWork, InlineWork

    loop = asyncio.get_running_loop()
    s = state.settings
    state.engines = engines
    if s.scheduler == "inline":
        state.work = InlineWork(engines, loop, state.executor, state.metrics)
    else:
        state.work = BatchedWork(engines, loop, threads=s.compute_threads, metrics=state.metrics,
                                 stall_s=s.engine_timeout_s or None)


def admit(state: AppState, connection: ServerConnection, key: str | None = None, weight: float = 1.0) -> None:
    """Count the stream (``weight`` against ``max_streams``, one against its API key's share) until
    its connection closes, whether or not the upgrade completes (a slot can never leak)."""
    state.admitted += 1
    state.load += weight
    if key is not None:
        state.admitted_by_key[key] += 1

    async def release() -> None:
        try:
            await connection.wait_closed()
        finally:
            state.admitted -= 1
            state.load = max(0.0, state.load - weight)
            if key is not None:
                state.admitted_by_key[key] -= 1
                if state.admitted_by_key[key] <= 0:
                    del state.admitted_by_key[key]

    task = asyncio.get_running_loop().create_task(release())
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


def process_response(connection: ServerConnection, request: Request, response: Response) -> Response:
    assert isinstance(connection, FluxConnection)
    if connection.request_id and "dg-request-id" not in response.headers:
        response.headers["dg-request-id"] = connection.request_id
    return response


def select_subprotocol(connection: ServerConnection, subprotocols: object) -> Subprotocol | None:
    """Browsers authenticate with ``token, <key>``: the server must echo ``token`` (§3)."""
    for p in subprotocols:  # type: ignore[attr-defined]
        if str(p).lower() in AUTH_SUBPROTOCOLS:
            return Subprotocol(str(p))
    return None


async def drain(state: AppState, timeout_s: float | None = None) -> None:
    """Graceful shutdown (§8): refuse new streams at once (503); serve every open one until it
    ends, reaches a turn boundary or ``timeout_s`` passes (``settings.drain_timeout_s``); then
    flush it like CloseStream (every sample read is answered) and close it with 1001. Returns once
    every stream is closed (or a few seconds after the deadline)."""
    loop = asyncio.get_running_loop()
    timeout = state.settings.drain_timeout_s if timeout_s is None else timeout_s
    state.drain_deadline = loop.time() + timeout
    state.draining.set()
    give_up = state.drain_deadline + DRAIN_FLUSH_S
    while state.streams and (left := give_up - loop.time()) > 0:
        state.stream_ended.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.stream_ended.wait(), left)


async def start_server(state: AppState) -> Server:
    from turnscribe.server.connection import handle_stream

    s = state.settings
    # the request line must fit a query of max_query_bytes, so that a longer one gets our 414
    # (websockets reads its limit from this module global at every request)
    http11.MAX_LINE_LENGTH = max(http11.MAX_LINE_LENGTH, s.limits.max_query_bytes + 1024)

    async def handler(ws: ServerConnection) -> None:
        assert isinstance(ws, FluxConnection)
        await handle_stream(ws, state)

    return await serve(
        handler, s.host, s.port,
        process_request=make_process_request(state),
        process_response=process_response,
        select_subprotocol=select_subprotocol,
        create_connection=FluxConnection,
        max_size=s.limits.websocket_max_size,
        ping_interval=s.ping_interval_s, ping_timeout=s.ping_interval_s,
        # how long a close waits for the peer's close frame: a peer that answers no ping won't send one
        close_timeout=min(10.0, s.ping_interval_s / 2),
        compression=None,
        ssl=tls_context(s),
        logger=redaction.install(logging.getLogger("turnscribe.websockets")),
    )


def tls_context(s: Settings) -> ssl.SSLContext | None:
    """The server's TLS context when a certificate is configured (``--tls-cert``/``--tls-key``)."""
    if s.tls_cert is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(s.tls_cert, s.tls_key)
    return ctx
