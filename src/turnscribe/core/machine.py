"""The Flux turn state machine (flux-protocol.md §6.2) as one table.

This is the only place turn transitions live. ``TurnMachine.fire(signal)`` returns the
``TurnEvent`` to emit; an illegal (state, signal) pair raises ``IllegalTransition`` naming
both, so a bug in the decision logic can never put an impossible sequence on the wire.

    Initial --START--> TurnOngoing --EAGER--> AwaitingEnd --RESUME--> TurnOngoing
    TurnOngoing --END--> Initial          AwaitingEnd --END--> Initial
"""

from __future__ import annotations

import enum

from turnscribe.wire.events import TurnEvent


class TurnState(enum.Enum):
    INITIAL = "Initial"
    ONGOING = "TurnOngoing"
    AWAITING_END = "AwaitingEnd"


class Signal(enum.Enum):
    START = "start"
    EAGER = "eager"
    RESUME = "resume"
    END = "end"


TRANSITIONS: dict[tuple[TurnState, Signal], tuple[TurnState, TurnEvent]] = {
    (TurnState.INITIAL, Signal.START): (TurnState.ONGOING, TurnEvent.START_OF_TURN),
    (TurnState.ONGOING, Signal.EAGER): (TurnState.AWAITING_END, TurnEvent.EAGER_END_OF_TURN),
    (TurnState.AWAITING_END, Signal.RESUME): (TurnState.ONGOING, TurnEvent.TURN_RESUMED),
    (TurnState.ONGOING, Signal.END): (TurnState.INITIAL, TurnEvent.END_OF_TURN),
    (TurnState.AWAITING_END, Signal.END): (TurnState.INITIAL, TurnEvent.END_OF_TURN),
}


class IllegalTransition(RuntimeError):
    pass


class TurnMachine:
    def __init__(self) -> None:
        self.state = TurnState.INITIAL
        self.turn_index = 0

    @property
    def active(self) -> bool:
        return self.state is not TurnState.INITIAL

    def fire(self, signal: Signal) -> TurnEvent:
        try:
            self.state, event = TRANSITIONS[(self.state, signal)]
        except KeyError:
            raise IllegalTransition(f"no transition from {self.state.value} on {signal.value}") from None
        return event

    def advance_index(self) -> None:
        """Called once the EndOfTurn has been emitted (§6.3 inv. 4)."""
        self.turn_index += 1
