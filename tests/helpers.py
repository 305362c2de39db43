"""Drive a Session with bytes and messages, no I/O; build synthetic audio for the fake engines."""

from __future__ import annotations

import json
from collections.abc import Iterable

import numpy as np

from turnscribe.core.eot import EotModel
from turnscribe.core.session import TurnPolicy
from turnscribe.engines.fake import fake_engines
from turnscribe.runtime.driver import InlineSession as Session
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
    t = np.arange(int(round(seconds * RATE))) / RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * RATE)), dtype=np.float32)


def pcm16(*parts: np.ndarray) -> bytes:
    x = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def write_pcm_wav(path, pcm: bytes, rate: int = RATE):
    """A mono WAV holding ``pcm`` (little-endian PCM16) as it is; returns ``path``."""
    import wave

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
        script: str = "hello there how are you.", policy: TurnPolicy = TEST_POLICY) -> tuple[list[Event], Session]:
    """Feed ``audio`` in ``chunk``-byte frames, text ``actions`` at byte offsets, then CloseStream."""
    s = Session(p or params(), engines or fake_engines(script), policy=policy)
    events: list[Event] = []
    pending = sorted(actions)
    for off in range(0, len(audio), chunk):
        while pending and pending[0][0] <= off:
            s.receive_text(pending.pop(0)[1])
        s.receive_audio(audio[off:off + chunk])
        events += s.events_to_send()
    for _, text in pending:
        s.receive_text(text)
    if close:
        s.receive_text(json.dumps({"type": "CloseStream"}))
    events += s.events_to_send()
    return events, s


def turninfos(events: list[Event]) -> list[TurnInfo]:
    return [e for e in events if isinstance(e, TurnInfo)]


def names(events: list[Event]) -> list[str]:
    return [e.event.value for e in turninfos(events)]
