"""numerals / profanity_filter / redact keep words[] and transcript in step."""

import pytest

from turnscribe.text.formatting import format_words
from turnscribe.types.engine import Word


def words(text):
    return [Word(t, round(i * 0.3, 2), round(i * 0.3 + 0.25, 2), 0.9 - 0.01 * i) for i, t in enumerate(text.split())]


def text(ws):
    return " ".join(w.text for w in ws)


@pytest.mark.parametrize("spoken,expected", [
    ("My number is four one five, two two six.", "My number is 415, 226."),
    ("Call four one five five five five one two one two now", "Call 4155551212 now"),
    ("One hundred and five dollars.", "105 dollars."),
    ("Press one to record.", "Press 1 to record."),  # Flux's numerals=true: "press 1"
    ("Hello there.", "Hello there."),
    ("My number is six oh one, four four eight, nine seven two three.", "My number is 601, 448, 9723."),
    ("The order number is seven three eight, two two six, one nine.", "The order number is 738, 226, 19."),
    ("A table for four at seven thirty tonight.", "A table for 4 at 7:30 tonight."),
    ("See you at seven oh five.", "See you at 7:05."),
    ("Seven thirty pm works.", "7:30 pm works."),
    ("Seven thirty people came.", "7 30 people came."),  # no time context: not a time
    ("Back in twenty nineteen.", "Back in 2019."),
    ("Oh, I see.", "Oh, I see."),  # "oh" is a zero only among digits
])
def test_numerals(spoken, expected):
    assert text(format_words(words(spoken), numerals_on=True)) == expected


def test_numbers_stay_words_without_numerals():
    spoken = "Press one to list users, two to kick them, at seven thirty."
    assert text(format_words(words(spoken))) == spoken


def test_numerals_merge_keeps_timings_and_lowest_confidence():
    out = format_words(words("My number is four one five, please."), numerals_on=True)
    merged = out[3]
    assert merged.text == "415," and merged.start == 0.9 and merged.end == 1.75
    assert merged.confidence == pytest.approx(0.9 - 0.05)
    assert out[4].text == "please." and out[4].start == 1.8


def test_numerals_other_languages():
    assert text(format_words(words("Marque el cuatro cinco seis."), numerals_on=True, lang="es")) == "Marque el 456."
    assert text(format_words(words("four one five"), numerals_on=True, lang="ja")) == "four one five"


def test_profanity_filter():
    assert text(format_words(words("What the fuck is this shit?"), profanity_filter=True)) == "What the f*** is this s***?"
    assert text(format_words(words("What a nice day."), profanity_filter=True)) == "What a nice day."


def test_redact_numbers_and_aggressive():
    spoken = words("Card four one five two, room 7, code 1234.")
    assert text(format_words(spoken, redact_modes=["numbers"])) == "Card [NUMBER], room 7, code [NUMBER]."
    assert text(format_words(spoken, redact_modes=["aggressive_numbers"])) == "Card [NUMBER], room [NUMBER], code [NUMBER]."
    assert text(format_words(words("No numbers here."), redact_modes=["numbers"])) == "No numbers here."
