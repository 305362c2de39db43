"""End-of-turn cues and the default hazard model."""

from dataclasses import replace

import pytest

from turnscribe.core.eot import PATIENCE_RECENT, Cues, EotModel, fuse, text_class, text_features
from turnscribe.types.engine import Word

NAMES = ("terminal", "question", "comma", "continuation", "filler", "number_tail", "answer", "digits_open",
         "digits_whole", "list_open")


def cue(text):
    return dict(zip(NAMES, text_features(text), strict=True))


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


@pytest.mark.parametrize("text,cls", [
    ("I'd like to book a table for", "continues"), ("Um,", "continues"), ("I need eggs. Milk.", "continues"),
    ("4 1 5", "continues"), ("", "continues"),
    ("4, 1, 5, 5, 5, 5, 0, 1, 9, 2", "complete"), ("The account number is 601-448-9723", "complete"),
    ("Could you help me?", "complete"), ("Yes.", "answer"), ("Okay, thanks.", "answer"),
    ("simultaneous call limit reached", "plain"),
    # a reply word before a comma and initials are no enumeration (callers' answers)
    ("Yeah, I'm ready.", "complete"), ("We open at nine a.m.", "complete"), ("Two p.m.", "answer"),
    # a turn of two words that does not go on is a short answer; three are often a first sentence
    ("The airport.", "answer"), ("Public transit", "answer"), ("Login incorrect. Please", "continues"),
    ("Call forward on.", "complete"), ("The", "continues"),
])
def test_text_class(text, cls):
    assert text_class(text) == cls


def test_terms_sum_to_the_log_odds_and_use_the_first_acoustic_answer():
    m = EotModel()
    c = Cues(silence_s=0.4, acoustic=(0.9, 0.1), words=words("Hello, how are you."))
    terms = {t.name: t for t in m.terms(c)}
    assert set(terms) == {"text_complete", "acoustic", "silence"}
    assert terms["acoustic"].value == 0.9, "the first answer of the pause, not the later 0.1"
    assert terms["silence"].value == pytest.approx(0.4 / m.patience_floor_s)
    assert sum(t.contribution for t in terms.values()) == pytest.approx(m.log_odds(c))
    assert 0 < m.probability(c) < 1


def test_patience_is_the_longest_recent_resumed_pause_never_below_the_floor():
    m = EotModel(patience_floor_s=0.5)
    assert m.patience(Cues(0.3)) == 0.5
    assert m.patience(Cues(0.3, recent_pauses=(0.2, 0.3))) == 0.5
    assert m.patience(Cues(0.3, recent_pauses=(0.2, 1.1, 0.3))) == 1.1
    old = (1.9,) + (0.3,) * PATIENCE_RECENT
    assert m.patience(Cues(0.3, recent_pauses=old)) == 0.5, "only the latest pauses count"
    assert EotModel(adaptive=False).patience(Cues(0.3, recent_pauses=(1.1,))) == EotModel().patience_floor_s


def test_a_speaker_who_pauses_long_is_given_longer():
    done = words("I want to cancel my subscription.")
    quick = fuse(Cues(0.6, (0.5,), done, recent_pauses=(0.3, 0.4)))
    slow = fuse(Cues(0.6, (0.5,), done, recent_pauses=(0.3, 1.2)))
    assert slow < quick - 0.2


def test_after_a_continuation_the_silence_counts_slower():
    m = EotModel()
    cut = Cues(0.8, (0.5,), words("I'd like to book a table for"))
    t = {x.name: x for x in m.terms(cut)}
    assert t["silence"].value == pytest.approx(0.8 / (m.patience_floor_s * m.hold_patience))


def test_default_model_orders_the_cases_a_voice_agent_cares_about():
    done = words("I want to cancel my subscription.")
    cut = words("I'd like to book a table for")
    for s in (0.1, 0.3, 0.6, 1.0):
        assert fuse(Cues(s, (0.95,), done)) > fuse(Cues(s, (0.1,), cut))
    assert fuse(Cues(0.3, (0.95,), done)) >= 0.5, "a finished sentence ends fast"
    assert fuse(Cues(1.0, (0.1,), cut)) < 0.7, "an unfinished one waits beyond a 1 s pause"
    assert fuse(Cues(0.3, (0.9,), words("Yes."))) >= 0.7, "short answers end within 0.3 s"
    assert fuse(Cues(0.1, (0.9,), words("Thank you. Goodbye."))) > fuse(Cues(0.1, (0.9,), done))
    probs = [fuse(Cues(s, (0.5,), done)) for s in (0.1, 0.5, 1.0, 2.0, 3.0)]
    assert probs == sorted(probs) and probs[-1] > 0.9, "confidence grows with silence"


@pytest.mark.parametrize("spelled,digits", [
    ("The order number is seven three eight, two two six,", "The order number is 738, 226,"),
    ("My number is six oh one four four eight nine seven two three", "My number is 6014489723"),
    ("The card ends in four two", "The card ends in 42"),
    ("four one five five five five zero one nine two", "4155550192"),
    ("I will take four.", "I will take four."),
])
def test_number_cues_read_spelled_numbers_like_digits(spelled, digits):
    """Streams without numerals get numbers as words (Flux's default): the digit cues must not change."""
    assert text_features(spelled) == text_features(digits)
    assert text_class(spelled) == text_class(digits)


def test_words_that_miss_the_end_of_the_speech_say_nothing_about_it():
    m = EotModel()
    heard = Cues(0.3, words=words("I want to"))
    unheard = replace(heard, unheard_s=0.4)
    assert m.terms(heard)[0].name == "text_continues" and m.terms(unheard)[0].name == "text_unheard"
    assert m.probability(unheard) > m.probability(heard), "the speaker went on past 'to'"
    said = Cues(0.3, words=words("Yes."))
    assert m.probability(replace(said, unheard_s=0.4)) < m.probability(said), "'Yes' may have gone on"
