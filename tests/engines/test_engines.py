"""Real engines: mel features, Whisper ASR, Silero VAD, Smart Turn, registry."""

from __future__ import annotations

import csv
import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from helpers import ref_log_mel

from turnscribe.engines.mel import log_mel
from turnscribe.types.engine import (
    SAMPLE_RATE,
    AsrEngine,
    AsrRequest,
    TurnEngine,
    TurnRequest,
    VadEngine,
    VadRequest,
)

SR = 16000


def load(path: Path) -> np.ndarray:
    """float32 samples of a 16 kHz mono PCM16 WAV (same as tests/conftest.read_wav_int16, scaled)."""
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1 and w.getframerate() == SR, path
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0


# ------------------------------------------------------------------ text helpers


def wer(ref: str, hyp: str) -> float:
    """WER after the project's scoring normaliser (``turnscribe eval wer``)."""
    from turnscribe.eval.wer import score

    return score(ref, hyp).wer or 0.0


def test_wer_helper() -> None:
    assert wer("my number is four five six", "My number is 456.") == 0.0
    assert wer("a b c d", "a x c") == 0.5


# ------------------------------------------------------------------ mel


def test_mel_matches_reference() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(int(2.3 * SR)) / SR
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    for n_frames in (300, 230, 150):  # padded, exact, truncated
        got = log_mel(audio, n_frames)
        assert got.shape == (80, n_frames) and got.dtype == np.float32
        np.testing.assert_allclose(got, ref_log_mel(audio, n_frames), atol=1e-5)


def test_mel_shapes_and_range() -> None:
    audio = np.random.default_rng(1).standard_normal(SR * 3).astype(np.float32) * 0.1
    assert log_mel(audio, 800).shape == (80, 800)  # Smart Turn: W = 8 s
    assert log_mel(audio, 1000, n_mels=128).shape == (128, 1000)
    m = log_mel(audio, 1000)
    assert m.max() - m.min() <= 2.0 + 1e-6  # clamp to max - 8 in log10, then / 4
    z = log_mel(np.zeros(100, np.float32), 100)
    assert np.all(np.isfinite(z))


# ------------------------------------------------------------------ pure helpers of the ASR module


def test_strip_tags() -> None:
    from turnscribe.engines.whisper_asr import _strip_tags
    from turnscribe.types.engine import Word

    words = [
        Word(t, float(i), float(i) + 0.5, 0.9)
        for i, t in enumerate(
            ["[Music", "playing]", "Hello,", "(laughs)", "there.", "♪", "[BLANK_AUDIO]", "-"]
        )
    ]
    assert [w.text for w in _strip_tags(words)] == ["Hello,", "there."]
    assert [w.start for w in _strip_tags(words)] == [2.0, 4.0]


def test_a_run_of_words_said_twice_in_a_row_is_a_loop() -> None:
    from turnscribe.engines.whisper_asr import _repeats_itself

    assert _repeats_itself("To reset your speaking volume, to reset your speaking volume to the default.")
    assert _repeats_itself("Press for to remove the status of this message. Press for, to remove")
    assert not _repeats_itself("Bye, bye, bye.")  # short runs are speech, not a loop
    assert not _repeats_itself("Press one to mute. Press two to lock.")


@pytest.mark.model
def test_a_short_window_that_loops_is_decoded_in_the_long_one(shared: Path) -> None:
    """Whisper base says this prompt twice in a 6 s window; the text that comes back is the long
    window's, said once."""
    from turnscribe.engines.model_files import whisper_base_dir
    from turnscribe.engines.whisper_asr import WhisperAsr, _repeats_itself

    base = WhisperAsr(whisper_base_dir())
    audio = load(shared / "data/wer/clean/ast_tt-weasels.wav")
    short, = base.transcribe([AsrRequest(audio, final=True, short_window=True)])
    long, = base.transcribe([AsrRequest(audio, final=True)])
    assert short.text == long.text and not _repeats_itself(short.text), (short.text, long.text)


