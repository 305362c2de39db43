"""The transcriber's long-turn window: where it slides, and which words it freezes."""

import numpy as np

from turnscribe.core.activity import ActivityPolicy, SpeechActivity
from turnscribe.core.transcriber import Transcriber, WindowPolicy
from turnscribe.types.engine import AsrResult, Word
from turnscribe.wire.params import ListenParams

RATE = 16000


def words(spec):
    """'text@start-end ...' -> Words."""
    out = []
    for item in spec.split():
        text, span = item.split("@")
        a, b = span.split("-")
        out.append(Word(text, float(a), float(b), 0.9))
    return tuple(out)


def activity_at(seconds):
    act = SpeechActivity(ActivityPolicy(), 512)
    act.push(np.zeros(int(seconds * RATE), dtype=np.float32))
    act.advance(int(seconds * RATE))
    return act


def test_a_long_window_restarts_at_a_sentence_end_of_the_final_decode_and_freezes_its_words():
    tr = Transcriber(WindowPolicy(max_window_s=12.0, keep_after_slide_s=4.0))
    tr.begin(0.0)
    final = words("Press@0.0-0.3 one@0.3-0.6 to@0.6-0.8 hear@0.8-1.0 more.@1.0-1.4 "
                  "Press@5.0-5.3 two@5.3-5.6 to@5.6-5.8 go@5.8-6.0 back.@6.0-6.4 "
                  "Press@8.0-8.3 star@8.3-8.6 to@8.6-8.8 leave.@8.8-9.2")
    tr.took(AsrResult(words=final), covers=int(9.6 * RATE), final=True)
    assert tr.transcript is not None
    tr.transcript.update(final)
    # a cheaper partial then misheard an early word; it must not be what gets frozen
    partial = tuple(Word("Dress", 0.0, 0.3, 0.5) if w.text == "Press" and w.start == 0.0 else w
                    for w in (*final, *words("Press@10.0-10.3 three@10.3-10.8")))
    tr.took(AsrResult(words=partial), covers=int(11.0 * RATE), final=False)
    tr.transcript.update(partial)

    req = tr.request(activity_at(13.0), ListenParams(), final=True)

    # the gaps in [13 - 8, 13 - 4] are after "back." (6.4-8.0) and inside sentences; the sentence end wins
    assert abs(req.offset - 7.2) < 1e-6
    assert [w.text for w in tr.transcript.frozen] == [w.text for w in final[:10]]
    assert "Dress" not in tr.transcript.prompt and tr.transcript.prompt.endswith("go back.")
    assert len(req.audio) == int((13.0 - 7.2) * RATE)


def test_without_a_final_decode_the_window_slides_by_time_and_keeps_words_whole():
    tr = Transcriber(WindowPolicy(max_window_s=12.0, keep_after_slide_s=4.0))
    tr.begin(0.0)
    partial = tuple(Word(f"w{i}", i * 0.5, i * 0.5 + 0.45, 0.9) for i in range(26))
    tr.took(AsrResult(words=partial), covers=int(13.0 * RATE), final=False)
    assert tr.transcript is not None
    tr.transcript.update(partial)
    tr.transcript.update(partial)

    req = tr.request(activity_at(13.0), ListenParams(), final=False)

    assert req.offset <= 9.0 + 1e-9  # now - keep, never inside a word
    assert all(w.end <= req.offset for w in tr.transcript.frozen)
    assert [w.text for w in tr.transcript.words] == [w.text for w in partial]


def test_words_run_together_still_slide_at_a_sentence_end_and_far_enough():
    """Whisper's word times often leave no gap at all: the slide still goes to a sentence end,
    and leaves a window short enough that the next decode does not slide again."""
    tr = Transcriber(WindowPolicy(max_window_s=12.0, keep_after_slide_s=6.0))
    tr.begin(0.0)
    said = ["Please", "press", "one", "to", "mute", "or", "unmute", "yourself.", "Four", "or", "six", "to", "decrease", "the", "volume.", "Seven"]
    final = tuple(Word(t, 0.3 + 0.55 * i, 0.3 + 0.55 * (i + 1), 0.9) for i, t in enumerate(said))  # no gaps
    tr.took(AsrResult(words=final), covers=int(9.0 * RATE), final=True)
    assert tr.transcript is not None
    tr.transcript.update(final)
    req = tr.request(activity_at(12.5), ListenParams(), final=False)
    end_of_first = final[7].end  # "yourself."
    assert abs(req.offset - end_of_first) < 1e-6, req.offset
    assert [w.text for w in tr.transcript.frozen] == said[:8]
    again = tr.request(activity_at(13.0), ListenParams(), final=False)
    assert again.offset == req.offset, "no second slide half a second later"


