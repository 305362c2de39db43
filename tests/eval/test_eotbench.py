"""The eot-bench style sweep: spans, decisions per policy, frontier and headline figures."""

import argparse
import json

import numpy as np
import pytest

from turnscribe.eval.eot_spans import Span, group_of, spans_of
from turnscribe.eval.eot_sweep import Track, decision_time, frontier, headline, score_policy, sweep


def track(hold, length, scores, start=10.0):
    t = np.arange(1, len(scores) + 1) * 0.08
    return Track(Span(start, start + length, hold, "x"), t, t.copy(), np.array(scores, dtype=float))


def test_spans_are_holds_inside_turns_and_eots_up_to_the_next_turn():
    label = {"duration_s": 12.0, "turns": [
        {"start_s": 0.5, "end_s": 3.0, "pauses": [{"start_s": 1.0, "end_s": 1.4, "kind": "filler"}]},
        {"start_s": 6.0, "end_s": 8.0, "end_kind": "short_answer"}]}
    spans = spans_of(label)
    assert [(s.start, s.end, s.hold) for s in spans] == [(1.0, 1.4, True), (3.0, 6.0, False), (8.0, 12.0, False)]
    assert Span(0, 0.15, True, "").scored is False and Span(0, 0.25, True, "").scored is True
    assert Span(0, 0.1, False, "").scored is True  # every eot counts


def test_groups_are_speakers_or_sources():
    assert group_of({"speaker": "june_wallack_fr_ca"}) == "june_wallack_fr_ca"
    assert group_of({"source_package": "piper-tts 1.8.0 + joe"}) == "piper_synthetic_en"
    assert group_of({"source_package": "asterisk-core-sounds-en-g722 1.6"}) == "allison_smith_en_us"


def test_decision_needs_both_the_minimum_silence_and_the_threshold_or_the_timeout():
    tr = track(False, 2.0, [0.1, 0.9, 0.2, 0.2, 0.95, 0.1, 0.1, 0.1, 0.1, 0.1])
    assert decision_time(tr, 0.8, 0.08, 5.0, ask_once=False) == 0.16
    assert decision_time(tr, 0.8, 0.24, 5.0, ask_once=False) == pytest.approx(0.40, abs=1e-9)
    assert decision_time(tr, 0.99, 0.08, 0.64, ask_once=False) == pytest.approx(0.64, abs=1e-9)  # timeout
    assert decision_time(tr, 0.99, 0.08, 5.0, ask_once=False) is None
    # asked once at the minimum silence (pipecat's way): a later "complete" does not count
    assert decision_time(tr, 0.8, 0.24, 0.72, ask_once=True) == pytest.approx(0.72, abs=1e-9)
    assert decision_time(tr, 0.8, 0.16, 5.0, ask_once=True) == pytest.approx(0.16, abs=1e-9)


def test_policy_scores_cutoffs_on_scored_holds_and_latency_on_eots():
    tracks = [track(True, 0.3, [0.9, 0.1, 0.1]), track(True, 0.5, [0.1] * 6),
              track(True, 0.1, [0.99]),  # too short to score
              track(False, 2.0, [0.2, 0.9] + [0.1] * 20), track(False, 0.5, [0.1] * 6)]
    r = score_policy(tracks, 0.8, 0.08, 5.0)
    assert (r["cut"], r["holds"]) == (1, 2) and r["cutoff"] == 0.5
    assert r["missed"] == 1 and abs(r["mean_latency_s"] - (0.16 + 0.5) / 2) < 1e-9
    r = score_policy(tracks, 0.8, 0.16, 5.0)
    assert r["cut"] == 0


