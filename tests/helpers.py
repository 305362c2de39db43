"""Drive a Session (through the in-process driver) with bytes and messages, no I/O; build synthetic audio for the fake engines."""

from __future__ import annotations

import csv
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from turnscribe.core.eot import EotModel
from turnscribe.core.session import TurnPolicy
from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import InlineSession, drive, frames_of
from turnscribe.wire.events import Event, TurnInfo
from turnscribe.wire.params import ListenParams, Thresholds

RATE = 16000

# Session-mechanics tests use a simple, explicit end-of-turn model (not the shipped default): a
# finished sentence with a confident acoustic answer ends at the first pause point; a trailing
# continuation word needs more than 2 s of silence; the patience does not adapt.
TEST_MODEL = EotModel(continues_prior=-3.5, complete_prior=0.0, answer_prior=0.0, plain_prior=-2.0,
                      acoustic_weight=1.0, patience_floor_s=0.77, hold_patience=1.0, shape=1.0,
                      adaptive=False)
TEST_POLICY = TurnPolicy(model=TEST_MODEL, pause_slack_s=0.16)  # the scripted clips are laid out for 0.16 s


def tone(seconds: float, amp: float = 0.25, freq: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * RATE), dtype=np.float32)


def pcm16(*parts: np.ndarray) -> bytes:
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def write_pcm_wav(path, pcm: bytes, rate: int = RATE):
    """A mono WAV holding ``pcm`` (little-endian PCM16) as it is; returns ``path``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


def write_wav(path, *parts: np.ndarray, rate: int = RATE) -> None:
    """A mono PCM16 WAV of the concatenated parts (``tone`` / ``quiet``)."""
    write_pcm_wav(path, pcm16(*parts), rate)


def speech_like(seconds: float, seed: int = 0) -> bytes:
    """PCM16 tone bursts separated by pauses: turns for the fake engines (energy VAD, scripted ASR)."""
    rng = np.random.default_rng(seed)
    parts = []
    t = 0.0
    while t < seconds:
        on = rng.uniform(0.6, 1.5)
        off = rng.uniform(0.3, 2.5)
        n = int(on * RATE)
        parts.append(0.25 * np.sin(2 * np.pi * 220 * np.arange(n) / RATE))
        parts.append(np.zeros(int(off * RATE)))
        t += on + off
    x = np.concatenate(parts)[: int(seconds * RATE)]
    return (x * 32767).astype("<i2").tobytes()


def params(**thresholds) -> ListenParams:
    return ListenParams(thresholds=Thresholds(**thresholds)) if thresholds else ListenParams()


def run(audio: bytes, *, p: ListenParams | None = None, chunk: int = 2560,
        actions: Iterable[tuple[int, str]] = (), close: bool = True, engines=None,
        script: str = "hello there how are you.", policy: TurnPolicy = TEST_POLICY) -> tuple[list[Event], InlineSession]:
    """Feed ``audio`` in ``chunk``-byte frames, text ``actions`` at byte offsets, then CloseStream."""
    s = InlineSession(p or params(), engines or fake_engines(script), policy=policy)
    events: list[Event] = []
    drive(s, frames_of(audio, chunk), on_events=events.extend, actions=list(actions), close=close)
    return events, s


def turninfos(events: list[Event]) -> list[TurnInfo]:
    return [e for e in events if isinstance(e, TurnInfo)]


def names(events: list[Event]) -> list[str]:
    return [e.event.value for e in turninfos(events)]


# ------------------------------------------------------------------ real recordings (../shared/data)


def manifest(shared: Path) -> dict[str, dict[str, str]]:
    """The rows of ``data/manifest.tsv`` by clip path."""
    with open(shared / "data" / "manifest.tsv", newline="", encoding="utf-8") as f:
        return {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}


def wav_pcm(path: Path) -> bytes:
    """The PCM16 frames of a 16 kHz WAV, as they are."""
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
        return w.readframes(w.getnframes())


def silence_pcm(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * 16000)


def recall(ref: str, hyp: str) -> float:
    """Share of the reference words found, after Whisper's English normaliser on both sides."""
    import jiwer

    from turnscribe.eval.wer import normalise

    out = jiwer.process_words(normalise(ref), normalise(hyp) or "<empty>")
    return float(out.hits / (out.hits + out.substitutions + out.deletions))


# ------------------------------------------------------------------ reference log-mel


def _ref_filterbank(n_mels: int) -> np.ndarray:
    """Slaney filterbank written the long way (per filter, per bin)."""

    def hz2mel(f: float) -> float:
        return f / (200 / 3) if f < 1000 else 15 + np.log(f / 1000) / (np.log(6.4) / 27)

    def mel2hz(m: float) -> float:
        return m * (200 / 3) if m < 15 else 1000 * np.exp((np.log(6.4) / 27) * (m - 15))

    edges = [mel2hz(m) for m in np.linspace(hz2mel(0.0), hz2mel(8000.0), n_mels + 2)]
    freqs = [k * 8000 / 200 for k in range(201)]
    fb = np.zeros((n_mels, 201))
    for i in range(n_mels):
        lo, mid, hi = edges[i], edges[i + 1], edges[i + 2]
        for k, f in enumerate(freqs):
            fb[i, k] = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
        fb[i] *= 2.0 / (hi - lo)
    return fb


def ref_log_mel(audio: np.ndarray, n_frames: int, n_mels: int = 80) -> np.ndarray:
    """Whisper's log-mel written the long way: the reference engines/mel.log_mel is checked against."""
    x = np.zeros(n_frames * 160)
    n = min(len(audio), len(x))
    x[:n] = audio[:n]
    x = np.pad(x, 200, mode="reflect")
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)  # periodic Hann
    spec = np.empty((201, n_frames + 1))
    for t in range(n_frames + 1):
        spec[:, t] = np.abs(np.fft.rfft(x[t * 160 : t * 160 + 400] * win)) ** 2
    mel = _ref_filterbank(n_mels) @ spec[:, :-1]
    lg = np.log10(np.maximum(mel, 1e-10))
    lg = np.maximum(lg, lg.max() - 8.0)
    return (lg + 4.0) / 4.0


# ------------------------------------------------------------------ Prometheus text


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} for every sample in an exposition."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def metric_value(text: str, name: str, **labels: str) -> float:
    return metric_samples(text)[(name, tuple(sorted(labels.items())))]