def _settled(tr, spec, covers_s):
    final = words(spec)
    tr.took(AsrResult(words=final), covers=int(covers_s * RATE), final=True)
    tr.transcript.update(final)
    return final


def test_speech_after_a_covered_pause_restarts_the_window_in_that_pause():
    tr = Transcriber(WindowPolicy(anchor_after_s=3.0, anchor_pause_s=0.25))
    tr.begin(0.0)
    final = _settled(tr, "Login@0.2-0.6 incorrect.@0.6-1.2 Please@1.6-1.9 enter@1.9-2.2 your@2.2-2.5 "
                         "number.@2.5-3.2", 3.4)
    assert tr.anchor(3.2, 3.9)
    assert abs(tr.transcript.window_start - 3.7) < 1e-9  # 0.2 s before the speech that resumed
    assert [w.text for w in tr.transcript.frozen] == [w.text for w in final]
    assert tr.transcript.prompt.endswith("your number.")
    req = tr.request(activity_at(5.0), ListenParams(), final=False, live=True)
    assert abs(req.offset - 3.7) < 1e-9 and abs(len(req.audio) - 1.3 * RATE) <= 1 and req.short_window


def test_no_restart_for_short_windows_short_pauses_or_uncovered_speech():
    for window_end, pause, covers, final in ((2.0, 0.6, 2.2, True),    # window shorter than 3 s
                                              (3.2, 0.15, 3.4, True),   # pause too short
                                              (3.2, 0.6, 2.0, True),    # decode stops before the pause
                                              (3.2, 0.6, 3.4, False)):  # a partial, not final-quality
        tr = Transcriber(WindowPolicy(anchor_after_s=3.0, anchor_pause_s=0.25))
        tr.begin(0.0)
        hyp = words(f"One@0.2-1.0 two@1.0-{window_end}")
        tr.took(AsrResult(words=hyp), covers=int(covers * RATE), final=final)
        tr.transcript.update(hyp)
        assert not tr.anchor(window_end, window_end + pause)
        assert tr.transcript.window_start == 0.0 and not tr.transcript.frozen


def test_a_sentence_that_goes_on_after_the_pause_loses_the_decode_s_full_stop():
    tr = Transcriber(WindowPolicy(anchor_after_s=3.0))
    tr.begin(0.0)
    _settled(tr, "Please@0.2-0.8 enter@0.8-1.5 your@1.5-3.0 account.@3.0-3.2", 3.4)
    assert tr.anchor(3.2, 3.9)
    later = words("number@3.9-4.4 please.@4.4-5.0")
    tr.took(AsrResult(words=later), covers=int(5.4 * RATE), final=True)
    tr.transcript.update(later)
    assert tr.transcript.text == "Please enter your account number please."
    assert " ".join(w.text for w in tr.latest_words()) == "Please enter your account number please."
    # a new sentence keeps it
    assert " ".join(w.text for w in tr.transcript.finalize(words("Thanks.@3.9-4.4"))) == \
        "Please enter your account. Thanks."


def _agreed(tr, spec, covers):
    """Two partials that agree on ``spec``: its words are committed."""
    hyp = words(spec)
    for _ in range(2):
        tr.took(AsrResult(words=hyp), covers=int(covers * RATE), final=False)
        tr.update(hyp)
    return hyp


def test_a_live_partial_decodes_only_the_tail_after_a_pause_with_committed_words_before_it():
    tr = Transcriber(WindowPolicy())
    tr.begin(0.0)
    tr.heard_gap(1.2, 1.6)  # a pause between "number." and "It"
    hyp = _agreed(tr, "Please@0.2-0.6 enter@0.6-0.9 your@0.9-1.0 number.@1.0-1.2 It@1.6-1.8 is@1.8-2.0", 2.2)
    tail = tr.tail_start()
    assert tail is not None
    at, head = tail
    assert head == hyp[:4] and abs(at - 1.4) < 1e-9  # 0.2 s before the speech that resumed
    req = tr.request(activity_at(2.6), ListenParams(), final=False, live=True, head=head, head_start=at)
    assert abs(req.offset - 1.4) < 1e-9 and abs(len(req.audio) - 1.2 * RATE) <= 1
    assert req.prompt == "Please enter your number." and req.language == "en"
    # the tail's words follow the head: the transcript is the whole turn's
    got = tr.took(AsrResult(words=words("It@1.6-1.8 is@1.8-2.0 seven.@2.1-2.5")), covers=int(2.6 * RATE),
                  final=False, head=head)
    tr.update(got)
    assert tr.transcript.text == "Please enter your number. It is seven."


