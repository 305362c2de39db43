"""The transcriber of one turn: which audio to decode, and what the decodes said.

It owns the turn's ``TurnTranscript`` (stable words) and the latest decode of the window
(``hyp``: its words, the stream sample it covers up to, whether it was a final-quality decode).
It builds ``AsrRequest``s and takes their results; it never runs a model.

Windows: a decode covers the turn from ``window_start`` to the decision clock. A turn longer than
``max_window_s`` slides its window to the last ``keep_after_slide_s`` (earlier words are frozen and
become the decoder prompt), so the audio and compute per decode stay bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

from turnscribe.engines.base import SAMPLE_RATE, AsrRequest, AsrResult, Word
from turnscribe.protocol.activity import SpeechActivity
from turnscribe.protocol.params import LANGUAGES, ListenParams
from turnscribe.protocol.transcript import TurnTranscript, monotone


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    max_window_s: float = 24.0
    keep_after_slide_s: float = 8.0


class Transcriber:
    def __init__(self, policy: WindowPolicy) -> None:
        self.policy = policy
        self.transcript: TurnTranscript | None = None
        self.language: str | None = None
        self.hyp: tuple[Word, ...] = ()   # latest decode of the window ...
        self.hyp_end = 0                  # ... the stream sample it covers up to ...
        self.hyp_final = False            # ... and whether it was a final-quality decode

    @property
    def active(self) -> bool:
        return self.transcript is not None

    def begin(self, start: float) -> None:
        self.transcript = TurnTranscript(start)

    def reset(self) -> None:
        self.transcript = None
        self.language = None
        self.hyp, self.hyp_end, self.hyp_final = (), 0, False

    def request(self, activity: SpeechActivity, params: ListenParams, *, final: bool) -> AsrRequest:
        """A decode of the turn's window up to the clock (sliding the window first if long)."""
        tr = self.transcript
        assert tr is not None
        if activity.now - tr.window_start > self.policy.max_window_s:
            tr.slide(activity.now - self.policy.keep_after_slide_s)
        language = params.language_hints[0] if len(params.language_hints) == 1 else None
        if not params.multilingual:
            language = "en"
        return AsrRequest(
            audio=activity.audio(int(tr.window_start * SAMPLE_RATE)), offset=tr.window_start, final=final,
            prompt=tr.prompt, keyterms=params.keyterms, language=language,
            languages=params.language_hints or LANGUAGES)

    def took(self, res: AsrResult | None, *, covers: int, final: bool) -> tuple[Word, ...]:
        """Record a decode's result (None: the scheduler dropped it) as the latest hypothesis."""
        words = res.words if res is not None else ()
        if res is not None and res.words and res.language:
            self.language = res.language
        self.hyp, self.hyp_end, self.hyp_final = words, covers, final
        return words

    def covered(self, speech_end: int) -> bool:
        """The latest decode is final-quality and covers every sample of speech."""
        return self.hyp_final and self.hyp_end >= speech_end

    def latest_words(self) -> tuple[Word, ...]:
        """The transcript as the latest decode has it (the stabilised words can lag it: a number
        re-formatted with the digits that followed, "738. 226." vs "738-226-19")."""
        tr = self.transcript
        assert tr is not None
        return monotone((*tr.frozen, *self.hyp)) if self.hyp else tr.words
