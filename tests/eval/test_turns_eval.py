"""``turnscribe eval turns``: the metrics on hand-made labels and events; one smoke run on real clips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from turnscribe.eval.turn_events import aggregate, clip_metrics, stats
from turnscribe.types.engine import Word
from turnscribe.wire.events import Trigger, TurnEvent, TurnInfo

U, S, E, R, EOT = (TurnEvent.UPDATE, TurnEvent.START_OF_TURN, TurnEvent.EAGER_END_OF_TURN,
                   TurnEvent.TURN_RESUMED, TurnEvent.END_OF_TURN)


def ti(t: float, event: TurnEvent = U, conf: float = 0.1, text: str = "", trigger: Trigger | None = None,
       word_start: float = 0.0) -> TurnInfo:
    words = tuple(Word(w, word_start + 0.2 * i, word_start + 0.2 * i + 0.15, 0.9) for i, w in enumerate(text.split()))
    if event is EOT and trigger is None:
        trigger = Trigger.MODEL
    return TurnInfo(event=event, turn_index=0, audio_window_start=0.0, audio_window_end=t, words=words,
                    end_of_turn_confidence=conf, trigger=trigger)


def turn(start: float, end: float, text: str, end_kind: str = "complete", pauses=()) -> dict:
    return {"start_s": start, "end_s": end, "transcript": text, "end_kind": end_kind,
            "pauses": [{"start_s": a, "end_s": b, "kind": k} for a, b, k in pauses]}


def label(kind: str, turns: list[dict], duration: float = 8.0, name: str = "x") -> dict:
    return {"path": f"turns/{name}.wav", "duration_s": duration, "kind": kind, "turns": turns,
            "pauses": [p for t in turns for p in t["pauses"]], "expect_turns": len(turns)}


def test_cutoff_inside_a_pause_is_counted_with_its_kind():
    lab = label("filler_then_continuation", [
        turn(0.5, 4.0, "Um, well, I'm not sure.", pauses=[(1.0, 2.0, "filler")])])
    events = [ti(0.72), ti(0.96, S, text="Um, well,"), ti(1.2), ti(1.44, EOT, 0.85, "Um, well,"),
              ti(2.4, S, text="I'm"), ti(3.6), ti(4.32, EOT, 0.9, "I'm not sure.")]
    clip = clip_metrics(lab, events)
    t = clip["turns"][0]
    assert t["cut"] and t["cut_at"] == [1.44]
    assert t["pauses"][0]["cut"] and t["pauses"][0]["into_pause_s"] == pytest.approx(0.44)
    assert t["detected"] and t["latency_s"] == pytest.approx(0.32)
    # the end transcript lacks "well" (the normaliser drops "um", expands "I'm"): 1 of 5 words
    assert t["wer"] == pytest.approx(0.2) and t["wer_joined"] == 0.0
    m = aggregate([clip])
    assert m["false_cutoff"]["by_kind"]["filler"] == {"n": 1, "cut": 1, "rate": 1.0}
    assert m["false_cutoff"]["rate"] == 1.0 and m["false_cutoff"]["turns_cut"] == 1
    assert m["spurious"]["other_starts"] == 0  # the restart after the cut lies inside the turn


def test_end_after_the_turn_is_no_cutoff_and_list_pause_survives():
    lab = label("list", [turn(0.5, 3.0, "Eggs, milk.", pauses=[(1.0, 1.8, "list_pause")])])
    clip = clip_metrics(lab, [ti(0.96, S, text="Eggs,"), ti(3.0, EOT, 0.9, "Eggs, milk.")])
    assert not clip["turns"][0]["pauses"][0]["cut"] and not clip["turns"][0]["cut"]
    assert clip["turns"][0]["latency_s"] == 0.0  # at turn.end_s counts as detected
    assert aggregate([clip])["false_cutoff"]["by_kind"]["list_pause"]["rate"] == 0.0


def test_missed_short_answer_is_counted():
    lab = label("short_answers", [turn(0.7, 1.1, "Yes.", "short_answer"), turn(4.1, 4.6, "No.", "short_answer")])
    # the first answer ends only after the second began (too late: missed); the second is never ended
    events = [ti(0.96, S, text="Yes."), ti(4.32, EOT, 0.8, "Yes. No."), ti(4.56, S, text="No."), ti(8.0)]
    clip = clip_metrics(lab, events)
    assert [t["detected"] for t in clip["turns"]] == [False, False]
    m = aggregate([clip])
    assert m["ends"]["missed"] == 2 and m["ends"]["missed_rate"] == 1.0
    assert m["ends"]["short_answer_clips"] == {"n": 2, "missed": 2, "missed_rate": 1.0, "late": 0}
    assert m["ends"]["by_end_kind"]["short_answer"]["missed"] == 2
    assert m["latency"]["n"] == 0 and m["latency"]["median"] is None


def test_late_end_is_detected_but_late():
    lab = label("complete_real", [turn(0.5, 2.0, "Hello there.")], duration=6.0)
    clip = clip_metrics(lab, [ti(0.96, S, text="Hello"), ti(3.84, EOT, 0.5, "Hello there.", Trigger.TIMEOUT)])
    t = clip["turns"][0]
    assert t["detected"] and t["late"] and t["trigger"] == "timeout"
    m = aggregate([clip])
    assert m["ends"]["late"] == 1 and m["ends"]["missed"] == 0 and m["ends"]["triggers"] == {"timeout": 1}


def test_latency_median_and_p95_arithmetic():
    assert stats([]) == {"n": 0, "median": None, "p90": None, "p95": None, "mean": None, "max": None}
    s = stats([0.1 * i for i in range(1, 11)])  # 0.1 … 1.0
    assert s["median"] == pytest.approx(0.55) and s["p95"] == pytest.approx(0.955)
    assert s["p90"] == pytest.approx(0.91) and s["mean"] == pytest.approx(0.55) and s["max"] == 1.0
    # through the metrics: three one-turn clips with latencies 0.2, 0.4 and 1.0 s
    clips = []
    for i, lat in enumerate((0.2, 0.4, 1.0)):
        lab = label("complete_real", [turn(0.5, 2.0, "Hi.")], name=f"c{i}")
        clips.append(clip_metrics(lab, [ti(0.72, S, text="Hi."), ti(2.0 + lat, EOT, 0.9, "Hi.")]))
    lat = aggregate(clips)["latency"]
    assert lat["n"] == 3 and lat["median"] == pytest.approx(0.4) and lat["p95"] == pytest.approx(0.94)
    assert lat["mean"] == pytest.approx(0.5333, abs=1e-3) and lat["by_end_kind"]["complete"]["n"] == 3


def test_eager_precision_and_lead():
    lab = label("hesitation", [turn(0.5, 5.0, "I think, actually, yes.", pauses=[(1.0, 2.0, "hesitation")])])
    events = [ti(0.72, S, text="I think,"), ti(1.44, E, 0.6, "I think,"), ti(2.4, R, 0.1, "I think, actually"),
              ti(5.04, E, 0.6, "I think, actually, yes."), ti(5.28, U, 0.65, "I think, actually, yes."),
              ti(5.52, EOT, 0.9, "I think, actually, yes.")]
    m = aggregate([clip_metrics(lab, events)])
    e = m["eager"]
    assert (e["n"], e["confirmed"], e["resumed"], e["unresolved"]) == (2, 1, 1, 0)
    assert e["precision"] == 0.5 and e["lead"]["median"] == pytest.approx(0.48)
    assert m["false_cutoff"]["cut"] == 0  # an eager end is not a cut-off


def test_spurious_starts_on_a_silence_clip_and_off_turn_starts():
    silent = clip_metrics(label("silence_only", []), [ti(2.4, S, text="you"), ti(3.6, EOT, 0.9, "you"), ti(6.0)])
    assert silent["spurious_starts"] == [2.4]
    speech = clip_metrics(label("complete_real", [turn(3.0, 4.0, "Hello.")]),
                          [ti(1.2, S, text="Uh"), ti(2.6, S, text="Hello."), ti(4.3, S, text="Hm")])
    assert speech["spurious_starts"] == [1.2]  # 2.6 is 0.4 s early, 4.3 one tick after the end: both fine
    m = aggregate([silent, speech, clip_metrics(label("noise_only_music", []), [ti(0.24), ti(0.48)])])
    assert m["spurious"] == {"empty_clips": 2, "empty_clip_starts": 1, "empty_clips_with_turn": 1,
                             "other_starts": 1}


@pytest.mark.model
def test_command_on_two_real_clips(tmp_path: Path, shared: Path):
    import argparse

    from turnscribe.eval import turn_events

    src = shared / "data" / "turns"
    keep = {}
    for line in (src / "labels.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["kind"] in ("short_answers", "silence_only") and row["kind"] not in keep:
            keep[row["kind"]] = row
    data = tmp_path / "data"
    (data / "turns").mkdir(parents=True)
    for row in keep.values():
        shutil.copy(src / Path(row["path"]).name, data / row["path"])
    (data / "turns" / "labels.jsonl").write_text("".join(json.dumps(r) + "\n" for r in keep.values()))
    out = tmp_path / "out"
    parser = argparse.ArgumentParser()
    turn_events.add_command(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(["turns", "--data", str(data), "--out", str(out)])
    assert args.func(args) == 0
    doc = json.loads((out / "turns.json").read_text())
    assert doc["metrics"]["clips"] == 2 and doc["metrics"]["turns"] == len(keep["short_answers"]["turns"])
    assert doc["settings"]["eot_threshold"] == 0.7
    assert {c["kind"] for c in doc["clips"]} == {"short_answers", "silence_only"}
    assert all(c["events"] for c in doc["clips"])
    for row in keep.values():
        png = out / "clips" / f"{Path(row['path']).stem}.png"
        assert png.is_file() and png.stat().st_size > 10_000


def test_wer_scores_digit_runs_as_numbers():
    from turnscribe.eval.turn_events import wer

    assert wer("nine four one zero three", "9 4 1 0 3") == 0.0  # the normaliser alone gives "9 4 one 0 3"
    assert wer("The order number is seven three eight two two six", "The order number is 738. 226") == 0.0
    assert wer("Um, is it possible?", "Is it possible?") == 0.0  # fillers are dropped
    assert wer("Yes.", "") == 1.0 and wer("", "anything") is None
