"""Step 1 of ``turnscribe eval eot``, the recording (slow, once): each clip through the real
Session and engines with model ends off (every turn ended by hand ``ORACLE_END_S`` after its
labelled end), the session's end-of-turn cues traced at every decision frame, and beside them the
baselines' inputs on the same audio: the VAD's silence at every frame, and Smart Turn asked
pipecat's way at every frame of the first ``SMART_TURN_MAX_S`` of each span."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from turnscribe.client.wav import read_pcm16_wav
from turnscribe.core.framing import FRAME_S
from turnscribe.eval.eot_spans import Rec, Span, clip_params, group_of, set_of, spans_of
from turnscribe.types.engine import SAMPLE_RATE, TurnRequest, VadRequest

if TYPE_CHECKING:
    from turnscribe.core.policy import TurnPolicy

ORACLE_END_S = 2.4                     # each turn is ended by hand this long after its labelled end ...
ORACLE_CLEAR_S = 0.3                   # ... or this long before the next turn's onset, if sooner
SMART_TURN_MAX_S = 1.2                 # Smart Turn is recorded this far into each span
SMART_TURN_PRE_S = 0.5                 # pipecat feeds the turn from this long before its onset
VAD_ON = 0.5                           # the VAD's speech threshold (the session's default)
# the session asks Smart Turn at these points of each pause while recording (the shipped policy asks
# at the first only; the later answers let the sweep try models that read them)
RECORD_ACOUSTIC_AT_S = (0.096, 0.32, 0.64)


def oracle_end(label: Rec, k: int) -> float:
    """When the recording ends turn ``k`` by hand: ``ORACLE_END_S`` after its labelled end, but
    ``ORACLE_CLEAR_S`` before the next turn's onset (else the next turn would be the one ended)."""
    turns = sorted(label["turns"], key=lambda t: t["start_s"])
    end = float(turns[k]["end_s"])
    nxt = float(turns[k + 1]["start_s"]) if k + 1 < len(turns) else math.inf
    return max(end + FRAME_S, min(end + ORACLE_END_S, nxt - ORACLE_CLEAR_S))


def vad_silence(audio: np.ndarray, vad: Any) -> tuple[np.ndarray, np.ndarray]:
    """(frame end times, silence in s at each) on the 80 ms grid: time since the last 32 ms chunk
    the VAD called speech (the whole clip's time when there was none yet)."""
    chunk = int(vad.chunk_samples)
    n = len(audio) // chunk
    probs = vad.process([VadRequest(state=vad.new_state(), audio=audio[: n * chunk])])[0]
    speech_end = (np.arange(n) + 1) * chunk / SAMPLE_RATE
    last = -1.0
    times = np.arange(FRAME_S, len(audio) / SAMPLE_RATE + 1e-9, FRAME_S)
    sil = np.empty(len(times))
    k = 0
    for i, t in enumerate(times):
        while k < n and speech_end[k] <= t + 1e-9:
            if probs[k] >= VAD_ON:
                last = speech_end[k]
            k += 1
        sil[i] = t - last if last >= 0 else t
    return times, sil


def smart_turn_frames(sp: Span) -> list[float]:
    """The frames of the 80 ms grid (the times ``vad_silence`` reports) at which Smart Turn is
    recorded in a span: those in its first SMART_TURN_MAX_S."""
    k = math.floor(sp.start / FRAME_S + 1e-9) + 1
    out = []
    while k * FRAME_S <= min(sp.end, sp.start + SMART_TURN_MAX_S) + 1e-9:
        out.append(k * FRAME_S)
        k += 1
    return out


def smart_turn_scores(audio: np.ndarray, label: Rec, spans: Sequence[Span], turn: Any) -> list[list[float]]:
    """Per span, Smart Turn's P(complete) at each of its ``smart_turn_frames``."""
    turns = sorted(label["turns"], key=lambda t: t["start_s"])
    reqs: list[TurnRequest] = []
    index: list[int] = []
    for si, sp in enumerate(spans):
        onset = max([t["start_s"] for t in turns if t["start_s"] <= sp.start] or [0.0])
        for t in smart_turn_frames(sp):
            a = int(max(0.0, onset - SMART_TURN_PRE_S, t - 8.0) * SAMPLE_RATE)
            reqs.append(TurnRequest(audio=audio[a:int(t * SAMPLE_RATE)]))
            index.append(si)
    out: list[list[float]] = [[] for _ in spans]
    for i in range(0, len(reqs), 32):
        for si, p in zip(index[i:i + 32], turn.score(reqs[i:i + 32]), strict=True):
            out[si].append(round(float(p), 4))
    return out


def record_policy() -> TurnPolicy:
    """The recording's policy: cues traced at every frame, Smart Turn asked at several points, and
    the pause's final words read from its first frame (``final_lead_s`` inf), so a policy swept
    with any threshold reads the words it would read live (where the shipped lead asks for them
    later, its decisions are the same: before the earliest end every frame holds)."""
    from turnscribe.core.session import TurnPolicy

    return TurnPolicy(trace=True, acoustic_at_s=RECORD_ACOUSTIC_AT_S, final_lead_s=math.inf)


def record(data: Path, labels: Sequence[Rec], engines: Any, log: Callable[[str], None] | None = None) -> list[Rec]:
    """Replay every clip (see this module's docstring); JSON-ready records."""
    from turnscribe.eval.cues import cues_record
    from turnscribe.eval.replay import replay_bytes, stream_params

    clips = []
    for n, label in enumerate(labels, 1):
        path = data / label["path"]
        raw = path.read_bytes()
        header = raw.find(b"data") + 8
        force = json.dumps({"type": "ForceEndTurn"})
        actions = [(header + int(oracle_end(label, k) * SAMPLE_RATE) * 2, force) for k in range(len(label["turns"]))]
        rep = replay_bytes(raw, stream_params(path, base=clip_params(label)), engines,
                           policy=record_policy(), actions=actions, keep_session=True)
        assert rep.session is not None
        audio = read_pcm16_wav(path, sample_rate=SAMPLE_RATE).mono_floats()
        spans = spans_of(label)
        times, sil = vad_silence(audio, engines.vad)
        clips.append({
            "path": label["path"], "kind": label["kind"], "group": group_of(label),
            "set": label.get("set") or set_of(str(label["path"])),
            "language": str(label.get("language") or "en"), "label": label,
            "spans": [[s.start, s.end, s.hold, s.kind] for s in spans],
            "trace": [(round(t, 3), cues_record(c)) for t, c in rep.session.trace],
            "vad": [[round(float(t), 3), round(float(s), 3)] for t, s in zip(times, sil, strict=True)],
            "smart_turn": smart_turn_scores(audio, label, spans, engines.turn),
        })
        if log:
            log(f"[{n}/{len(labels)}] {label['path']}: {len(spans)} spans, {len(clips[-1]['trace'])} traced frames")
    return clips