def test_collapse_repeats_and_split_points() -> None:
    from turnscribe.engines.whisper_asr import MAX_PIECE_S, _collapse_repeats, _split_points

    assert _collapse_repeats([1, 2, 3, 4, 4, 4, 4, 4]) == [1, 2, 3, 4, 4]
    assert _collapse_repeats([9, 1, 2, 1, 2, 1, 2, 1, 2]) == [9, 1, 2, 1, 2]
    assert _collapse_repeats([1, 2, 3, 1, 2, 3]) == [1, 2, 3, 1, 2, 3]
    audio = np.random.default_rng(2).standard_normal(SR * 70).astype(np.float32) * 0.1
    audio[SR * 26 : SR * 26 + 1600] = 0.0  # a quiet spot inside the search zone
    ranges = _split_points(audio)
    assert ranges[0][0] == 0 and ranges[-1][1] == audio.size
    assert all(b - a <= MAX_PIECE_S * SR for a, b in ranges)
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert SR * 26 <= ranges[0][1] <= SR * 26 + 1600


# ------------------------------------------------------------------ Whisper


@pytest.fixture(scope="module")
def asr():
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr.tiny_en()


HELLO_TEXT = "Hello, I would like to check the status of my order please."


@pytest.mark.model
def test_whisper_hello(asr, shared: Path) -> None:
    assert isinstance(asr, AsrEngine) and asr.multilingual is False
    audio = load(shared / "conformance/audio/hello_16k.wav")
    dur = audio.size / SR
    (res,) = asr.transcribe([AsrRequest(audio)])
    assert wer(HELLO_TEXT, res.text) <= 0.10, res.text
    assert res.language == "en" and 0.0 <= res.no_speech_prob <= 1.0
    words = res.words
    assert words[0].text.startswith("Hello")
    assert any(w.text.endswith(",") for w in words)  # punctuation stays on the word
    for a, b in itertools.pairwise(words):
        assert a.start <= a.end <= b.start <= b.end
    assert all(0.0 <= w.start <= w.end <= dur + 1e-6 for w in words)
    assert all(0.0 <= w.confidence <= 1.0 for w in words)
    assert np.mean([w.confidence for w in words]) > 0.6

    # Same audio after 1.5 s of silence, offset by 12.5 s on the stream clock.
    lead = 1.5
    shifted = np.concatenate([np.zeros(int(lead * SR), np.float32), audio])
    (res2,) = asr.transcribe([AsrRequest(shifted, offset=12.5)])
    assert wer(HELLO_TEXT, res2.text) <= 0.10, res2.text
    onset = 12.5 + lead + 0.06  # speech starts ~60 ms into hello_16k.wav
    assert abs(res2.words[0].start - onset) <= 0.5, res2.words[0]
    assert all(12.5 <= w.start <= w.end <= 12.5 + shifted.size / SR + 1e-6 for w in res2.words)

    (res3,) = asr.transcribe([AsrRequest(audio, offset=12.5)])
    assert [w.text for w in res3.words] == [w.text for w in words]
    for w, v in zip(words, res3.words, strict=True):
        assert w.start + 12.5 == pytest.approx(v.start, abs=1e-6)
        assert w.end + 12.5 == pytest.approx(v.end, abs=1e-6)


MANIFEST_ROWS = ("wer/clean/ast_agent-pass.wav", "wer/clean/ast_conf-kicked.wav", "wer/clean/piper_01.wav")


@pytest.mark.model
def test_whisper_manifest_rows(asr, shared: Path) -> None:
    with open(shared / "data/manifest.tsv", newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f, delimiter="\t") if r["set"] == "wer_clean"}
    picked = [rows[p] for p in MANIFEST_ROWS if p in rows]
    assert len(picked) >= 2
    for row in picked:
        (res,) = asr.transcribe([AsrRequest(load(shared / "data" / row["path"]), final=True)])
        assert wer(row["reference_text"], res.text) <= 0.15, (row["path"], res.text)


@pytest.mark.model
def test_whisper_batch_equals_singles(asr, shared: Path) -> None:
    clips = [
        load(shared / "conformance/audio" / n) for n in ("hello_16k.wav", "cancel_16k.wav", "numbers_16k.wav")
    ]
    reqs = [AsrRequest(c, offset=float(i)) for i, c in enumerate(clips)]
    singles = [asr.transcribe([r])[0] for r in reqs]
    batch = asr.transcribe(reqs)
    assert len(batch) == 3
    for s, b in zip(singles, batch, strict=True):
        assert s.text and s.text == b.text
        assert [w.start for w in s.words] == pytest.approx([w.start for w in b.words], abs=0.05)
    assert asr.transcribe([]) == []


