"""Whisper log-mel spectrogram in plain numpy (no torch, no librosa).

Contract (identical to openai-whisper ``log_mel_spectrogram`` / faster-whisper's
``FeatureExtractor``; see shared/docs/models.md "Whisper log-mel"):

* input: mono float32 in [-1, 1] at 16 kHz, *not* normalised here;
* the signal is zero-padded at the end (or truncated) to ``n_frames * HOP`` samples;
* STFT with a periodic Hann window of ``N_FFT`` = 400, hop ``HOP`` = 160, centred with reflect
  padding of 200 samples each side -> ``n_frames + 1`` frames, power spectrum, last frame dropped;
* ``n_mels`` Slaney-scale triangular filters over 0-8000 Hz with Slaney area normalisation
  (librosa ``mel(sr=16000, n_fft=400)`` defaults), computed here and cached per ``n_mels``;
* ``log10(max(x, 1e-10))``, clamped to ``max - 8`` over the whole padded window, then ``(x + 4) / 4``.

The output is float32 of shape ``(n_mels, n_frames)``. Maths is done in float64 (as pipecat's
Smart Turn extractor does), which also makes it within ~1e-6 of a float32 implementation.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from turnscribe.types.engine import SAMPLE_RATE

N_FFT = 400
HOP = 160
FRAMES_PER_SECOND = SAMPLE_RATE // HOP  # 100 mel frames per second

__all__ = ["FRAMES_PER_SECOND", "HOP", "N_FFT", "log_mel", "mel_filters"]


# Slaney mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(f: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f = np.asarray(f, dtype=np.float64)
    mel = f / _F_SP
    log_region = f >= _MIN_LOG_HZ
    mel[log_region] = _MIN_LOG_MEL + np.log(f[log_region] / _MIN_LOG_HZ) / _LOGSTEP
    return mel


def _mel_to_hz(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    m = np.asarray(m, dtype=np.float64)
    f = _F_SP * m
    log_region = m >= _MIN_LOG_MEL
    f[log_region] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (m[log_region] - _MIN_LOG_MEL))
    return f


@lru_cache(maxsize=4)
def mel_filters(n_mels: int = 80) -> npt.NDArray[np.float64]:
    """Slaney mel filterbank ``(n_mels, N_FFT // 2 + 1)`` for 16 kHz, 0-8000 Hz, area-normalised.

    Read-only (cached and shared): do not modify the returned array.
    """
    fftfreqs = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    mel_pts = np.linspace(
        _hz_to_mel(np.array([0.0]))[0], _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0], n_mels + 2
    )
    mel_f = _mel_to_hz(mel_pts)
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, None]
    # librosa returns float32 weights; round-trip through float32 to match it (and Whisper's npz).
    weights = weights.astype(np.float32).astype(np.float64)
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=1)
def _hann() -> npt.NDArray[np.float64]:
    w = np.hanning(N_FFT + 1)[:-1]  # periodic Hann
    w.setflags(write=False)
    return w


def log_mel(audio: npt.ArrayLike, n_frames: int, n_mels: int = 80) -> npt.NDArray[np.float32]:
    """Whisper log-mel features ``(n_mels, n_frames)`` of ``audio`` padded/truncated to ``n_frames``."""
    if n_frames <= 0:
        raise ValueError("n_frames must be positive")
    x = np.asarray(audio, dtype=np.float64).reshape(-1)
    n_samples = n_frames * HOP
    x = x[:n_samples] if x.shape[0] >= n_samples else np.pad(x, (0, n_samples - x.shape[0]))
    pad = N_FFT // 2
    x = np.pad(x, (pad, pad), mode="reflect")
    # n_frames + 1 frames of N_FFT samples at hop HOP; drop the last one.
    frames = np.lib.stride_tricks.sliding_window_view(x, N_FFT)[::HOP][:n_frames]
    spec = np.fft.rfft(frames * _hann(), axis=-1)
    power = spec.real**2 + spec.imag**2  # (n_frames, 201)
    mel = mel_filters(n_mels) @ power.T  # (n_mels, n_frames)
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return np.asarray((log_spec + 4.0) / 4.0, dtype=np.float32)
