"""End-of-turn cues and the calibrated default model."""

import pytest

from turnscribe.engines.base import Word
from turnscribe.protocol.eot import FEATURES, Cues, EotModel, features, fuse, text_features

NAMES = ("terminal", "question", "comma", "continuation", "filler", "number_tail", "answer", "digits_open",
         "digits_whole", "list_open")


def cue(text):
    return dict(zip(NAMES, text_features(text)))


def words(text):
    return tuple(Word(t, i * 0.3, i * 0.3 + 0.25, 0.9) for i, t in enumerate(text.split()))


@pytest.mark.parametrize("text,on,off", [
    ("I'd like to book a table for", ["continuation"], ["terminal"]),
    ("Um,", ["comma"], ["terminal"]),
    ("so, uh", ["filler"], []),
    ("My number is", ["continuation"], []),
    ("Yes.", ["terminal", "answer"], ["list_open"]),
    ("Thank you. Goodbye.", ["answer"], ["list_open"]),
    ("I need eggs. Milk.", ["list_open"], ["answer"]),
    ("I need eggs, milk, and bread.", ["terminal"], ["list_open"]),
    ("A table for four at 7.30 tonight.", ["terminal"], ["list_open"]),
    ("4 1 5", ["number_tail", "digits_open"], ["digits_whole"]),
    ("4 1 5 5 5 5 0 1 9 2", ["digits_whole"], ["digits_open"]),
    ("Could you help me?", ["terminal", "question"], ["continuation"]),
    ("The reason I'm calling is that", ["continuation"], []),
    ("The reason I'm calling is that.", ["continuation", "terminal"], []),
    ("I like that.", ["terminal"], ["continuation"]),
    ("Is that that?", ["question"], ["continuation"]),
    ("Could you tell me whether", ["continuation"], []),
    ("My phone number", ["continuation"], []),
    ("At the tone, please say your name.", ["terminal"], ["continuation"]),
])
def test_text_cues(text, on, off):
    c = cue(text)
    assert all(c[k] == 1.0 for k in on), c
    assert all(c[k] == 0.0 for k in off), c


def test_feature_vector_matches_names_and_uses_the_first_acoustic_answer():
    x = features(Cues(silence_s=0.75, acoustic=(0.9, 0.1), words=words("Hello there.")))
    assert len(x) == len(FEATURES) == len(EotModel().weights)
    named = dict(zip(FEATURES, x))
    assert named["bias"] == 1.0 and named["silence"] == 0.75
    assert named["silence_0.3"] == pytest.approx(0.45) and named["silence_0.6"] == pytest.approx(0.15)
    assert named["silence_0.9"] == 0.0
    assert named["acoustic"] > 2.0, "logit of the first answer (0.9), not the later 0.1"
    assert named["unsure"] == 0.0
    assert named["late_push"] == pytest.approx(0.5), "halfway up the 0.65-0.85 s ramp"
    assert dict(zip(FEATURES, features(Cues(2.0, (0.9,), words("Hello there.")))))["late_push"] == 1.0


def test_unsure_words_flag_doubtful_text():
    shaky = tuple(Word(t, i * 0.3, i * 0.3 + 0.25, 0.4) for i, t in enumerate("Kuruie.".split()))
    assert dict(zip(FEATURES, features(Cues(0.3, (0.9,), shaky))))["unsure"] == 1.0


def test_default_model_orders_the_cases_a_voice_agent_cares_about():
    done = words("I want to cancel my subscription.")
    cut = words("I'd like to book a table for")
    for s in (0.1, 0.3, 0.6, 1.0):
        assert fuse(Cues(s, (0.95,), done)) > fuse(Cues(s, (0.1,), cut))
    assert fuse(Cues(0.1, (0.95,), done)) >= 0.5, "a finished sentence ends fast"
    assert fuse(Cues(1.0, (0.1,), cut)) < 0.7, "an unfinished one waits beyond a 1 s pause"
    assert fuse(Cues(0.2, (0.9,), words("Yes."))) >= 0.7, "short answers are not dropped"
    probs = [fuse(Cues(s, (0.5,), done)) for s in (0.1, 0.5, 1.0, 2.0, 3.0)]
    assert probs == sorted(probs) and probs[-1] > 0.9, "confidence grows with silence"