@pytest.mark.model
def test_prompt_shapes_are_few_and_coarser_for_live_partials() -> None:
    from turnscribe.engines.whisper_asr import WhisperAsr

    kt, pr = [1, 2, 3], list(range(10, 60))  # 53 tokens
    assert WhisperAsr._context(kt, pr) == kt + pr[-45:], "a multiple of 8; the oldest prompt tokens go first"
    assert WhisperAsr._context(kt, pr, coarse=True) == kt + pr[-29:], "a power of two"
    assert WhisperAsr._context([], [5, 6, 7], coarse=True) == [5, 6, 7], "short prompts are kept whole"


def test_whisper_prompts_and_long_audio(asr, shared: Path) -> None:
    hello = load(shared / "conformance/audio/hello_16k.wav")
    cancel = load(shared / "conformance/audio/cancel_16k.wav")
    # Mixed prompt shapes in one call (grouped internally) still give one result per request.
    out = asr.transcribe(
        [
            AsrRequest(
                hello,
                prompt="I'm calling about my online purchase from last week.",
                keyterms=("order status",),
            ),
            AsrRequest(cancel, prompt="Hi."),
            AsrRequest(np.zeros(SR, np.float32)),
        ]
    )
    assert wer(HELLO_TEXT, out[0].text) <= 0.10, out[0].text
    assert "cancel" in out[1].text.lower()
    assert out[2].words == ()

    gap = np.zeros(14 * SR, np.float32)
    long = np.concatenate([hello, gap, cancel, gap, hello])  # ~38 s: split into pieces <= 28 s
    (res,) = asr.transcribe([AsrRequest(long, offset=3.0)])
    text = res.text.lower()
    assert text.count("status") == 2 and "cancel" in text, res.text
    starts = [w.start for w in res.words]
    assert starts == sorted(starts)
    assert starts[0] >= 3.0 and res.words[-1].end <= 3.0 + long.size / SR + 1e-6
    last_hello = 3.0 + (long.size - hello.size) / SR
    assert abs(res.words[-12].start - last_hello) <= 0.6  # "Hello," of the last copy


@pytest.mark.model
def test_whisper_no_text_from_non_speech(asr, shared: Path) -> None:
    rng = np.random.default_rng(3)
    noise = (rng.standard_normal(3 * SR) * 10 ** (-50 / 20)).astype(np.float32)
    music = load(shared / "data/turns/noise_only_music_053.wav")[: 2 * SR]
    reqs = [AsrRequest(np.zeros(2 * SR, np.float32)), AsrRequest(noise), AsrRequest(music, final=True)]
    for res in asr.transcribe(reqs):
        assert res.words == (), res.text
    for r in reqs:  # singly too
        assert asr.transcribe([r])[0].words == ()


@pytest.mark.model
def test_whisper_keeps_a_spoken_filler_but_not_noise(asr, shared: Path) -> None:
    """A turn that opens with "Um," and a pause must still yield a word (StartOfTurn needs one)."""
    labels = {json.loads(line)["path"]: json.loads(line)
              for line in (shared / "data/turns/labels.jsonl").read_text().splitlines() if line.strip()}
    for name in ("turns/filler_then_continuation_007.wav", "turns/filler_then_continuation_012.wav"):
        turn = labels[name]["turns"][0]
        audio = load(shared / "data" / name)
        seg = audio[int((turn["start_s"] - 0.3) * SR):int((turn["pauses"][0]["start_s"] + 0.3) * SR)]
        (res,) = asr.transcribe([AsrRequest(seg)])
        assert [w.text.strip(".,").lower() for w in res.words] in (["um"], ["uh"]), res.text
    hum = load(shared / "data/turns/noise_only_brown_hum_056.wav")[: 3 * SR]
    assert asr.transcribe([AsrRequest(hum)])[0].words == ()


# ------------------------------------------------------------------ Silero VAD


