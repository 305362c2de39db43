"""Keyterm correction snaps near-misses onto the exact keyterm and leaves everything else alone."""

from turnscribe.text.keyterms import apply_keyterms
from turnscribe.types.engine import Word


def words(text):
    return [Word(t, round(i * 0.4, 2), round(i * 0.4 + 0.3, 2), 0.6) for i, t in enumerate(text.split())]


def text(ws):
    return " ".join(w.text for w in ws)


def test_split_and_misspelt_terms_are_snapped():
    out = apply_keyterms(words("I use deep gram and turn scribe daily."), ["Deepgram", "turnscribe"])
    assert text(out) == "I use Deepgram and turnscribe daily."
    dg = out[2]
    assert dg.start == 0.8 and dg.end == 1.5, "the keyterm spans the words it replaced"


def test_punctuation_and_multiword_terms():
    out = apply_keyterms(words("Call customer servise, please."), ["customer service"])
    assert text(out) == "Call customer service, please."
    assert [w.start for w in out[1:3]] == sorted(w.start for w in out[1:3])


def test_no_false_snaps():
    sentence = "Please hold while I try that extension."
    assert text(apply_keyterms(words(sentence), ["Deepgram", "weasels", "Flux"])) == sentence
    # a near term must not swallow its neighbour
    assert text(apply_keyterms(words("Deepgram is great"), ["Deepgram"])) == "Deepgram is great"
    assert text(apply_keyterms(words("the flocks flew"), ["Flux"])) == "the flocks flew", "short terms: exact only"


def test_sound_alike():
    assert text(apply_keyterms(words("weasles have eaten it"), ["weasels"])) == "weasels have eaten it"


def test_confident_common_words_are_left_alone():
    words = ["enter", "the", "first", "three", "letters"]
    sure = [Word(t, i * 0.4, i * 0.4 + 0.3, 0.95) for i, t in enumerate(words)]
    assert text(apply_keyterms(sure, ["fairest"])) == "enter the first three letters"
    unsure = [Word(w.text, w.start, w.end, 0.5) if w.text == "first" else w for w in sure]
    assert text(apply_keyterms(unsure, ["fairest"])) == "enter the fairest three letters"
