"""Window classes of the Whisper engines: the padded length a request's audio is decoded in. Here,
free of any model library, so the scheduler's lanes can group requests by input shape."""

from __future__ import annotations

import math

# Shorter windows make greedy decoding loop (models.md pitfall 1).
MIN_WINDOW_S = 10.0
TAIL_PAD_S = 1.0       # at least this much trailing silence inside the window
MAX_WINDOW_S = 30.0    # Whisper's positional table
WINDOW_STEP_S = 1.0    # window lengths come in classes of this step ...
SHORT_WINDOW_STEP_S = 2.0  # ... short (live partial) ones in coarser classes: more streams share one batch
# Live refreshes of a partial transcript are redrawn by the next decode and capped in tokens, so
# they take the loop risk of shorter windows for an encoder that costs in proportion to the window
# (tiny.en int8: 10 ms at 4 s, 29 ms at 10 s, one core). Decodes a decision reads (a turn's start,
# a pause) keep the long window: the guards' no-speech levels were measured with it.
PARTIAL_MIN_WINDOW_S = 4.0
PARTIAL_TAIL_PAD_S = 1.0
SHORT_FINAL_MIN_WINDOW_S = 6.0  # a short window of a final-quality decode


def window_seconds(duration_s: float, *, short: bool = False, final: bool = False) -> float:
    """The padded window audio of ``duration_s`` is decoded in: at least MIN_WINDOW_S with TAIL_PAD_S
    of trailing silence (``short``: PARTIAL_MIN_WINDOW_S and PARTIAL_TAIL_PAD_S), rounded up to a
    WINDOW_STEP_S class (``short``: SHORT_WINDOW_STEP_S above the floor), capped at MAX_WINDOW_S. It depends on the request alone, so a request
    decodes the same in any batch, and requests of one class share the encoder's input shape (one
    batched encode)."""
    if short:
        floor = SHORT_FINAL_MIN_WINDOW_S if final else PARTIAL_MIN_WINDOW_S
        need, step = max(floor, duration_s + PARTIAL_TAIL_PAD_S), SHORT_WINDOW_STEP_S
        classes = floor + math.ceil((need - floor) / step - 1e-9) * step
    else:
        need = max(MIN_WINDOW_S, duration_s + TAIL_PAD_S)
        classes = math.ceil(need / WINDOW_STEP_S - 1e-9) * WINDOW_STEP_S
    return float(min(MAX_WINDOW_S, classes))