@pytest.fixture(scope="module")
def vad():
    from turnscribe.engines.silero_vad import SileroVad

    return SileroVad()


def _chunked(a: np.ndarray, n: int = 512) -> np.ndarray:
    return a[: a.size // n * n]


@pytest.mark.model
def test_silero_speech_and_silence(vad, shared: Path) -> None:
    assert isinstance(vad, VadEngine) and vad.chunk_samples == 512
    audio = _chunked(load(shared / "conformance/audio/hello_16k.wav"))
    (probs,) = vad.process([VadRequest(vad.new_state(), audio)])
    assert probs.dtype == np.float32 and probs.shape == (audio.size // 512,)
    frames = audio.reshape(-1, 512)
    loud = 20 * np.log10(np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-10) > -30
    assert loud.sum() > 20
    assert (probs[loud] > 0.5).mean() >= 0.7
    (sil,) = vad.process([VadRequest(vad.new_state(), np.zeros(512 * 40, np.float32))])
    assert sil.max() < 0.1
    with pytest.raises(ValueError):
        vad.process([VadRequest(vad.new_state(), np.zeros(500, np.float32))])


@pytest.mark.model
def test_silero_states_are_independent(vad, shared: Path) -> None:
    a = _chunked(load(shared / "conformance/audio/hello_16k.wav"))
    b = _chunked(load(shared / "conformance/audio/cancel_16k.wav"))
    ref_a = vad.process([VadRequest(vad.new_state(), a)])[0]
    ref_b = vad.process([VadRequest(vad.new_state(), b)])[0]
    sa, sb = vad.new_state(), vad.new_state()
    got_a: list[np.ndarray] = []
    got_b: list[np.ndarray] = []
    step = 512 * 3
    for i in range(0, max(a.size, b.size), step):
        batch, who = [], []
        if i < a.size:
            batch.append(VadRequest(sa, a[i : i + step]))
            who.append(got_a)
        if i < b.size:
            batch.append(VadRequest(sb, b[i : i + step]))
            who.append(got_b)
        for sink, out in zip(who, vad.process(batch), strict=True):
            sink.append(out)
    np.testing.assert_array_equal(np.concatenate(got_a), ref_a)
    np.testing.assert_array_equal(np.concatenate(got_b), ref_b)


@pytest.mark.model
def test_silero_batched_streams_equal_each_stream_alone(vad, shared: Path) -> None:
    """Four streams of different lengths share every call (the k-th chunks of all of them in one
    model call), one of them twice in a batch: each gets what it gets alone, within 1e-6."""
    clips = [_chunked(load(shared / f"conformance/audio/{n}_16k.wav")) for n in ("hello", "cancel")]
    audios = [clips[0], clips[1], clips[0][512 * 7:], np.zeros(512 * 9, np.float32)]
    alone = [vad.process([VadRequest(vad.new_state(), a)])[0] for a in audios]
    states = [vad.new_state() for _ in audios]
    got: list[list[np.ndarray]] = [[] for _ in audios]
    for i in range(0, max(a.size for a in audios), 512 * 5):
        who = [k for k, a in enumerate(audios) if i < a.size]
        batch = [VadRequest(states[k], audios[k][i:i + 512 * 5]) for k in who]
        for k, out in zip(who, vad.process(batch), strict=True):
            got[k].append(out)
    for k in range(len(audios)):
        np.testing.assert_allclose(np.concatenate(got[k]), alone[k], atol=1e-6)
    s = vad.new_state()  # one stream twice in a batch: its requests run in turn
    a = clips[1]
    twice = vad.process([VadRequest(s, a[:512 * 4]), VadRequest(s, a[512 * 4:512 * 8])])
    np.testing.assert_allclose(np.concatenate(twice), alone[1][:8], atol=1e-6)


# ------------------------------------------------------------------ Smart Turn


@pytest.fixture(scope="module")
def turn():
    from turnscribe.engines.smart_turn import SmartTurn

    return SmartTurn()


@pytest.mark.model
def test_smart_turn(turn, shared: Path) -> None:
    assert isinstance(turn, TurnEngine)
    hello = load(shared / "conformance/audio/hello_16k.wav")
    complete = np.concatenate([hello, np.zeros(int(0.3 * SR), np.float32)])
    with open(shared / "data/turns/labels.jsonl") as f:
        labels = [json.loads(line) for line in f]
    clip = next(d for d in labels if d["path"] == "turns/incomplete_then_continuation_000.wav")
    t0 = clip["turns"][0]
    cut = min(t0["start_s"] + 0.45 * (t0["end_s"] - t0["start_s"]), t0["pauses"][0]["start_s"])
    incomplete = load(shared / "data" / clip["path"])[: int(cut * SR)]

    p_complete, p_incomplete = turn.score([TurnRequest(complete), TurnRequest(incomplete)])
    assert p_complete > 0.5
    assert p_incomplete < p_complete
    singles = [turn.score([TurnRequest(x)])[0] for x in (complete, incomplete)]
    assert singles == pytest.approx([p_complete, p_incomplete], abs=1e-5)
    assert turn.score([]) == []
    long = np.concatenate(
        [np.random.default_rng(4).standard_normal(10 * SR).astype(np.float32) * 0.1, complete]
    )
    assert 0.0 <= turn.score([TurnRequest(long)])[0] <= 1.0  # > 8 s: only the tail is used


def test_the_packaged_smart_turn_model_is_pipecats_file_unchanged() -> None:
    import hashlib

    from turnscribe.engines.smart_turn import MODEL_SHA256, default_model_path

    path = default_model_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    notice = (path.parent / "SMART_TURN_LICENSE.txt").read_text()
    assert "BSD 2-Clause" in notice and "Daily" in notice


def test_smart_turn_features_left_pad() -> None:
    from turnscribe.engines.smart_turn import features

    x = np.random.default_rng(5).standard_normal(SR).astype(np.float32) * 0.1
    f = features(x)
    assert f.shape == (80, 800) and f.dtype == np.float32
    padded = np.concatenate([np.zeros(7 * SR, np.float32), x])
    np.testing.assert_array_equal(f, features(padded))
    longer = np.concatenate([np.ones(3 * SR, np.float32), padded])  # only the last 8 s count
    np.testing.assert_array_equal(f, features(longer))


# ------------------------------------------------------------------ registry


def test_registry_unknown_model() -> None:
    from turnscribe.engines.registry import ASR_MODELS, load_engines

    assert "tiny.en" in ASR_MODELS
    with pytest.raises(ValueError, match=r"tiny\.en"):
        load_engines(asr_model="no-such-model")


@pytest.mark.model
def test_registry_load_engines() -> None:
    from turnscribe.engines.registry import load_engines

    engines = load_engines()
    assert isinstance(engines.vad, VadEngine)
    assert isinstance(engines.asr, AsrEngine)
    assert isinstance(engines.turn, TurnEngine)
    assert set(engines.names) == {"vad", "asr", "turn"}


@pytest.fixture(scope="module")
def base_asr():
    from turnscribe.engines.model_files import whisper_base_dir
    from turnscribe.engines.whisper_asr import WhisperAsr

    return WhisperAsr(whisper_base_dir())


@pytest.mark.model
def test_numbers_come_out_as_words(base_asr, shared: Path) -> None:
    """Flux's default form: the decoder is kept off digit tokens, so a menu of numbers is spelled."""
    audio = load(shared / "data/wer/clean/ast_conf-adminmenu.wav")
    (res,) = base_asr.transcribe([AsrRequest(audio=audio, final=True, language="en")])
    text = res.text.lower()
    assert not any(c.isdigit() for c in text), text
    assert "press one" in text and "seven or nine" in text, text


@pytest.mark.model
def test_a_decode_cut_short_is_retried(asr, shared: Path) -> None:
    """Kept off a digit, tiny.en ends this menu after its first sentence ("... yourself." where
    it meant "4"); the retry, prompted with spelled numbers, goes on."""
    audio = load(shared / "data/wer/clean/ast_conf-usermenu.wav")[: int(9.9 * SAMPLE_RATE)]
    (res,) = asr.transcribe([AsrRequest(audio=audio, final=False, language="en")])
    text = res.text.lower()
    assert "four or six" in text and "conference volume" in text, text
    assert not any(c.isdigit() for c in text)
