"""The turn table (§6.2): every legal transition, and illegal ones raise."""

import pytest

from turnscribe.core.machine import TRANSITIONS, IllegalTransition, Signal, TurnMachine, TurnState
from turnscribe.wire.events import TurnEvent


def test_full_cycle_with_resume():
    t = TurnMachine()
    seq = [Signal.START, Signal.EAGER, Signal.RESUME, Signal.EAGER, Signal.END]
    events = [t.fire(s) for s in seq]
    assert events == [TurnEvent.START_OF_TURN, TurnEvent.EAGER_END_OF_TURN, TurnEvent.TURN_RESUMED,
                      TurnEvent.EAGER_END_OF_TURN, TurnEvent.END_OF_TURN]
    assert t.state is TurnState.INITIAL


@pytest.mark.parametrize("state", list(TurnState))
@pytest.mark.parametrize("signal", list(Signal))
def test_every_pair_is_either_in_the_table_or_illegal(state, signal):
    t = TurnMachine()
    t.state = state
    if (state, signal) in TRANSITIONS:
        t.fire(signal)
        assert t.state is TRANSITIONS[(state, signal)][0]
    else:
        with pytest.raises(IllegalTransition, match=signal.value):
            t.fire(signal)
        assert t.state is state
