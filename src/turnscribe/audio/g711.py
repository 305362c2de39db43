"""G.711 µ-law and A-law expansion by 256-entry lookup tables.

Invariants:
- ``ULAW_TO_INT16`` / ``ALAW_TO_INT16`` are read-only int16 arrays of length 256 built once at
  import from the ITU-T G.711 expansion formulas (the classic Sun ``g711.c`` ones), so
  ``table[code]`` is the 16-bit linear value of that code byte.
- ``expand_*`` never fail: every byte value is a valid code. Output is float32 in [-1, 1)
  (the int16 value divided by 32768).
- No dependency on the deprecated ``audioop`` module.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ALAW_TO_INT16", "ULAW_TO_INT16", "expand_alaw", "expand_ulaw"]


def _ulaw_value(code: int) -> int:
    u = ~code & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    t = ((mantissa << 3) + 0x84) << exponent
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw_value(code: int) -> int:
    a = code ^ 0x55
    t = (a & 0x0F) << 4
    seg = (a & 0x70) >> 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _table(fn: object) -> np.ndarray:
    values = np.array([fn(c) for c in range(256)], dtype=np.int16)  # type: ignore[operator]
    values.setflags(write=False)
    return values


ULAW_TO_INT16: np.ndarray = _table(_ulaw_value)
ALAW_TO_INT16: np.ndarray = _table(_alaw_value)

_ULAW_F32 = (ULAW_TO_INT16.astype(np.float32) / np.float32(32768.0))
_ALAW_F32 = (ALAW_TO_INT16.astype(np.float32) / np.float32(32768.0))


def expand_ulaw(data: bytes | bytearray | memoryview) -> np.ndarray:
    """µ-law code bytes → float32 samples in [-1, 1)."""
    return _ULAW_F32[np.frombuffer(data, dtype=np.uint8)]


def expand_alaw(data: bytes | bytearray | memoryview) -> np.ndarray:
    """A-law code bytes → float32 samples in [-1, 1)."""
    return _ALAW_F32[np.frombuffer(data, dtype=np.uint8)]
