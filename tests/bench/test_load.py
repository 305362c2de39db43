"""``turnscribe bench load``: the pure parts (audio mix, statistics, SLO), the client against a tiny
in-process WebSocket server, and one end-to-end run against spawned ``--engine fake`` servers."""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from turnscribe.bench import server_process
from turnscribe.bench.lag_client import ClientResult, run_client
from turnscribe.bench.slo import Slo, find_max_ladder, max_within_slo, percentile
from turnscribe.bench.step import summarize_step
from turnscribe.bench.workload import (
    FRAME_BYTES,
    StreamSpec,
    assign_kinds,
    build_stream_audio,
    build_streams,
    load_clips,
    parse_mix,
)
from turnscribe.cli import main
from turnscribe.client.url import listen_url

RATE = 16000


def _write_wav(path: Path, seconds: float, freq: float) -> None:
    """A loud tone (the fake engines hear it as speech) with 0.2 s of quiet at each end."""
    t = np.arange(int(seconds * RATE)) / RATE
    x = 0.3 * np.sin(2 * np.pi * freq * t)
    x[: int(0.2 * RATE)] = 0
    x[-int(0.2 * RATE):] = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((x * 32767).astype("<i2").tobytes())


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    rows = [("wer/clean/a.wav", "wer_clean", 1.6, 300), ("wer/clean/b.wav", "wer_clean", 2.0, 400),
            ("wer/clean/c.wav", "wer_clean", 1.2, 500), ("wer/multi_es/d.wav", "multi_es", 1.0, 600),
            ("wer/multi_es/e.wav", "multi_es", 1.4, 700), ("wer/multi_fr/f.wav", "multi_fr", 1.8, 800),
            ("turns/x.wav", "turns", 1.0, 900)]
    lines = ["path\tset\tduration_s\treference_text"]
    for path, set_name, dur, freq in rows:
        _write_wav(data / path, dur, freq)
        lines.append(f"{path}\t{set_name}\t{dur}\thello")
    (data / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


# --- audio -----------------------------------------------------------------------------------


def test_clips_come_from_the_named_sets_interleaved(tiny_data: Path) -> None:
    en = load_clips(tiny_data, ["wer_clean"])
    assert [len(c) // 2 for c in en] == [int(1.6 * RATE), int(2.0 * RATE), int(1.2 * RATE)]
    multi = load_clips(tiny_data, ["multi_es", "multi_fr"])
    assert [len(c) // 2 for c in multi] == [int(1.0 * RATE), int(1.8 * RATE), int(1.4 * RATE)]  # es, fr, es


def test_continuous_audio_is_the_clips_back_to_back_from_the_offset() -> None:
    clips = [b"\x01\x00" * 800, b"\x02\x00" * 1200, b"\x03\x00" * 400]
    audio = build_stream_audio("continuous", clips, 1, 0.3)
    assert len(audio) == 15 * FRAME_BYTES  # whole 20 ms frames
    assert audio == ((clips[1] + clips[2] + clips[0]) * 2)[: len(audio)]  # cycles through the list


def test_conversational_audio_is_half_silence() -> None:
    clips = [b"\x01\x00" * 1600, b"\x02\x00" * 3200]
    audio = build_stream_audio("conversational", clips, 0, 1.2)
    assert audio[: len(clips[0])] == clips[0]
    assert audio[len(clips[0]): 2 * len(clips[0])] == bytes(len(clips[0]))
    silent = np.frombuffer(audio, dtype="<i2") == 0
    assert 0.45 < silent.mean() < 0.55


def test_streams_start_at_different_offsets_and_multi_uses_the_multi_model(tiny_data: Path) -> None:
    clips = {"english": load_clips(tiny_data, ["wer_clean"]),
             "multi": load_clips(tiny_data, ["multi_es", "multi_fr"])}
    specs = build_streams(4, parse_mix("continuous", 0.25), clips, 3.0)
    assert [s.kind for s in specs].count("multi") == 1
    en = [s for s in specs if s.kind == "continuous"]
    assert len({s.audio[:20000] for s in en}) == 3, "english streams are not in lockstep"
    assert all(s.model == ("flux-general-multi" if s.kind == "multi" else "flux-general-en") for s in specs)
    assert all(abs(s.audio_s - 3.0) < 1e-9 for s in specs)


def test_mix_parsing() -> None:
    assert parse_mix("continuous") == {"continuous": 1.0}
    assert parse_mix("continuous=1,conversational=3") == {"continuous": 0.25, "conversational": 0.75}
    assert parse_mix("conversational", 0.25) == {"conversational": 0.75, "multi": 0.25}
    assert parse_mix("continuous=2,multi=2") == {"continuous": 0.5, "multi": 0.5}
    assert parse_mix("continuous,multi=0.5", 0.1) == pytest.approx({"continuous": 0.9, "multi": 0.1})
    assert parse_mix("continuous", 1.0) == {"multi": 1.0}
    for bad in ("noisy", "continuous=-1", "continuous=x", "continuous=0"):
        with pytest.raises(ValueError):
            parse_mix(bad)
    with pytest.raises(ValueError):
        parse_mix("continuous", 1.5)


def test_kinds_are_spread_in_proportion() -> None:
    w = {"continuous": 0.75, "multi": 0.25}
    assert assign_kinds(1, w) == ["continuous"]
    assert assign_kinds(4, w) == ["continuous", "continuous", "multi", "continuous"]
    assert assign_kinds(16, w).count("multi") == 4
    assert assign_kinds(5, {"continuous": 0.5, "conversational": 0.5}).count("conversational") == 2


# --- statistics and the SLO ------------------------------------------------------------------


def test_percentile_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 7, 100):
        xs = list(rng.exponential(0.1, n))
        for q in (0, 50, 95, 100):
            assert percentile(xs, q) == pytest.approx(float(np.percentile(xs, q)))
    assert percentile([], 95) is None


def _step(**kw: object) -> dict[str, object]:
    step: dict[str, object] = {"streams": 4, "update_lag": {"count": 100, "p95": 0.2},
                               "eot_lag": {"count": 5, "p95": 0.1}, "errors": 0, "abnormal_closes": 0,
                               "refusals": 0}
    step.update(kw)
    return step


def test_slo_check() -> None:
    slo = Slo()
    assert slo.check(_step()) == []
    assert slo.check(_step(refusals=3)) == [], "a refused stream is not an error"
    assert slo.check(_step(eot_lag={"count": 0, "p95": None})) == [], "no EndOfTurn: nothing to judge"
    assert len(slo.check(_step(update_lag={"count": 100, "p95": 0.31}))) == 1
    assert len(slo.check(_step(eot_lag={"count": 3, "p95": 0.16}))) == 1
    assert slo.check(_step(update_lag={"count": 0, "p95": None})) == ["no Update lag measured"]
    assert len(slo.check(_step(errors=1, abnormal_closes=1))) == 2
    steps = [{"streams": 1, "pass": True}, {"streams": 8, "pass": True}, {"streams": 12, "pass": False}]
    assert max_within_slo(steps) == 8
    assert max_within_slo([{"streams": 1, "pass": False}]) == 0
    assert max_within_slo([{"streams": 40, "refusals": 34, "pass": True}]) == 6


def test_find_max_ladder() -> None:
    assert find_max_ladder(40) == [1, 2, 4, 8, 12, 16, 20, 24, 28, 32, 40]
    assert find_max_ladder(10) == [1, 2, 4, 8]


def test_step_summary_counts_everything() -> None:
    a = ClientResult(0, "continuous", audio_s=10.0, messages=40, update_lags=[0.1, 0.2, 0.3],
                     eot_lags=[0.1], eot_total=2, close_code=1000, last_window_end=10.0, word_ages=[0.3, 0.5])
    b = ClientResult(1, "multi", audio_s=4.0, messages=5, update_lags=[0.5], errors=["INTERNAL_SERVER_ERROR"],
                     close_code=1011, abnormal=True, last_window_end=1.0)
    c = ClientResult(2, "continuous", refused=503, refused_reason="too many streams")
    s = summarize_step(3, [a, b, c])
    assert s["update_lag"]["count"] == 4 and s["update_lag"]["max"] == 0.5
    assert s["update_lag"]["p50"] == pytest.approx(0.25)
    assert s["eot_lag"]["count"] == 1 and s["eot_total"] == 2
    assert s["word_age"]["count"] == 2 and s["word_age"]["p50"] == pytest.approx(0.4)
    assert (s["errors"], s["refusals"], s["abnormal_closes"], s["messages"]) == (1, 1, 1, 45)
    assert s["error_codes"] == {"INTERNAL_SERVER_ERROR": 1}
    assert s["refusal_statuses"] == {"503": 1} and s["refusal_reasons"] == ["too many streams"]
    assert s["close_codes"] == {"1000": 1, "1011": 1}
    assert s["audio_s"] == 14.0 and s["incomplete_streams"] == 1


def test_proc_sampling_of_this_process() -> None:
    cpu = server_process.read_cpu_s(os.getpid())
    rss = server_process.read_rss_mb(os.getpid())
    assert cpu is not None and cpu > 0
    assert rss is not None and rss > 10
    assert server_process.read_cpu_s(2**30) is None and server_process.read_rss_mb(2**30) is None


def test_listen_url() -> None:
    assert listen_url("ws://127.0.0.1:8000") == "ws://127.0.0.1:8000/v2/listen"
    assert listen_url("ws://h:1/v2/listen") == "ws://h:1/v2/listen"
    with pytest.raises(ValueError):
        listen_url("http://h:1")


# --- the client against a tiny scripted server -----------------------------------------------


async def _scripted_server(handler, process_request=None):
    return await serve(handler, "127.0.0.1", 0, process_request=process_request)


def _port(server) -> int:
    return int(next(iter(server.sockets)).getsockname()[1])


async def _flux_like(ws: ServerConnection) -> None:
    """One TurnInfo per 240 ms of audio as soon as it is complete; EndOfTurn + close on CloseStream."""
    await ws.send(json.dumps({"type": "Connected", "sequence_id": 0}))
    got = 0
    seq = 1
    async for msg in ws:
        if isinstance(msg, bytes):
            got += len(msg)
            if got % (RATE * 2 * 24 // 100) == 0:
                end = got / (2 * RATE)  # one word, ending 0.1 s before the window's end
                await ws.send(json.dumps({"type": "TurnInfo", "event": "Update", "sequence_id": seq,
                                          "audio_window_end": end,
                                          "words": [{"word": "hi", "start": 0.0, "end": end - 0.1}]}))
                seq += 1
        elif json.loads(msg)["type"] == "CloseStream":
            await asyncio.sleep(0.05)
            await ws.send(json.dumps({"type": "TurnInfo", "event": "EndOfTurn", "sequence_id": seq,
                                      "audio_window_end": got / (2 * RATE)}))
            await ws.close(1000)
            return


def test_client_measures_lag_against_the_real_time_schedule() -> None:
    async def go() -> ClientResult:
        server = await _scripted_server(_flux_like)
        try:
            spec = StreamSpec(0, "continuous", "flux-general-en", bytes(int(1.44 * RATE) * 2))
            t = time.monotonic()
            res = await run_client(f"ws://127.0.0.1:{_port(server)}/v2/listen", spec, start_delay_s=0,
                                   warmup_s=0.5, close_timeout_s=5)
            assert time.monotonic() - t >= 1.4, "audio is paced at real time"
            return res
        finally:
            server.close()
            await server.wait_closed()

    res = asyncio.run(go())
    assert res.errors == [] and not res.abnormal and res.close_code == 1000
    assert res.messages == 1 + 6 + 1
    assert len(res.update_lags) == 5, "the windows ending before 0.5 s are warm-up"
    # the 20 ms frame completing a window is sent at t0 + end - 0.02: lags start just above -0.02
    assert all(-0.021 < lag < 0.1 for lag in res.update_lags[:-1])
    assert len(res.eot_lags) == 1 and 0.02 < res.eot_lags[0] < 0.3  # the server's 50 ms flush
    assert res.word_ages == pytest.approx([0.1] * 4), "each Update's newest word ends 0.1 s before its window"
    assert res.audio_s == pytest.approx(1.44) and res.last_window_end == pytest.approx(1.44)


def test_client_counts_errors_abnormal_closes_and_refusals() -> None:
    async def failing(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "Error", "code": "INTERNAL_SERVER_ERROR", "description": "x"}))
        await ws.close(1011)

    def refuse(conn: ServerConnection, request: Request) -> Response:
        headers = Headers({"dg-error": "Too many concurrent streams", "Content-Length": "0"})
        return Response(503, "Service Unavailable", headers, b"")

    async def go() -> tuple[ClientResult, ClientResult]:
        bad = await _scripted_server(failing)
        full = await _scripted_server(failing, refuse)
        spec = StreamSpec(0, "continuous", "flux-general-en", bytes(RATE))
        try:
            r1 = await run_client(f"ws://127.0.0.1:{_port(bad)}/v2/listen", spec, start_delay_s=0,
                                  warmup_s=0, close_timeout_s=5)
            r2 = await run_client(f"ws://127.0.0.1:{_port(full)}/v2/listen", spec, start_delay_s=0,
                                  warmup_s=0, close_timeout_s=5)
            return r1, r2
        finally:
            for s in (bad, full):
                s.close()
                await s.wait_closed()

    errored, refused = asyncio.run(go())
    assert errored.errors == ["INTERNAL_SERVER_ERROR"] and errored.abnormal and errored.close_code == 1011
    assert errored.audio_s < 0.5, "sending stops when the server closes"
    assert refused.refused == 503 and refused.refused_reason == "Too many concurrent streams"
    assert refused.errors == [] and not refused.abnormal


# --- end to end --------------------------------------------------------------------------------


@pytest.mark.timeout(90)
def test_bench_against_fake_servers_with_the_baseline(tiny_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results" / "bench.json"
    t = time.monotonic()
    rc = main(["bench", "load", "--engine", "fake", "--data", str(tiny_data), "--streams", "2",
               "--duration", "6", "--warmup", "1", "--ramp", "0.5", "--pause", "0.2", "--ready-timeout", "20",
               "--mix", "conversational", "--out", str(out)])
    assert rc == 0
    assert time.monotonic() - t < 30
    report = json.loads(out.read_text())
    assert list(report["modes"]) == ["batched", "inline"]
    for mode in report["modes"].values():
        (step,) = mode["steps"]
        assert step["streams"] == 2
        assert step["errors"] == 0 and step["abnormal_closes"] == 0 and step["refusals"] == 0
        upd = step["update_lag"]
        assert upd["count"] > 20
        for key in ("p50", "p95", "max"):
            assert math.isfinite(upd[key]) and -0.03 < upd[key] < 1.0
        eot = step["eot_lag"]
        assert eot["count"] > 0, "the conversational mix ends turns"
        assert all(math.isfinite(eot[k]) and eot[k] < 1.0 for k in ("p50", "p95"))
        assert step["messages"] > upd["count"]
        assert step["server_cpu_s"] is not None and step["rss_end_mb"] > 10
        assert step["pass"] is True
        assert Path(mode["server"]["log"]).is_file()
    assert report["ratio_max_streams"] == 1.0
    assert Path(report["plot"]).is_file() and Path(report["plot"]).stat().st_size > 1000
    table = capsys.readouterr().out
    assert "batched" in table and "inline" in table and "pass" in table


@pytest.mark.timeout(90)
def test_bench_compares_with_an_earlier_revision_served_the_same_way(tiny_data: Path, tmp_path: Path) -> None:
    """--compare-ref: the baseline is another git revision's server (here HEAD, exported from the
    repository), spawned beside this one; the report gives the CPU ratio per step."""
    out = tmp_path / "bench.json"
    rc = main(["bench", "load", "--engine", "fake", "--data", str(tiny_data), "--streams", "2",
               "--duration", "4", "--warmup", "1", "--ramp", "0.5", "--pause", "0.2", "--ready-timeout", "20",
               "--compare-ref", "HEAD", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert list(report["modes"]) == ["batched", "ref HEAD"]
    ref = report["modes"]["ref HEAD"]
    assert "--scheduler" in ref["server"]["cmd"] and ref["steps"][0]["errors"] == 0
    assert ref["steps"][0]["cpu_ms_per_stream_s"] > 0 and set(report["ratio_cpu_per_stream_s"]) == {"2"}
    assert main(["bench", "load", "--engine", "fake", "--data", str(tiny_data), "--streams", "1",
                 "--compare-ref", "no-such-revision", "--out", str(tmp_path / "x.json")]) == 1


@pytest.mark.timeout(90)
def test_side_by_side_loads_both_servers_at_once(tiny_data: Path, tmp_path: Path) -> None:
    """--side-by-side: each step runs on both servers at the same time (each with the step's N
    clients), so their CPU figures share the machine's speed of that minute."""
    out = tmp_path / "bench.json"
    t = time.monotonic()
    rc = main(["bench", "load", "--engine", "fake", "--data", str(tiny_data), "--streams", "2",
               "--duration", "6", "--warmup", "1", "--ramp", "0.5", "--pause", "0.2", "--ready-timeout", "20",
               "--side-by-side", "--out", str(out)])
    took = time.monotonic() - t
    assert rc == 0
    report = json.loads(out.read_text())
    steps = [m["steps"][0] for m in report["modes"].values()]
    assert len(steps) == 2 and all(s["errors"] == 0 and s["streams"] == 2 and s["update_lag"]["count"] > 10
                                   for s in steps)
    assert all(s["cpu_ms_per_stream_s"] > 0 for s in steps) and set(report["ratio_cpu_per_stream_s"]) == {"2"}
    assert abs(steps[0]["wall_s"] - steps[1]["wall_s"]) < 3 and took < 6 + 2 * 4  # at once, not one by one
