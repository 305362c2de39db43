"""turnscribe transcribe: sources, output formats, and the command against a real socket (fake engines)."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from helpers import speech_like, write_pcm_wav
from servertools import make_server

from turnscribe.cli import main
from turnscribe.client.url import listen_url
from turnscribe.transcribe.formats import TurnCollector, write_formatted
from turnscribe.transcribe.source import SourceError, open_source

RATE = 16000


def tone_turns(seconds: float = 6.0, seed: int = 0) -> np.ndarray:
    return np.frombuffer(speech_like(seconds, seed), dtype="<i2")


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    return write_pcm_wav(path, pcm.tobytes())


def write_flac(path: Path, pcm: np.ndarray) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("flac", rate=RATE, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        for packet in s.encode(frame):
            c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return path


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(["transcribe", "--engine", "fake", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out, err


def turninfos(jsonl: str) -> list[dict]:
    """The messages without what differs between two streams of the same audio (the request id)."""
    return [{k: v for k, v in json.loads(line).items() if k != "request_id"} for line in jsonl.splitlines()]


# ---------------------------------------------------------------------------------------- formats

def _ti(event: str, index: int, words: list[tuple[str, float, float]], **kw) -> str:
    doc = {"type": "TurnInfo", "event": event, "turn_index": index, "audio_window_start": 0.0,
           "audio_window_end": 9.0, "transcript": " ".join(w for w, _, _ in words),
           "words": [{"word": w, "confidence": 0.9, "start": s, "end": e} for w, s, e in words],
           "end_of_turn_confidence": 0.5, **kw}
    return json.dumps(doc)


def collected() -> TurnCollector:
    c = TurnCollector()
    for line in (json.dumps({"type": "Connected"}), _ti("StartOfTurn", 0, [("Hi", 0.5, 0.8)]),
                 _ti("EndOfTurn", 0, [("Hi", 0.5, 0.8), ("there.", 0.9, 1.25)]),
                 _ti("Update", 1, []), _ti("Update", 1, [("Bye", 3661.0, 3661.4)])):
        c.add(line)
    return c


def test_turns_are_the_ends_plus_the_words_open_at_the_end_of_the_stream():
    turns = collected().finish()
    assert [(t.index, t.transcript, t.start, t.end) for t in turns] == [(0, "Hi there.", 0.5, 1.25),
                                                                       (1, "Bye", 3661.0, 3661.4)]


def test_srt_and_vtt_have_one_cue_per_turn_with_word_times():
    turns = collected().finish()
    srt, vtt, text = io.StringIO(), io.StringIO(), io.StringIO()
    write_formatted("srt", turns, srt)
    write_formatted("vtt", turns, vtt)
    write_formatted("text", turns, text)
    assert srt.getvalue() == ("1\n00:00:00,500 --> 00:00:01,250\nHi there.\n\n"
                              "2\n01:01:01,000 --> 01:01:01,400\nBye\n")
    assert vtt.getvalue() == ("WEBVTT\n\nturn-0\n00:00:00.500 --> 00:00:01.250\nHi <00:00:00.900>there.\n\n"
                              "turn-1\n01:01:01.000 --> 01:01:01.400\nBye\n")
    assert text.getvalue() == "Hi there.\nBye\n"


def test_an_error_message_is_collected():
    c = TurnCollector()
    c.add(json.dumps({"type": "Error", "code": "UNSUPPORTED_AUDIO", "description": "nope"}))
    assert c.errors == ["UNSUPPORTED_AUDIO: nope"] and c.finish() == []


def test_listen_url_takes_a_base_or_a_full_url_and_refuses_http():
    assert listen_url("ws://h:1", [("model", "flux-general-en")]) == "ws://h:1/v2/listen?model=flux-general-en"
    assert listen_url("wss://h/v2/listen/", [("keyterm", "a b")]) == "wss://h/v2/listen?keyterm=a+b"
    with pytest.raises(ValueError, match="ws://"):
        listen_url("http://h:1", [])


# ---------------------------------------------------------------------------------------- sources

def test_sources_refuse_what_cannot_be_sent(tmp_path):
    (tmp_path / "a.raw").write_bytes(b"\0" * 100)
    (tmp_path / "junk.bin").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(SourceError, match="--encoding and --sample-rate"):
        open_source(str(tmp_path / "a.raw"))
    with pytest.raises(SourceError, match="needs --sample-rate"):
        open_source(str(tmp_path / "a.raw"), encoding="linear16")
    with pytest.raises(SourceError, match="cannot be read from a byte stream"):
        open_source(str(tmp_path / "a.raw"), encoding="opus", sample_rate=48000)
    with pytest.raises(SourceError, match=r"cannot read .*missing\.wav"):
        open_source(str(tmp_path / "missing.wav"))
    with pytest.raises(SourceError, match="cannot decode"):
        open_source(str(tmp_path / "junk.bin"))
    with pytest.raises(SourceError, match="--encoding and --sample-rate"):
        open_source("-", stdin=io.BufferedReader(io.BytesIO(b"\1\2\3\4" * 100)))


def test_a_wav_is_sent_as_its_own_bytes_and_a_flac_is_decoded_to_linear16(tmp_path):
    pcm = tone_turns(3.0)
    wav = open_source(str(write_wav(tmp_path / "a.wav", pcm)))
    assert wav.encoding is None and b"".join(wav.frames) == (tmp_path / "a.wav").read_bytes()
    assert wav.duration_s == pytest.approx(3.0, abs=0.01)
    flac = open_source(str(write_flac(tmp_path / "a.flac", pcm)))
    assert (flac.encoding, flac.sample_rate) == ("linear16", 16000)
    assert np.array_equal(np.frombuffer(b"".join(flac.frames), "<i2"), pcm)  # FLAC is lossless


# ---------------------------------------------------------------------------------------- the command

def test_every_format_from_a_wav_and_the_same_turns_from_flac_and_raw_stdin(tmp_path, capsys, monkeypatch):
    pcm = tone_turns(8.0, seed=3)
    wav, flac = write_wav(tmp_path / "t.wav", pcm), write_flac(tmp_path / "t.flac", pcm)
    code, jsonl, err = run_cli(["-f", "jsonl", str(wav)], capsys)
    assert code == 0, err
    msgs = [json.loads(line) for line in jsonl.splitlines()]
    assert msgs[0]["type"] == "Connected" and [m["sequence_id"] for m in msgs] == list(range(len(msgs)))
    assert {m["request_id"] for m in msgs} == {msgs[0]["request_id"]}
    ends = [m for m in msgs if m.get("event") == "EndOfTurn"]
    assert ends and msgs[-1]["event"] == "Update"
    assert msgs[-1]["audio_window_end"] == pytest.approx(8.0, abs=1e-3)  # CloseStream: every sample

    code, text, _ = run_cli([str(wav)], capsys)
    assert code == 0 and text.splitlines()[: len(ends)] == [e["transcript"] for e in ends]
    code, srt, _ = run_cli(["-f", "srt", str(wav)], capsys)
    assert code == 0 and srt.startswith("1\n00:00:") and " --> " in srt
    code, vtt, _ = run_cli(["-f", "vtt", str(wav)], capsys)
    assert code == 0 and vtt.startswith("WEBVTT\n\nturn-0\n")

    # a FLAC decodes to the WAV's samples, sent as linear16: same turns, same words
    code, from_flac, _ = run_cli(["-f", "text", str(flac)], capsys)
    assert code == 0 and from_flac == text
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(pcm.tobytes()))))
    code, from_stdin, _ = run_cli(["--encoding", "linear16", "--sample-rate", "16000", "-"], capsys)
    assert code == 0 and from_stdin == text


def test_flux_flags_reach_the_session_and_bad_values_are_usage_errors(tmp_path, capsys):
    wav = write_wav(tmp_path / "t.wav", tone_turns(8.0, seed=3))
    code, out, err = run_cli(["-f", "jsonl", "--keyterm", "turnscribe", "--eot-timeout-ms", "1000",
                              "--decision-reasons", str(wav)], capsys)
    assert code == 0, err
    ends = [json.loads(x) for x in out.splitlines() if '"EndOfTurn"' in x]
    assert ends and all("turnscribe_reasons" in e for e in ends)
    code, _, err = run_cli(["--eot-threshold", "1.5", str(wav)], capsys)
    assert code == 2 and "eot_threshold must be between" in err
    code, _, err = run_cli(["--keyterm", "x" * 101, str(wav)], capsys)
    assert code == 2 and "keyterm" in err


def test_unreadable_files_fail_with_a_reason_and_the_others_are_still_written(tmp_path, capsys):
    wav = write_wav(tmp_path / "good.wav", tone_turns(4.0))
    (tmp_path / "bad.mp3").write_bytes(b"\xff\xfb garbage" * 50)
    code, _, err = run_cli(["--output-dir", str(tmp_path / "out"), "-f", "srt", str(tmp_path / "missing.wav"),
                            str(tmp_path / "bad.mp3"), str(wav)], capsys)
    assert code == 1
    assert "cannot read" in err and "missing.wav" in err and "bad.mp3" in err
    assert (tmp_path / "out" / "good.srt").read_text().startswith("1\n")
    code, _, err = run_cli(["-o", str(tmp_path / "x"), str(wav), str(wav)], capsys)
    assert code == 2 and "--output-dir" in err


def test_url_mode_prints_what_the_server_sent_and_matches_the_local_run(tmp_path, capsys):
    """Fake engines are exact: a server's messages equal the local Session's, the request id aside."""
    wav = write_wav(tmp_path / "t.wav", tone_turns(8.0, seed=5))
    code, local, err = run_cli(["-f", "jsonl", str(wav)], capsys)
    assert code == 0, err
    srv = make_server(api_keys=frozenset({"k1"}))
    try:
        code, remote, err = run_cli(["-f", "jsonl", "--url", srv.url, "--api-key", "k1", str(wav)], capsys)
        assert code == 0, err
        code, _, err = run_cli(["--url", srv.url, "--api-key", "wrong", str(wav)], capsys)
        assert code == 1 and "HTTP 401" in err
    finally:
        srv.stop()
    assert turninfos(remote) == turninfos(local)
    assert any('"EndOfTurn"' in line for line in remote.splitlines())


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (CI installs it)")
def test_progress_bar_on_a_terminal_only(tmp_path):
    """A real terminal (a tmux pane) shows the bar on stderr; piped stderr gets none."""
    wav = write_wav(tmp_path / "t.wav", tone_turns(6.0))
    cmd = [sys.executable, "-m", "turnscribe", "transcribe", "--engine", "fake", "--realtime", str(wav)]
    session = f"turnscribe-test-{os.getpid()}"
    done = tmp_path / "done"
    shell = f"{shlex.join(cmd)} > {tmp_path / 'out.txt'}; echo $? > {done}; sleep 30"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "10", shell], check=True)
    try:
        panes = []
        for _ in range(100):
            time.sleep(0.1)
            panes.append(subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True,
                                        text=True, check=False).stdout)
            if done.exists():
                break
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, check=False)
    bars = [p for p in panes if "%|" in p and "s audio" in p]
    assert bars, panes[-3:]
    assert re.search(r"t\.wav: +\d+%\|.*\| [0-9.]+/6\.0 s audio", bars[-1])
    assert done.read_text().strip() == "0" and (tmp_path / "out.txt").read_text().strip()
    piped = subprocess.run([*cmd[:-2], str(wav)], capture_output=True, timeout=60, check=False)
    assert piped.returncode == 0 and b"%|" not in piped.stderr
