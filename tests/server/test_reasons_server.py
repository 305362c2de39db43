"""Decision reasons over a real socket: ``turnscribe_reasons=true`` per stream, ``decision_reasons``
for the whole server, default streams untouched, bad values refused, the official SDK unbroken."""

from __future__ import annotations

import asyncio
import json
import logging
import threading

import pytest
import websockets
from helpers import pcm16, quiet, tone
from servertools import make_server, stream
from websockets.exceptions import InvalidStatus

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
AUDIO = pcm16(quiet(0.5), tone(1.3), quiet(2.0))
ENDS = ("EndOfTurn", "EagerEndOfTurn")


def turninfos(msgs):
    return [m for m in msgs if m["type"] == "TurnInfo"]


def check_reasons(msgs):
    ends = [m for m in turninfos(msgs) if m["event"] in ENDS]
    assert any(m["event"] == "EndOfTurn" for m in ends)
    for m in turninfos(msgs):
        assert ("turnscribe_reasons" in m) == (m["event"] in ENDS), m["event"]
    for m in ends:
        r = m["turnscribe_reasons"]
        assert r["confidence"] == m["end_of_turn_confidence"]
        assert r["trigger"] == m.get("trigger", "eager")
        assert sum(t["contribution"] for t in r["terms"].values()) == pytest.approx(
            r["logit"], abs=1e-3)
        assert r["silence_s"] > 0 and isinstance(r["acoustic"], list) and r["words"]


def test_query_parameter_adds_reasons_to_ends_only(server):
    msgs, code, _ = asyncio.run(stream(server.url + Q + "&turnscribe_reasons=true&eager_eot_threshold=0.4",
                                       AUDIO))
    assert code == 1000 and [m["sequence_id"] for m in msgs] == list(range(len(msgs)))
    check_reasons(msgs)


def test_default_stream_has_no_extra_field(server):
    for query in (Q, Q + "&turnscribe_reasons=false"):
        msgs, code, _ = asyncio.run(stream(server.url + query, AUDIO))
        assert code == 1000 and "EndOfTurn" in [m["event"] for m in turninfos(msgs)]
        assert not any("turnscribe_reasons" in m for m in msgs)


def test_bad_value_is_400_with_dg_error(server):
    for bad in ("yes", "", "1"):
        async def go(q=Q + "&turnscribe_reasons=" + bad):
            with pytest.raises(InvalidStatus) as e:
                await websockets.connect(server.url + q)
            return e.value.response
        r = asyncio.run(go())
        body = json.loads(r.body)
        assert r.status_code == 400 and "turnscribe_reasons" in r.headers["dg-error"]
        assert body["err_msg"] == r.headers["dg-error"] and body["request_id"] == r.headers["dg-request-id"]


def test_server_setting_turns_them_on_for_every_stream():
    srv = make_server(decision_reasons=True)
    try:
        msgs, code, _ = asyncio.run(stream(srv.url + Q, AUDIO))
        assert code == 1000
        check_reasons(msgs)
    finally:
        srv.stop()


def test_deepgram_sdk_keeps_the_extra_field(server):
    """The official client parses TurnInfo with pydantic ``extra="allow"``: the field survives."""
    pytest.importorskip("deepgram")
    from deepgram import DeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    env = DeepgramClientEnvironment(base=server.http, production=server.url, agent=server.url,
                                    agent_rest=server.http)
    client = DeepgramClient(api_key="open-server", environment=env)

    def run_sdk(extra_query):
        opts = {"additional_query_parameters": extra_query} if extra_query else None
        with client.listen.v2.connect(model="flux-general-en", encoding="linear16", sample_rate=16000,
                                      request_options=opts) as conn:
            def sender():
                for off in range(0, len(AUDIO), 2560):
                    conn.send_media(AUDIO[off:off + 2560])
                conn.send_close_stream()
            t = threading.Thread(target=sender)
            t.start()
            msgs = list(conn)
            t.join(30)
        return msgs

    msgs = run_sdk({"turnscribe_reasons": "true"})
    assert {type(m).__name__ for m in msgs} <= {"ListenV2Connected", "ListenV2TurnInfo"}
    end = next(m for m in msgs if getattr(m, "event", None) == "EndOfTurn")
    assert end.trigger == "model" and end.transcript
    r = end.turnscribe_reasons
    assert r == end["turnscribe_reasons"] == end.model_extra["turnscribe_reasons"]
    assert r["confidence"] == end.end_of_turn_confidence and r["trigger"] == "model"
    plain = run_sdk(None)
    end = next(m for m in plain if getattr(m, "event", None) == "EndOfTurn")
    assert not end.model_extra and not hasattr(end, "turnscribe_reasons")


def test_flag_and_environment_variable(monkeypatch):
    from turnscribe import cli
    from turnscribe.server.config import REASONS_ENV, env_flag

    assert env_flag(REASONS_ENV, env={}) is False
    assert env_flag(REASONS_ENV, env={REASONS_ENV: "1"}) and env_flag(REASONS_ENV, env={REASONS_ENV: "True"})
    assert env_flag(REASONS_ENV, env={REASONS_ENV: "off"}) is False
    with pytest.raises(ValueError, match=REASONS_ENV):
        env_flag(REASONS_ENV, env={REASONS_ENV: "maybe"})

    seen = []

    async def fake_serve(settings):
        seen.append(settings)

    monkeypatch.setattr(cli, "_serve", fake_serve)
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: None)  # leave the test run's logging alone
    monkeypatch.delenv(REASONS_ENV, raising=False)
    assert cli.main(["serve", "--engine", "fake"]) == 0 and seen[-1].decision_reasons is False
    assert cli.main(["serve", "--engine", "fake", "--decision-reasons"]) == 0 and seen[-1].decision_reasons
    monkeypatch.setenv(REASONS_ENV, "1")
    assert cli.main(["serve", "--engine", "fake"]) == 0 and seen[-1].decision_reasons
    monkeypatch.setenv(REASONS_ENV, "maybe")
    with pytest.raises(SystemExit):
        cli.main(["serve", "--engine", "fake"])
