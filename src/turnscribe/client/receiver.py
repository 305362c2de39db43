"""The receiver: every message the server sends, with the time it arrived."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

__all__ = ["Arrival", "Receiver"]


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message from the server and when it arrived (the event loop's clock, ``loop.time()``)."""

    at: float
    message: str | bytes

    def document(self) -> dict[str, Any] | None:
        """The message's JSON (an object, from a Flux server); None for a binary frame.

        Raises:
            ValueError: a text frame that is not JSON.
        """
        if isinstance(self.message, bytes):
            return None
        doc: dict[str, Any] = json.loads(self.message)
        return doc


@dataclass
class Receiver:
    """Reads a connection until it closes, keeping every message; ``on_message`` sees each as it comes."""

    ws: ClientConnection
    on_message: Callable[[Arrival], None] | None = None
    arrivals: list[Arrival] = field(default_factory=list)

    async def run(self) -> list[Arrival]:
        clock = asyncio.get_running_loop().time
        try:
            async for raw in self.ws:
                arrival = Arrival(clock(), raw)
                self.arrivals.append(arrival)
                if self.on_message is not None:
                    self.on_message(arrival)
        except ConnectionClosed:  # an abnormal close: the close code says how
            pass
        return self.arrivals
