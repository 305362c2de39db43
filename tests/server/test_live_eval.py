"""``eval eot --url``: a clip streamed at real time through a live server, scored on the wall clock."""

from __future__ import annotations

import asyncio
import time

from helpers import quiet, tone, write_wav

from turnscribe.eval.eot_live import live_summary, score_live
from turnscribe.eval.live import stream_file


def test_a_clip_streams_at_real_time_and_its_end_is_scored_on_arrival(server, tmp_path):
    path = tmp_path / "turn.wav"
    write_wav(path, quiet(0.5), tone(1.3), quiet(2.2))
    t0 = time.monotonic()
    res = asyncio.run(stream_file(f"{server.url}/v2/listen", path, {"model": "flux-general-en"}))
    wall = time.monotonic() - t0
    assert res.error is None and res.close_code == 1000
    assert wall >= 4.0 - 0.05, "the audio went out at real time, not faster"
    infos = res.turninfos()
    arrivals = [t for t, _ in infos]
    assert arrivals == sorted(arrivals) and len(infos) > 10
    label = {"duration_s": 4.0, "turns": [{"start_s": 0.5, "end_s": 1.8, "pauses": []}]}
    scored = score_live(label, infos)
    (eot,) = scored["eots"]
    assert eot["latency_s"] is not None, "the EndOfTurn was decided in the silence after the turn"
    assert eot["latency_s"] >= eot["audio_latency_s"] - 0.02, "arrival is never before the audio it covers"
    assert eot["latency_s"] < 1.5
    summary = live_summary([scored])
    assert summary["missed"] == 0 and summary["latency_median_s"] == eot["latency_s"]


def test_an_end_decided_inside_a_hold_is_a_cut_off_even_if_it_arrives_after_it():
    label = {"duration_s": 6.0, "turns": [{"start_s": 0.5, "end_s": 3.0,
                                           "pauses": [{"start_s": 1.0, "end_s": 1.5, "kind": "filler"}]}]}
    infos = [(1.7, {"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 1.4}),
             (3.4, {"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 3.3})]
    scored = score_live(label, infos)
    assert scored["holds"] == [{"start": 1.0, "end": 1.5, "cut": True, "resumed_s": 1.5}]
    assert scored["eots"][0]["latency_s"] == 0.4 and scored["eots"][0]["audio_latency_s"] == 0.3
    assert live_summary([scored])["cutoff"] == 1.0


def test_holds_the_speaker_goes_on_from_with_no_word_are_counted_apart():
    """Energy-edge labels: 10 ms of energy after a pause, then another pause or the turn's end."""
    label = {"duration_s": 6.0, "turns": [{"start_s": 0.5, "end_s": 2.61, "pauses": [
        {"start_s": 0.8, "end_s": 1.3}, {"start_s": 1.31, "end_s": 1.8}, {"start_s": 2.0, "end_s": 2.6}]}]}
    infos = [(1.2, {"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 1.1}),
             (2.5, {"type": "TurnInfo", "event": "EndOfTurn", "audio_window_end": 2.4})]
    scored = score_live(label, infos)
    assert [h["resumed_s"] for h in scored["holds"]] == [0.01, 0.2, 0.01]
    summary = live_summary([scored])
    assert (summary["cut"], summary["holds"]) == (2, 3)
    assert (summary["cut_resumed"], summary["holds_resumed"]) == (0, 1), "only the hold before 0.2 s of speech"


def test_a_silent_clip_counts_as_turnless_and_a_start_in_it_as_spurious(server, tmp_path):
    path = tmp_path / "quiet.wav"
    write_wav(path, quiet(1.5))
    res = asyncio.run(stream_file(f"{server.url}/v2/listen", path, {"model": "flux-general-en"}))
    label = {"duration_s": 1.5, "turns": []}
    scored = score_live(label, res.turninfos())
    assert scored["spurious_starts"] == 0
    fake_start = [(0.5, {"type": "TurnInfo", "event": "StartOfTurn", "audio_window_end": 0.48})]
    assert score_live(label, fake_start)["spurious_starts"] == 1
    summary = live_summary([scored, score_live(label, fake_start)])
    assert summary["turnless_clips"] == 2 and summary["spurious_starts"] == 1
    assert summary["nonspeech_s"] == 3.0 and summary["spurious_per_hour_nonspeech"] == 1200.0


def test_a_start_outside_every_labelled_turn_is_spurious_against_the_non_speech_time():
    label = {"duration_s": 10.0, "turns": [{"start_s": 2.0, "end_s": 3.0, "pauses": []}]}
    starts = [(t, {"type": "TurnInfo", "event": "StartOfTurn", "audio_window_end": t}) for t in (2.4, 6.0)]
    scored = score_live(label, starts)
    assert scored["spurious_starts"] == 1 and scored["nonspeech_s"] == 9.0, "2.4 s starts the turn, 6.0 s none"


def test_the_url_mode_scores_every_turn_set_pooled_and_per_set(server, tmp_path):
    import argparse
    import json

    from turnscribe.eval import eotbench

    turn = {"start_s": 0.5, "end_s": 1.8, "pauses": []}
    for folder in ("turns", "turns/callers"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
        write_wav(tmp_path / folder / "a.wav", quiet(0.5), tone(1.3), quiet(2.2))
        label = {"path": f"{folder}/a.wav", "kind": "k", "duration_s": 4.0, "speaker": folder, "turns": [turn]}
        (tmp_path / folder / "labels.jsonl").write_text(json.dumps(label) + "\n")
    args = argparse.Namespace(data=tmp_path, out=tmp_path / "out", url=f"{server.url}/v2/listen", streams=2,
                              groups="", sets="", limit=None, api_key=None, eot_threshold=None,
                              eager_eot_threshold=None, eot_timeout_ms=None)
    (tmp_path / "out").mkdir()
    assert eotbench.run(args) == 0
    doc = json.loads((tmp_path / "out" / "live.json").read_text())
    assert set(doc["per_set"]) == {"synthetic", "callers"}
    assert doc["overall"]["eots"] == 2 and all(m["eots"] == 1 for m in doc["per_set"].values())
    args.sets = "callers"
    assert eotbench.run(args) == 0
    doc = json.loads((tmp_path / "out" / "live.json").read_text())
    assert set(doc["per_set"]) == {"callers"}, "--sets streams only those turn sets"


def test_an_eot_without_its_own_end_says_why():
    """Cut at a hold (its rest started no turn), never opened, or ended after the next turn began."""
    label = {"duration_s": 12.0, "turns": [{"start_s": 1.0, "end_s": 2.0, "pauses": [{"start_s": 1.4, "end_s": 1.7}]},
                                           {"start_s": 4.0, "end_s": 5.0, "pauses": []},
                                           {"start_s": 7.0, "end_s": 8.0, "pauses": []}]}
    infos = [(t, {"type": "TurnInfo", "event": e, "audio_window_end": t})
             for t, e in ((1.2, "StartOfTurn"), (1.6, "EndOfTurn"), (7.3, "StartOfTurn"), (12.0, "EndOfTurn"))]
    scored = score_live(label, infos)
    assert [e["missed"] for e in scored["eots"]] == ["ended_early", "never_opened", None]
    summary = live_summary([score_live(label, infos[:3])])
    assert summary["missed_by"] == {"ended_early": 1, "late": 1, "never_opened": 1}
