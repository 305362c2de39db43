"""The end-of-turn policy: from the fused confidence, the silence and the stream's thresholds to a
typed decision (flux-protocol.md §6.2). Pure: the session acts on what it returns."""

from __future__ import annotations

import enum

from turnscribe.core.machine import TurnState
from turnscribe.wire.params import Thresholds


class Decision(enum.Enum):
    HOLD = "hold"                   # keep listening
    EAGER = "eager"                 # EagerEndOfTurn
    END = "end"                     # EndOfTurn (model), after an eager end if eager mode is on
    EAGER_AND_END = "eager_end"     # both thresholds crossed in one frame: both go out back to back
    TIMEOUT = "timeout"             # EndOfTurn because the silence reached eot_timeout_ms


def decide(confidence: float, silence_s: float, th: Thresholds, state: TurnState) -> Decision:
    """In eager mode a model end is always preceded by an eager one."""
    eager_mode = th.eager_eot_threshold is not None and state is TurnState.ONGOING
    if silence_s * 1000 >= th.eot_timeout_ms:
        return Decision.TIMEOUT
    if th.eot_threshold < 1.0 and confidence >= th.eot_threshold:
        return Decision.EAGER_AND_END if eager_mode else Decision.END
    if eager_mode and th.eager_eot_threshold is not None and confidence >= th.eager_eot_threshold:
        return Decision.EAGER
    return Decision.HOLD
