"""Smart Turn v3.2 end-of-turn model (ONNX), shipped in this package.

Invariants (features must match pipecat's extractor exactly; see shared/docs/models.md):

* input audio is 16 kHz mono float32; only the **last** 8 s (128 000 samples) are used, shorter audio
  is zero-padded on the **left**;
* the whole 128 000-sample buffer (padding included) is normalised to zero mean / unit variance
  (``(x - mean) / sqrt(var + 1e-7)``), then turned into the Whisper log-mel with W = 8 s -> (80, 800);
* one ONNX run per call for the whole batch (``[batch, 80, 800]``); the output tensor ``logits``
  already holds P(complete) in [0, 1] (no extra sigmoid);
* ``score`` returns one float per request, in order; the transcript is not used by this model.

The model file is the one the ``pipecat-ai`` 1.14.0 wheel carries, unchanged (BSD-2-Clause, notice in
``data/SMART_TURN_LICENSE.txt``): installing pipecat for it would pull ~70 packages the server never
uses (numba, openai, Pillow ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from turnscribe.engines.mel import log_mel
from turnscribe.types.engine import SAMPLE_RATE, TurnRequest

__all__ = ["SmartTurn", "default_model_path"]

WINDOW_S = 8
WINDOW_SAMPLES = WINDOW_S * SAMPLE_RATE
N_FRAMES = WINDOW_S * 100
NORM_EPS = 1e-7
MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"


def default_model_path() -> Path:
    """Path of the packaged ``smart-turn-v3.2-cpu.onnx``."""
    path = Path(__file__).resolve().parent / "data" / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{MODEL_FILE} is missing from the turnscribe package (expected at {path})")
    return path


def features(audio: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Smart Turn input features ``(80, 800)`` for the end of ``audio``."""
    x = np.asarray(audio, dtype=np.float32).reshape(-1)[-WINDOW_SAMPLES:]
    if x.shape[0] < WINDOW_SAMPLES:
        x = np.pad(x, (WINDOW_SAMPLES - x.shape[0], 0))
    x = (x - x.mean()) / np.sqrt(x.var() + NORM_EPS)
    return log_mel(x, N_FRAMES, 80)


class SmartTurn:
    """``TurnEngine`` over the Smart Turn v3.2 CPU ONNX model."""

    def __init__(self, model_path: str | Path | None = None, *, threads: int = 1) -> None:
        self.model_path = Path(model_path) if model_path is not None else default_model_path()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(self.model_path), sess_options=so, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name  # "input_features"
        self._output = self._session.get_outputs()[0].name  # "logits" (already a probability)

    def score(self, batch: Sequence[TurnRequest]) -> list[float]:
        if not batch:
            return []
        feats = np.stack([features(r.audio) for r in batch])
        probs = self._session.run([self._output], {self._input: feats})[0]
        return [float(np.clip(p, 0.0, 1.0)) for p in np.asarray(probs, dtype=np.float32).reshape(-1)]
