"""``turnscribe eval wer``: scoring functions and a smoke run on a tiny data folder."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from turnscribe.eval.wer import Score, corpus_wer, normalise, score

# ------------------------------------------------------------------ scoring


def test_normalise_english_numbers_case_punctuation() -> None:
    assert normalise("Press 7.") == normalise("press seven") == "press 7"
    assert normalise("Um, OK, thank you!") == normalise("okay thank you")
    assert score("press seven", "Press 7.").errors == 0


def test_normalise_other_languages() -> None:
    assert normalise("Entre un número, ¿por favor?", "es") == "entre un numero por favor"
    assert normalise("Appuyez sur dièse.", "fr") == normalise("appuyez sur diese", "fr")


def test_score_counts() -> None:
    s = score("the cat sat on the mat", "the cat sat on a mat today")
    assert (s.ref_words, s.substitutions, s.deletions, s.insertions) == (6, 1, 0, 1)
    assert s.errors == 2 and s.wer == pytest.approx(2 / 6)
    assert score("hello there", "") == Score(2, 0, 2, 0)
    assert score("", "hello") == Score(0, 0, 0, 1)
    assert score("", "").wer is None


def test_corpus_wer_is_sum_of_errors_over_sum_of_words() -> None:
    a = score("call me back later", "call me back later")  # 0 / 4
    b = score("thank you", "thank")  # 1 / 2
    assert corpus_wer([a, b]) == pytest.approx(1 / 6)  # not the mean of per-file WERs (0.25)
    assert corpus_wer([]) is None
    assert (a + b) == Score(6, 0, 1, 0)


# ------------------------------------------------------------------ smoke run

CLEAN = ("ast_agent-pass.wav", "ast_agent-incorrect.wav")
SILENCE_KIND = "silence_only"


@pytest.fixture
def tiny_data(shared: Path, tmp_path: Path) -> Path:
    src = shared / "data"
    rows = list(csv.DictReader(open(src / "manifest.tsv", newline="", encoding="utf-8"), delimiter="\t"))
    fields = list(rows[0])
    keep = [r for r in rows if Path(r["path"]).name in CLEAN]
    assert len(keep) == 2
    data = tmp_path / "data"
    (data / "wer" / "clean").mkdir(parents=True)
    for r in keep:
        shutil.copy(src / r["path"], data / r["path"])
    with open(data / "manifest.tsv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=fields, delimiter="\t")
        w.writeheader()
        w.writerows(keep)
    labels = [json.loads(x) for x in (src / "turns" / "labels.jsonl").read_text().splitlines() if x.strip()]
    silent = min((lab for lab in labels if lab["kind"] == SILENCE_KIND), key=lambda lab: lab["duration_s"])
    (data / "turns").mkdir()
    shutil.copy(src / silent["path"], data / silent["path"])
    (data / "turns" / "labels.jsonl").write_text(json.dumps(silent) + "\n")
    return data


@pytest.mark.model
def test_eval_wer_smoke(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from turnscribe.cli import main

    out = tmp_path / "res" / "wer.json"
    assert main(["eval", "wer", "--data", str(tiny_data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wer_clean" in printed and "streaming WER" in printed

    res = json.loads(out.read_text())
    assert res["model"] == "tiny.en+base" and res["date"] and res["command"].startswith("turnscribe eval wer")
    assert set(res["sets"]) == {"wer_clean"}
    s = res["sets"]["wer_clean"]
    assert s["files"] == 2 and s["ref_words"] > 10
    assert s["streaming"]["wer"] < 0.3 and s["offline"]["wer"] < 0.3
    assert s["ratio"] is not None and 0 < s["rtf"] < 1
    assert res["overall"]["files"] == 2
    assert len(res["files"]) == 2
    f = res["files"][0]
    for key in ("path", "set", "reference", "audio_s", "compute_s", "streaming", "offline"):
        assert key in f
    assert f["streaming"]["hypothesis"] and f["offline"]["hypothesis"]
    assert res["non_speech"]["clips"] == 1 and res["non_speech"]["words"] == 0
