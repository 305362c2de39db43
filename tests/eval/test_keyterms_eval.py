"""The keyterm evaluation's term selection and scoring (no models)."""

from turnscribe.eval.keyterm_eval import rare_terms, term_hits


def test_rare_terms_are_uncommon_known_words():
    terms = rare_terms("Weasels have eaten our phone system, please unmute the keypad.", 3.5)
    assert "Weasels" in terms and "keypad" in terms and "unmute" in terms
    assert "phone" not in terms and "system" not in terms and "have" not in terms


def test_script_typos_and_duplicates_excluded():
    assert rare_terms("The caller witheld the number, keypad keypad.", 3.5) == ["keypad"]


def test_term_hits_case_and_punctuation_insensitive():
    assert term_hits(["Weasels", "keypad"], "weasels have eaten it. Use the keypad!") == 2
    assert term_hits(["keypad"], "key pad") == 0
