"""The golden-trace cases: fixed recordings from ../shared/data, each streamed through the in-process
driver with the real models, with query parameters and control messages.

Every message the driver produces (the request id fixed) is kept in ``traces/<name>.jsonl``; the test
replays each case and demands the same text, line for line. It is the regression net for changes
that must not change behaviour: regenerate it (``.venv/bin/python tests/golden/regen.py``) only for a change
that is meant to, and say so in the commit.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass, field
from pathlib import Path

from turnscribe.eval.replay import replay_bytes
from turnscribe.types.engine import Engines
from turnscribe.wire.events import WireEncoder
from turnscribe.wire.params import parse_listen_params

FRAME_S = 0.08
REQUEST_ID = "golden"
TRACES = Path(__file__).resolve().parent / "golden" / "traces"


@dataclass(frozen=True)
class Case:
    name: str
    path: str                      # under ../shared/data
    query: tuple[tuple[str, str], ...] = ()
    raw: bool = False              # send the WAV's samples as headerless linear16 (else the file's bytes)
    seconds: float | None = None   # send only this much audio (raw only)
    # control messages, each sent before the audio frame that starts at this stream second
    actions: tuple[tuple[float, dict[str, object]], ...] = field(default_factory=tuple)
    close: bool = True             # end with CloseStream


CASES: tuple[Case, ...] = (
    Case("en_pause", "turns/incomplete_then_continuation_002.wav"),
    Case("en_filler_eager_reasons", "turns/filler_then_continuation_007.wav",
         query=(("eager_eot_threshold", "0.3"), ("turnscribe_reasons", "true"))),
    Case("en_eager_resumed", "turns/incomplete_then_continuation_001.wav", query=(("eager_eot_threshold", "0.3"),)),
    Case("en_digits_numerals_redact", "turns/number_dictation_real_digits_021.wav",
         query=(("numerals", "true"), ("redact", "numbers"))),
    Case("en_list_eot_high", "turns/list_017.wav", query=(("eot_threshold", "0.9"), ("eot_timeout_ms", "1500"))),
    Case("noise_music", "turns/noise_only_music_053.wav"),
    Case("silence", "turns/silence_only_049.wav"),
    Case("conversation_mix", "turns/real_conversation_mono_mix_057.wav"),
    Case("real_caller", "turns/callers/caller_0d9e4de94802.wav"),
    Case("real_prompts_en", "turns/real/real_prompts_en_000_en.wav", raw=True, seconds=30.0),
    Case("multi_es_hint", "turns/real/real_prompts_es_015_es-mx.wav", raw=True, seconds=25.0,
         query=(("model", "flux-general-multi"), ("language_hint", "es"))),
    Case("multi_fr_detect", "wer/multi_fr/ast_fr_conf-kicked.wav", query=(("model", "flux-general-multi"),)),
    Case("keyterms", "wer/clean/ast_agent-pass.wav", query=(("keyterm", "Acme"), ("keyterm", "pound key"))),
    Case("mulaw_8k", "telephony/ast_at-tone-time-exactly_8k_mulaw.wav"),
    Case("ogg_opus", "telephony/ast_call-fwd-no-ans.opus"),
    Case("configure_force_end", "turns/list_018.wav", actions=(
        (1.0, {"type": "Configure", "thresholds": {"eot_threshold": 0.85, "eager_eot_threshold": 0.4},
               "keyterms": ["Acme"]}),
        (2.0, {"type": "KeepAlive"}),
        (2.4, {"type": "ForceEndTurn"}),
        (3.0, {"type": "Configure", "thresholds": {"eot_threshold": 2.0}}),
        (3.2, {"type": "Mystery"}),
        (4.4, {"type": "ForceEndTurn"}),
    )),
    Case("close_mid_turn", "turns/incomplete_then_continuation_004.wav", raw=True, seconds=2.0),
)


def case_bytes(case: Case, shared: Path) -> tuple[bytes, list[tuple[str, str]], int]:
    """(the bytes a client sends, the query, bytes per chunk sent). Files go as their own bytes in
    2560-byte chunks (80 ms of 16 kHz PCM16; the events do not depend on the chunking)."""
    path = shared / "data" / case.path
    query = list(case.query)
    if not case.raw:
        return path.read_bytes(), query, 2560
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        rate = w.getframerate()
        frames = w.getnframes() if case.seconds is None else min(w.getnframes(), int(case.seconds * rate))
        data = w.readframes(frames)
    query += [("encoding", "linear16"), ("sample_rate", str(rate))]
    return data, query, int(rate * 2 * FRAME_S)


def action_offsets(case: Case, frame_bytes: int) -> list[tuple[int, str]]:
    """Control messages at byte offsets of the stream (sent before the frame starting there)."""
    return [(round(t / FRAME_S) * frame_bytes, json.dumps(msg)) for t, msg in case.actions]


def trace_path(case: Case) -> Path:
    return TRACES / f"{case.name}.jsonl"


def run_case(case: Case, shared: Path, engines: Engines) -> list[str]:
    data, query, chunk = case_bytes(case, shared)
    if not any(k == "model" for k, _ in query):
        query.insert(0, ("model", "flux-general-en"))
    params = parse_listen_params(query)
    replay = replay_bytes(data, params, engines, frame_bytes=chunk, actions=action_offsets(case, chunk),
                          close=case.close)
    encoder = WireEncoder(REQUEST_ID)
    return [encoder.encode(ev) for ev in replay.events]
