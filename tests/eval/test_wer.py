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


def test_strict_form_counts_digits_against_spoken_numbers() -> None:
    from turnscribe.eval.wer import strict_normalise

    assert strict_normalise("Press 1 to list users. Um, touch-tone OK?") == "press 1 to list users touch tone okay"
    assert score("press one to list users", "Press 1 to list users.", strict=True).substitutions == 1
    assert score("press one to list users", "Press 1 to list users.").errors == 0, "the folded score forgives it"
    assert score("press one to list users", "Press one to list users.", strict=True).errors == 0


def test_first_partial_precision_counts_the_words_that_survive() -> None:
    from turnscribe.eval.wer import first_partials, surviving_words
    from turnscribe.types.engine import Word
    from turnscribe.wire.events import TurnEvent, TurnInfo

    assert surviving_words("Pray.", "Press one to list users.") == (0, 1)
    assert surviving_words("Press one", "Press one to list users.") == (2, 2)
    assert surviving_words("", "Anything.") == (0, 0)

    def ti(event: TurnEvent, index: int, text: str) -> TurnInfo:
        words = tuple(Word(w, 0.1 * k, 0.1 * k + 0.1, 0.9) for k, w in enumerate(text.split()))
        return TurnInfo(event=event, turn_index=index, audio_window_start=0.0, audio_window_end=1.0,
                        words=words, end_of_turn_confidence=0.5)

    events = [ti(TurnEvent.UPDATE, 0, ""), ti(TurnEvent.START_OF_TURN, 0, "Pray"), ti(TurnEvent.UPDATE, 0, "Press one"),
              ti(TurnEvent.END_OF_TURN, 0, "Press one."), ti(TurnEvent.START_OF_TURN, 1, "Yes")]
    assert first_partials(events) == [("Pray", "Press one.")], "only ended turns; the first words of each"
    from turnscribe.eval.wer import turn_partials

    assert turn_partials(events) == [(["Pray", "Press one"], "Press one.")], "every transcript it showed"


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
    with open(src / "manifest.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
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
    assert s["strict"]["streaming"]["wer"] is not None and s["strict"]["offline"]["wer"] is not None
    assert s["first_partial_words"] > 0 and 0 <= s["first_partial_precision"] <= 1
    assert 0 <= s["update_precision"] <= 1
    assert "strict stream" in printed and "1st partial prec" in printed
