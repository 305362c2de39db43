"""turnscribe's exception hierarchy; each wire error carries its Flux outcome.

    TurnscribeError
    ├── HandshakeError            refused before the WebSocket upgrade (HTTP status + err_code)
    │   ├── BadRequest            400 "Bad Request" (query parameters, §2.2)
    │   ├── Unauthorized          401 INVALID_AUTH (§3)
    │   ├── NotFound              404 NOT_FOUND
    │   ├── ForbiddenOrigin       403 FORBIDDEN (a browser Origin not in --allowed-origin)
    │   ├── UriTooLong            414 URI_TOO_LONG (the query is over max_query_bytes)
    │   └── TooManyStreams        429 TOO_MANY_REQUESTS (an API key over max_streams_per_key)
    ├── StreamError               fatal on an open stream: Error message + close code (§5.6, §8)
    │   ├── UnparsableMessage     UNPARSABLE_CLIENT_MESSAGE, 1008
    │   ├── AudioFormatError      UNSUPPORTED_AUDIO_FORMAT, 1008
    │   ├── MessageTooLarge       MESSAGE_TOO_LARGE, 1009 (a frame over its limit, wire/limits.py)
    │   ├── IdleTimeout           IDLE_TIMEOUT, 1011
    │   ├── InternalError         INTERNAL_SERVER_ERROR, 1011
    │   └── Overloaded            SERVICE_UNAVAILABLE, 1011 (the stream fell too far behind real time)
    └── ConfigureRejected         non-fatal: ConfigureFailure (code, description) (§5.4)

Peer mistakes never crash the server: the session records them and emits the wire form.
"""

from __future__ import annotations


class TurnscribeError(Exception):
    """Base of every error turnscribe raises on purpose."""


class HandshakeError(TurnscribeError):
    status: int = 400
    err_code: str = "Bad Request"


class BadRequest(HandshakeError):
    status = 400
    err_code = "Bad Request"


class Unauthorized(HandshakeError):
    status = 401
    err_code = "INVALID_AUTH"


class NotFound(HandshakeError):
    status = 404
    err_code = "NOT_FOUND"


class ForbiddenOrigin(HandshakeError):
    status = 403
    err_code = "FORBIDDEN"


class UriTooLong(HandshakeError):
    status = 414
    err_code = "URI_TOO_LONG"


class TooManyStreams(HandshakeError):
    status = 429
    err_code = "TOO_MANY_REQUESTS"


class StreamError(TurnscribeError):
    code: str = "INTERNAL_SERVER_ERROR"
    close_code: int = 1011


class UnparsableMessage(StreamError):
    code = "UNPARSABLE_CLIENT_MESSAGE"
    close_code = 1008


class AudioFormatError(StreamError):
    code = "UNSUPPORTED_AUDIO_FORMAT"
    close_code = 1008


class MessageTooLarge(StreamError):
    code = "MESSAGE_TOO_LARGE"
    close_code = 1009


class IdleTimeout(StreamError):
    code = "IDLE_TIMEOUT"
    close_code = 1011


class InternalError(StreamError):
    code = "INTERNAL_SERVER_ERROR"
    close_code = 1011


class Overloaded(StreamError):
    code = "SERVICE_UNAVAILABLE"
    close_code = 1011


class ConfigureRejected(TurnscribeError):
    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