def test_no_tail_before_words_still_moving_or_across_a_word():
    tr = Transcriber(WindowPolicy())
    tr.begin(0.0)
    tr.heard_gap(1.2, 1.6)
    assert tr.tail_start() is None, "nothing committed yet: the whole window"
    hyp = words("Please@0.2-0.6 enter@0.6-0.9 your@0.9-1.0 number.@1.0-1.2 It@1.6-1.8")
    tr.took(AsrResult(words=hyp), covers=int(2.0 * RATE), final=False)
    tr.update(hyp)
    assert tr.tail_start() is None, "one decode commits nothing"
    tr2 = Transcriber(WindowPolicy(word_tails=False))
    tr2.begin(0.0)
    tr2.heard_gap(1.0, 1.3)
    _agreed(tr2, "Please@0.2-0.6 enter@0.6-1.4 your@1.4-1.6", 1.8)  # "enter" runs across the pause
    assert tr2.tail_start() is None
    tr3 = Transcriber(WindowPolicy(tail_partials=False))
    tr3.begin(0.0)
    tr3.heard_gap(1.2, 1.6)
    _agreed(tr3, "Please@0.2-0.6 enter@0.6-0.9 your@0.9-1.0 number.@1.0-1.2 It@1.6-1.8", 2.0)
    assert tr3.tail_start() is None, "tail partials off"


def test_without_a_pause_a_live_partial_decodes_from_just_before_the_last_two_committed_words():
    tr = Transcriber(WindowPolicy())
    tr.begin(0.0)
    assert tr.tail_start() is None, "nothing committed yet: the whole window"
    _agreed(tr, "Please@0.2-0.6 enter@0.6-0.9", 1.2)
    assert tr.tail_start() is None, "two committed words: nothing before the overlap"
    hyp = _agreed(tr, "Please@0.2-0.6 enter@0.6-0.9 your@0.9-1.0 account@1.0-1.5 number@1.5-1.9", 2.2)
    tail = tr.tail_start()
    assert tail is not None
    at, head = tail
    # "account number" are decoded again, from 0.2 s before "account" (into "your", whose text leads the prompt)
    assert head == hyp[:3] and abs(at - 0.95) < 1e-9
    req = tr.request(activity_at(2.6), ListenParams(), final=False, live=True, head=head, head_start=at)
    assert abs(req.offset - 0.95) < 1e-9 and req.prompt == "Please enter your"
    # the overlap comes back (with a fragment of "your" before it): the committed words stay as they are
    got = tr.took(AsrResult(words=words("your@0.95-1.0 account@1.0-1.5 number@1.5-1.9 is@2.0-2.2 seven@2.2-2.5")),
                  covers=int(2.6 * RATE), final=False, head=head)
    tr.update(got)
    assert tr.transcript.text == "Please enter your account number is seven"
    # a pause after the boundary is the later start, and wins
    tr2 = Transcriber(WindowPolicy())
    tr2.begin(0.0)
    tr2.heard_gap(1.9, 2.3)
    hyp2 = _agreed(tr2, "Please@0.2-0.6 enter@0.6-0.9 your@0.9-1.0 account@1.0-1.5 number@1.5-1.9 is@2.3-2.5", 2.7)
    tail2 = tr2.tail_start()
    assert tail2 is not None
    at, head = tail2
    assert abs(at - 2.1) < 1e-9 and head == hyp2[:5]
    assert Transcriber(WindowPolicy(word_tails=False)).tail_start() is None


def test_a_pause_is_anchorable_only_in_a_long_window_once_it_is_long_enough():
    tr = Transcriber(WindowPolicy(anchor_after_s=6.0, anchor_pause_s=0.25))
    assert not tr.anchorable(7.0, 0.3), "no turn"
    tr.begin(0.5)
    assert tr.anchorable(7.0, 0.25)
    assert not tr.anchorable(7.0, 0.2), "too short yet to restart the window at"
    assert not tr.anchorable(6.0, 0.4), "the window holds 5.5 s"
    off = Transcriber(WindowPolicy(anchor_after_s=0.0))
    off.begin(0.5)
    assert not off.anchorable(7.0, 1.0), "anchoring off"


def test_short_final_windows_are_off_by_default_and_never_for_multilingual_decodes():
    from turnscribe.engines.windows import window_seconds

    tr = Transcriber(WindowPolicy())
    tr.begin(0.0)
    assert not tr.request(activity_at(1.5), ListenParams(), final=True).short_window
    on = Transcriber(WindowPolicy(short_finals=True))
    on.begin(0.0)
    en = on.request(activity_at(1.5), ListenParams(), final=True)
    multi = on.request(activity_at(1.5), ListenParams(model="flux-general-multi"), final=True)
    assert en.short_window and not multi.short_window
    assert window_seconds(1.5, short=True, final=True) == 6.0 < window_seconds(1.5) == 10.0