def test_frontier_keeps_only_undominated_points_and_headline_reads_budgets():
    pts = [{"cutoff": 0.4, "mean_latency_s": 0.2}, {"cutoff": 0.5, "mean_latency_s": 0.3},
           {"cutoff": 0.1, "mean_latency_s": 0.5}, {"cutoff": 0.04, "mean_latency_s": 0.9}]
    f = frontier(pts)
    assert [(p["cutoff"], p["mean_latency_s"]) for p in f] == [(0.4, 0.2), (0.1, 0.5), (0.04, 0.9)]
    h = headline(pts)
    assert h["cutoff_at_300ms"]["cutoff"] == 0.4 and h["cutoff_at_600ms"]["cutoff"] == 0.1
    assert h["latency_at_5pct"]["mean_latency_s"] == 0.9 and h["latency_at_10pct"]["mean_latency_s"] == 0.5


def test_silence_only_sweeps_the_minimum_silence_alone():
    tracks = [track(True, 0.3, [1.0] * 3), track(False, 1.0, [1.0] * 12)]
    pts = sweep(tracks, system="silence")
    assert {p["threshold"] for p in pts} == {0.0}
    best = headline(pts)["latency_at_5pct"]
    assert best["cutoff"] == 0.0 and abs(best["min_silence_s"] - 0.32) < 1e-9


def test_eager_report_counts_precision_and_lead_time():
    from turnscribe.eval.eot_sweep import eager_report

    tracks = [track(True, 0.5, [0.1, 0.55, 0.1, 0.1, 0.1, 0.1]),         # an eager end in a hold: resumed
              track(False, 2.0, [0.2, 0.55, 0.6, 0.8] + [0.1] * 20),     # eager at 0.16, end at 0.32
              track(False, 2.0, [0.1] * 25)]                              # no eager; timeout ends it
    (r,) = [e for e in eager_report(tracks, 0.7, 1.0) if e["eager_threshold"] == 0.5]
    assert r["precision"] == 0.5 and r["eager_in_holds"] == 1 and r["eots_with_eager"] == 1
    assert abs(r["lead_mean_s"] - 0.16) < 1e-9
    assert all(e["eager_threshold"] < 0.7 for e in eager_report(tracks, 0.7, 1.0))


def test_a_plot_per_clip(tmp_path):
    from turnscribe.eval.eot_report import plot_clips

    cues = {"silence": 0.3, "acoustic": [0.9], "words": [["Yes.", 0.5, 0.8, 0.9]], "soon_after_end": False}
    clip = {"path": "turns/x_001.wav", "spans": [[1.0, 1.4, True, "filler"], [2.0, 4.0, False, "complete"]],
            "trace": [(2.16, cues), (2.24, cues)], "smart_turn": [[0.2, 0.3], [0.8, 0.9]]}
    plot_clips([clip], tmp_path / "clips")
    out = tmp_path / "clips" / "x_001.png"
    assert out.exists() and out.stat().st_size > 1000


def test_cross_validation_chooses_the_parameters_on_the_other_folds(monkeypatch):
    from turnscribe.core.eot import EotModel
    from turnscribe.eval import eot_crossval

    def cues(silence, acoustic):
        return {"silence": silence, "acoustic": [acoustic], "words": [["That", 0.1, 0.2, 0.9], ["is", 0.2, 0.3, 0.9], ["fine.", 0.3, 0.4, 0.9]],
                "soon_after_end": False, "recent_pauses": []}

    def clip(group, hold_ac):
        # a hold 1.0-1.8 s and an eot 3.0-6.0 s; the acoustic answer tells them apart only for group "a"
        frames = [(round(1.0 + k * 0.08, 2), cues(k * 0.08, hold_ac)) for k in range(1, 10)]
        frames += [(round(3.0 + k * 0.08, 2), cues(k * 0.08, 0.99)) for k in range(1, 30)]
        return {"group": group, "spans": [[1.0, 1.8, True, "x"], [3.0, 6.0, False, "complete"]], "trace": frames}

    listens, deaf = EotModel(acoustic_weight=3.0), EotModel(acoustic_weight=0.0)
    monkeypatch.setattr(eot_crossval, "candidates", lambda: [deaf, listens])
    clips = [clip("a", 0.01), clip("a", 0.02), clip("b", 0.01), clip("c", 0.99)]
    models = eot_crossval.cv_models(clips, lambda c: c["group"])
    assert models["c"] is listens, "chosen on a and b, where the acoustic answer separates holds from ends"
    assert set(models) == {"a", "b", "c"}


