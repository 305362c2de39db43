"""The transcriber's long-turn window: where it slides, and which words it freezes."""

import numpy as np

from turnscribe.engines.base import AsrResult, Word
from turnscribe.protocol.activity import ActivityPolicy, SpeechActivity
from turnscribe.protocol.params import ListenParams
from turnscribe.protocol.transcriber import Transcriber, WindowPolicy

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
    said = "Please press one to mute or unmute yourself. Four or six to decrease the volume. Seven".split()
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
