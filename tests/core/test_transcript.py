"""Stable partials: committed words never change, repeat or vanish."""

import itertools

from turnscribe.core.transcript import TurnTranscript
from turnscribe.types.engine import Word


def hyp(text, t0=0.0, step=0.3):
    return [Word(w, round(t0 + i * step, 3), round(t0 + i * step + 0.25, 3), 0.9) for i, w in enumerate(text.split())]


def test_agreed_prefix_is_committed_and_kept():
    tr = TurnTranscript(0.0)
    tr.update(hyp("press three"))
    tr.update(hyp("press three for advanced"))
    assert [w.text for w in tr.committed] == ["press", "three"]
    tr.update(hyp("press 3 for advanced options."))  # the model re-spells an agreed word
    assert tr.text.startswith("press three for")
    assert tr.text.count("press") == 1


def test_shifted_timings_do_not_duplicate_committed_words():
    tr = TurnTranscript(0.0)
    tr.update(hyp("Press 3 for Advanced Options."))
    tr.update(hyp("Press 3 for Advanced Options."))
    tr.update(hyp("Press 3 for Advanced Options. Press 2", t0=0.4))  # all times shifted later
    assert tr.text == "Press 3 for Advanced Options. Press 2"


def test_long_turn_slide_freezes_old_words():
    tr = TurnTranscript(0.0)
    words = hyp(" ".join(f"w{i}" for i in range(40)), step=0.5)
    tr.update(words)
    tr.update(words)
    tr.slide(10.0)
    assert all(w.end <= 10.0 for w in tr.frozen) and tr.window_start <= 10.0
    assert [w.text for w in tr.words] == [w.text for w in words]


def test_words_never_go_back_in_time():
    tr = TurnTranscript(0.0)
    tr.update(hyp("one two three"))
    tr.update(hyp("one two three"))
    tr.update(hyp("one two three four", t0=-0.2))  # the newest decode times its words earlier
    ws = tr.words
    assert all(a.end <= b.start for a, b in itertools.pairwise(ws))


def test_a_reformatted_number_that_adds_speech_replaces_the_committed_groups():
    tr = TurnTranscript(0.0)
    first = [Word("The", 0.0, 0.2, 0.9), Word("order", 0.2, 0.5, 0.9), Word("number", 0.5, 0.8, 0.9),
             Word("is", 0.8, 1.0, 0.9), Word("738.", 1.6, 2.3, 0.9), Word("226.", 3.2, 3.9, 0.9)]
    tr.update(first)
    tr.update(first)
    assert tr.text == "The order number is 738. 226."
    # the speaker said "19" after a pause; the model now writes the number as one word
    tr.update([Word("The", 0.0, 0.2, 0.9), Word("order", 0.2, 0.5, 0.9), Word("numbers", 0.5, 0.9, 0.9),
               Word("738-226-19", 1.6, 5.4, 0.9)])
    assert tr.text == "The order number is 738-226-19"
    assert all(a.end <= b.start for a, b in itertools.pairwise(tr.words))


def test_a_reformatted_word_that_starts_a_little_later_still_replaces_the_groups_it_covers():
    tr = TurnTranscript(0.0)
    first = [Word("is", 0.8, 1.1, 0.9), Word("601-448.", 1.2, 3.0, 0.9)]
    tr.update(first)
    tr.update(first)
    tr.update([Word("is", 0.8, 1.05, 0.9), Word("601-448-9723.", 1.35, 5.0, 0.9)])  # timing jitter
    assert tr.text == "is 601-448-9723."
