"""The end gate: whether the turn may end at this frame of a pause, and how (flux-protocol.md §6.2).

It holds the pause's end-of-turn evidence — the acoustic model's answers asked at ``acoustic_at_s``
into the pause, the fused confidence and the cues it came from — and turns it into a typed
``EndDecision`` with the stream's thresholds (``decide``, pure). The gate is asked at every frame
of a pause from its first, with the words known then (a live partial may miss the last of the
speech: the cues say how much); an end does not wait for the pause's final-quality words, the
EndOfTurn's transcript does (``DecodeSlots.final_words``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.eot import SOON_AFTER_END_S, Cues, possible_classes
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.machine import TurnState
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcript import TurnTranscript
from turnscribe.core.waits import Step
from turnscribe.types.engine import SAMPLE_RATE, TurnRequest, Word
from turnscribe.wire.params import Thresholds


class Decision(enum.Enum):
    HOLD = "hold"                   # keep listening
    EAGER = "eager"                 # EagerEndOfTurn
    END = "end"                     # EndOfTurn (model), after an eager end if eager mode is on
    EAGER_AND_END = "eager_end"     # both thresholds crossed in one frame: both go out back to back
    TIMEOUT = "timeout"             # EndOfTurn because the silence reached eot_timeout_ms


def decide(confidence: float, silence_s: float, th: Thresholds, state: TurnState) -> Decision:
    """In eager mode a model end is always preceded by an eager one."""
    eager_mode = th.eager_eot_threshold is not None and state is TurnState.ONGOING
    if silence_s * 1000 >= th.eot_timeout_ms:
        return Decision.TIMEOUT
    if th.eot_threshold < 1.0 and confidence >= th.eot_threshold:
        return Decision.EAGER_AND_END if eager_mode else Decision.END
    if eager_mode and th.eager_eot_threshold is not None and confidence >= th.eager_eot_threshold:
        return Decision.EAGER
    return Decision.HOLD


@dataclass(frozen=True, slots=True)
class EndDecision:
    """What the gate decided at one frame, and the evidence it decided on (its reasons)."""

    decision: Decision
    confidence: float
    cues: Cues


class EndGate:
    def __init__(self, policy: TurnPolicy, work: WorkLedger, activity: SpeechActivity) -> None:
        self._policy, self._work, self._act = policy, work, activity
        self._asks: list[float] = []                  # acoustic P(complete) answers in this pause
        self._acoustic: tuple[int, int] | None = None  # (seq, ask points it answers) in flight
        self._reached: tuple[int, int] | None = None   # (clock, ask points) of an ask not made yet
        self.confidence = 0.0
        self.confidence_cues: Cues | None = None  # what ``confidence`` was computed from (reasons)
        self._pause_seen = False  # this pause's start was handled (its decode asked for)
        self._model_end_at: float | None = None  # last speech of the previous turn, if the model ended it
        self._soon_after_end = False             # this turn began right after such an end
        self.trace: list[tuple[float, Cues]] = []  # (time, cues) at each decision if policy.trace

    # ------------------------------------------------------------------ the turn's course

    def turn_started(self, onset: float) -> None:
        end = self._model_end_at
        self._soon_after_end = end is not None and onset - end < SOON_AFTER_END_S
        self._model_end_at = None

    def turn_ending(self, *, by_model: bool) -> None:
        self._model_end_at = self._act.last_speech if by_model else None

    def speech(self) -> None:
        """The speaker spoke: this pause's evidence is void; the next pause starts afresh."""
        self.drop_acoustic()
        self._pause_seen = False
        self._asks = []
        self._reached = None

    def pause_starts(self) -> bool:
        """True at the first frame of a pause worth deciding on (once per pause)."""
        first, self._pause_seen = not self._pause_seen, True
        return first

    def no_turn(self) -> None:
        """No turn is open (a start attempt found none): nothing to be confident about."""
        self.confidence = 0.0

    def turn_ended(self) -> None:
        self._asks = []
        self._reached = None
        self.drop_acoustic()
        self.confidence = 0.0

    # ------------------------------------------------------------------ evidence

    def consider_acoustic(self, silence: float, turn_start: float, transcript: TurnTranscript | None,
                          *, soon: Callable[[], bool] = lambda: True) -> None:
        """Ask Smart Turn about the pause so far when the pause reaches its next ask point; the
        answer is read when a decision needs it (with the pause's words, when those are in flight too).
        Not ``soon()`` (no end can come within the policy's lead, whatever it answers; called only
        when an ask is due, not at every frame of the pause): the ask waits
        until one can, on the audio up to the ask point all the same, so its answer does not depend
        on when it is asked; a hold the speaker resumes from before then costs no Smart Turn call."""
        asks = self._policy.acoustic_at_s
        if self._acoustic is not None or len(self._asks) >= len(asks):
            return
        if self._reached is None:
            if silence < asks[len(self._asks)]:
                return
            self._reached = (self._act.clock, sum(1 for a in asks[len(self._asks):] if silence >= a))
        if not soon():
            return
        assert transcript is not None
        (clock, reached), self._reached = self._reached, None
        audio = self._act.acoustic_audio(int(turn_start * SAMPLE_RATE), self._policy.activity.acoustic_gap_s,
                                         stop=clock)
        seq = self._work.issue(TurnRequest(audio=audio, transcript=transcript.text), multilingual=False)
        self._acoustic = (seq, reached)

    @property
    def acoustic_pending(self) -> bool:
        """Smart Turn was asked about this pause and its answer is not read yet."""
        return self._acoustic is not None

    def read_acoustic(self) -> Step[None]:
        if self._acoustic is None:
            return
        seq, reached = self._acoustic
        self._acoustic = None
        p = yield from self._work.result(seq)
        self._asks += [float(p) if isinstance(p, float) else 0.5] * reached

    def drop_acoustic(self) -> None:
        if self._acoustic is not None:
            self._work.abandon(self._acoustic[0])
            self._acoustic = None

    def cues(self, words: tuple[Word, ...], unheard_s: float = 0.0) -> Cues:
        act = self._act
        return Cues(silence_s=act.silence(), acoustic=tuple(self._asks), words=words,
                    soon_after_end=self._soon_after_end, recent_pauses=tuple(act.resumed_pauses),
                    unheard_s=round(unheard_s, 3))

    def fuse(self, words: tuple[Word, ...], unheard_s: float = 0.0) -> float:
        """The end-of-turn confidence now, from the cues with these words (which miss the last
        ``unheard_s`` of speech)."""
        self.confidence_cues = cues = self.cues(words, unheard_s)
        self.confidence = self._policy.model.probability(cues)
        return self.confidence

    def earliest_end_s(self, known: tuple[Word, ...], th: Thresholds, state: TurnState) -> float:
        """The shortest silence of this pause at which the turn can end (a model end, an eager
        one or the timeout), whatever words end it, given the ``known`` words and the evidence
        so far: before it every frame holds, so the words that end the turn are needed only then."""
        threshold = th.eot_threshold
        if th.eager_eot_threshold is not None and state is TurnState.ONGOING:
            threshold = min(threshold, th.eager_eot_threshold)
        classes = possible_classes(" ".join(w.text for w in known))
        return min(self._policy.model.earliest_end_s(self.cues(()), threshold, classes), th.eot_timeout_ms / 1000)

    def judge(self, words: tuple[Word, ...], unheard_s: float, silence: float, th: Thresholds,
              state: TurnState) -> EndDecision:
        confidence = self.fuse(words, unheard_s)
        assert self.confidence_cues is not None
        if self._policy.trace:
            self.trace.append((self._act.now, self.confidence_cues))
        return EndDecision(decide(confidence, silence, th, state), confidence, self.confidence_cues)
