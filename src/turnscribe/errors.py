"""turnscribe's exception hierarchy; each wire error carries its Flux outcome.

    TurnscribeError
    ├── HandshakeError            refused before the WebSocket upgrade (HTTP status + err_code)
    │   ├── BadRequest            400 "Bad Request" (query parameters, §2.2)
    │   ├── Unauthorized          401 INVALID_AUTH (§3)
    │   └── NotFound              404 NOT_FOUND
    ├── StreamError               fatal on an open stream: Error message + close code (§5.6, §8)
    │   ├── UnparsableMessage     UNPARSABLE_CLIENT_MESSAGE, 1008
    │   ├── AudioFormatError      UNSUPPORTED_AUDIO_FORMAT, 1008
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


class StreamError(TurnscribeError):
    code: str = "INTERNAL_SERVER_ERROR"
    close_code: int = 1011


class UnparsableMessage(StreamError):
    code = "UNPARSABLE_CLIENT_MESSAGE"
    close_code = 1008


class AudioFormatError(StreamError):
    code = "UNSUPPORTED_AUDIO_FORMAT"
    close_code = 1008


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
