"""Runs one golden case through the in-process driver and returns its wire messages, one JSON text
each (the request id fixed)."""

from __future__ import annotations

from pathlib import Path

from golden_cases import REQUEST_ID, Case, action_offsets, case_bytes

from turnscribe.eval.replay import replay_bytes
from turnscribe.types.engine import Engines
from turnscribe.wire.events import WireEncoder
from turnscribe.wire.params import parse_listen_params


def run_case(case: Case, shared: Path, engines: Engines) -> list[str]:
    data, query, chunk = case_bytes(case, shared)
    if not any(k == "model" for k, _ in query):
        query.insert(0, ("model", "flux-general-en"))
    params = parse_listen_params(query)
    replay = replay_bytes(data, params, engines, frame_bytes=chunk, actions=action_offsets(case, chunk),
                          close=case.close)
    encoder = WireEncoder(REQUEST_ID)
    return [encoder.encode(ev) for ev in replay.events]