def _recorded(path: str, group: str, hold_acoustic: float) -> dict:
    """A recorded clip (``eot_record.record``'s form) with a hold at 1.0-1.8 s and an eot at 3.0-6.0 s."""
    def cues(silence: float, acoustic: float) -> dict:
        return {"silence": silence, "acoustic": [acoustic], "words": [["That", 0.1, 0.2, 0.9], ["is", 0.2, 0.3, 0.9], ["fine.", 0.3, 0.4, 0.9]],
                "soon_after_end": False, "recent_pauses": []}

    frames = [(round(1.0 + k * 0.08, 2), cues(k * 0.08, hold_acoustic)) for k in range(1, 10)]
    frames += [(round(3.0 + k * 0.08, 2), cues(k * 0.08, 0.99)) for k in range(1, 38)]
    vad = [[round(k * 0.08, 2), round(max(0.0, k * 0.08 - (1.0 if k * 0.08 < 3.0 else 3.0)), 2)
            if (1.0 < k * 0.08 <= 1.8 or k * 0.08 > 3.0) else 0.0] for k in range(1, 76)]
    return {"path": path, "group": group, "spans": [[1.0, 1.8, True, "x"], [3.0, 6.0, False, "complete"]],
            "trace": frames, "vad": vad, "smart_turn": [[0.3] * 10, [0.9] * 15]}


def test_labels_of_every_turn_set_are_found_and_named(tmp_path):
    from turnscribe.eval.eot_spans import load_labels

    turn = {"start_s": 0.5, "end_s": 1.0, "pauses": []}
    for rel in ("turns/labels.jsonl", "turns/real/labels.jsonl", "turns/callers/labels.jsonl", "turns/x/y.jsonl"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        name = rel.replace("labels.jsonl", "a.wav")
        (tmp_path / rel).write_text(json.dumps({"path": name, "kind": "k", "duration_s": 2.0, "turns": [turn]}) + "\n")
    labels = load_labels(tmp_path)
    assert sorted(lab["set"] for lab in labels) == ["callers", "real", "synthetic"], "turns/x has no labels.jsonl"


@pytest.mark.parametrize("sets", [("callers",), ("callers", "real"), ("synthetic", "real", "callers")])
def test_eval_eot_on_any_number_of_turn_sets(tmp_path, sets):
    """Pooled and per set, every system with both baselines; a cross-validation with one fold is
    left out with its reason instead of crashing (an empty training fold)."""
    from turnscribe.eval import eotbench

    clips = []
    for i, s in enumerate(sets):
        folder = "turns" if s == "synthetic" else f"turns/{s}"
        clips += [_recorded(f"{folder}/c{i}a.wav", f"speaker{i}", 0.02), _recorded(f"{folder}/c{i}b.wav", f"speaker{i}", 0.97)]
    (tmp_path / "rec.json").write_text(json.dumps(clips))
    args = argparse.Namespace(data=tmp_path, out=tmp_path / "out", url=None, from_recording=str(tmp_path / "rec.json"),
                              no_plots=False)
    assert eotbench.run(args) == 0
    doc = json.loads((tmp_path / "out" / "eot.json").read_text())
    assert doc["sets"] == sorted(sets)
    assert {"turnscribe_shipped", "smart_turn", "silence"} <= set(doc["systems"])
    for entry in doc["systems"].values():
        assert set(entry["per_set"]) == set(sets) and all(r["frontier"] for r in entry["per_set"].values())
    one = len(sets) == 1
    assert ("turnscribe_cv_sets" in doc["cv_skipped"]) == one and ("turnscribe_cv_sets" in doc["systems"]) != one
    for s in sets:
        assert (tmp_path / "out" / f"pareto_{s}.png").stat().st_size > 1000
    assert (tmp_path / "out" / "pareto.png").exists()
