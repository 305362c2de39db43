"""The decodes of one turn that are in flight without being waited for, and the ones waited for.

Live partials while the user speaks are not waited for at once: a partial asked for at clock t is
applied at t + ``partial_slack_s``, so its compute overlaps the audio that follows instead of
holding the stream's Updates. Their period stretches while the server sheds them (it is loaded)
and shrinks back when it computes them.

A pause *owes* a final-quality decode of the speech before it (the words an end would read and
report), cut where the speech stopped so its words do not depend on when it is asked. It is asked
for only when the turn can end within ``final_lead_s`` of silence (``EndGate.earliest_end_s``), and
applied from that earliest end on (waited for then, if still not back): a hold the speaker resumes
from before then costs no final-quality decode at all, and the decisions are those it would have
read (before the earliest end, every frame holds whatever the words). A live partial that already
covered the speech does not stand in for it: the decisions read final-quality words (tiny.en's
short-window punctuation misleads the end gate). Only when the latest decode is final-quality is the
owed decode just the EndOfTurn's transcript (``prefetch``). A decode made obsolete by a newer one is
abandoned (its answer is ignored; the scheduler may never run it).
"""

from __future__ import annotations

from dataclasses import dataclass

from turnscribe.core.activity import SpeechActivity
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcriber import Transcriber
from turnscribe.core.waits import Step
from turnscribe.types.engine import SAMPLE_RATE, AsrResult, Word
from turnscribe.wire.params import ListenParams


@dataclass(frozen=True, slots=True)
class Owed:
    """A final-quality decode of the audio up to ``covers`` (stream sample) not asked for yet;
    ``apply``: its words become the transcript the decisions read (else: only the final's)."""

    covers: int
    apply: bool


@dataclass(frozen=True, slots=True)
class InFlight:
    """A decode in flight: asked for at ``covers`` (stream sample), applied at ``due``."""

    seq: int
    covers: int
    due: int
    head: tuple[Word, ...] = ()  # a tail partial's words before its audio


class DecodeSlots:
    """The live partial, the pause's decode and the prefetched final decode of the current turn
    (at most one each), and whether speech came since the last decode was asked for."""

    def __init__(self, work: WorkLedger, transcriber: Transcriber, activity: SpeechActivity,
                 policy: TurnPolicy) -> None:
        self._work, self._tr, self._act, self._policy = work, transcriber, activity, policy
        self.partial: InFlight | None = None
        self.pause: InFlight | None = None
        self.prefetch: InFlight | None = None
        self.early: InFlight | None = None  # a pause's decode asked a frame before the pause (speculative)
        self.owed: Owed | None = None
        self.new_speech = False  # speech since the last ASR request
        self._stretch = 1.0      # the partial period's stretch under load (1 to partial_max_stretch)
        self._partial_asked = 0  # the clock (stream sample) the latest partial was asked for at

    def heard_speech(self) -> None:
        """Speech came: the latest decode no longer covers it."""
        self.new_speech = True

    def turn_ended(self) -> None:
        self.abandon_all()
        self.new_speech = False

    def abandon_all(self) -> None:
        """Newer audio or a newer decode made every decode in flight obsolete."""
        for pending in (self.partial, self.prefetch, self.pause, self.early):
            if pending is not None:
                self._work.abandon(pending.seq)
        self.partial = self.prefetch = self.pause = self.early = None
        self.owed = None

    def _ask(self, params: ListenParams, *, final: bool, live: bool = False, urgent: bool = True,
             until: int | None = None, head: tuple[float, tuple[Word, ...]] | None = None) -> int:
        request = self._tr.request(self._act, params, final=final, live=live, until=until,
                                   head=head[1] if head else (), head_start=head[0] if head else 0.0)
        return self._work.issue(request, multilingual=params.multilingual, urgent=urgent)

    def _due(self, slack_s: float) -> int:
        return self._act.clock + int(slack_s * SAMPLE_RATE)

    # ------------------------------------------------------------------ live partials

    def partial_period_s(self, params: ListenParams) -> float:
        """The live partials' period now: ``partial_every_s`` (``multi_partial_every_s`` on
        flux-general-multi, whose partials Whisper base decodes), stretched while the server sheds
        them (``_stretch``)."""
        pol = self._policy
        return (pol.multi_partial_every_s if params.multilingual else pol.partial_every_s) * self._stretch

    def partial_due(self, params: ListenParams) -> bool:
        """While the user speaks, partials refresh every period of audio, counted from the latest
        decode or the latest partial asked for, whichever is later: a partial the server shed is
        not asked again at the next tick."""
        since = max(self._tr.hyp_end, self._partial_asked)
        return self._act.clock - since >= int(self.partial_period_s(params) * SAMPLE_RATE)

    def ask_partial(self, params: ListenParams) -> None:
        self.new_speech = False
        covers = self._partial_asked = self._act.clock
        stale = covers - self._tr.hyp_end >= int(self._policy.partial_stale_s * SAMPLE_RATE)
        head = self._tr.tail_start()
        seq = self._ask(params, final=False, live=True, urgent=stale, head=head)
        slack = self._policy.multi_partial_slack_s if params.multilingual else self._policy.partial_slack_s
        self.partial = InFlight(seq, covers, self._due(slack), head[1] if head else ())

    def drop_partial(self) -> None:
        """The window moved: a partial in flight decodes audio the transcript no longer starts at."""
        if self.partial is not None:
            self._work.abandon(self.partial.seq)
            self.partial = None

    def settle_partial(self, *, now: bool = False) -> Step[None]:
        """Apply the live partial once the clock reaches its due time (or ``now``: a pause starts,
        and the decisions need the latest words). The cadence follows the load the answers show:
        a partial the server shed (None) doubles the period, up to ``partial_max_stretch`` times;
        one it computed halves it again."""
        p = self.partial
        if p is None or (self._act.clock < p.due and not now):
            return
        res = yield from self._work.result(p.seq)
        self.partial = None
        if isinstance(res, AsrResult):
            self._stretch = max(1.0, self._stretch / 2)
            self._tr.update(self._tr.took(res, covers=p.covers, final=False, head=p.head))
        else:  # shed under load: the words stay as they were until the next refresh
            self._stretch = min(self._policy.partial_max_stretch, self._stretch * 2)

    # ------------------------------------------------------------------ the pause's decode

    def owe_pause(self, *, apply: bool) -> None:
        """The pause starts: a final-quality decode of the speech so far is owed (``apply``: the
        decisions are to read its words; else a live partial already covered the speech)."""
        self.new_speech = False
        self.owed = Owed(self._act.clock, apply)

    def ask_owed(self, params: ListenParams, *, due_in_s: float) -> None:
        """Ask for the owed decode, to be applied ``due_in_s`` of audio from now (and no earlier
        than ``pause_slack_s`` into the pause)."""
        owed, self.owed = self.owed, None
        if owed is None:
            return
        due = max(self._due(due_in_s), owed.covers + int(self._policy.pause_slack_s * SAMPLE_RATE))
        early, self.early = self.early, None
        if early is not None:  # asked before the pause, nothing said since: the same speech
            slot = InFlight(early.seq, early.covers, due)
        else:
            slot = InFlight(self._ask(params, final=True, until=owed.covers), owed.covers, due)
        if owed.apply:
            self.pause = slot
        else:
            self.prefetch = slot

    def ask_early(self, params: ListenParams) -> None:
        """Ask now, at the first silence after speech, for the final-quality decode the pause will
        owe if the silence goes on into one (``pause_min_s``): when that decode is asked for, it is
        this one, whose compute started a frame sooner. Abandoned if the speaker goes on first."""
        if self.early is None:
            self.early = InFlight(self._ask(params, final=True), self._act.clock, self._act.clock)

    def pause_words_pending(self) -> bool:
        """The words the decisions of this pause are to read are not applied yet."""
        return self.pause is not None or (self.owed is not None and self.owed.apply)

    def settle_pause(self, *, now: bool = False) -> Step[None]:
        """Apply the pause's decode once the clock reaches its due time (or ``now``), waiting then."""
        p = self.pause
        if p is None or (self._act.clock < p.due and not now):
            return
        res = yield from self._work.result(p.seq)
        self.pause = None
        self._tr.update(self._tr.took(res if isinstance(res, AsrResult) else None, covers=p.covers, final=True))

    def speech_resumed(self) -> None:
        """The speaker went on: a decode still owed is not needed (the next pause owes one that
        covers this speech too), nor one asked before the pause (``ask_early``); one asked for
        before its due time is dropped when ``drop_resumed_pause`` is on."""
        self.owed = None
        if self.early is not None:
            self._work.abandon(self.early.seq)
            self.early = None
        if self.pause is not None and self._act.clock < self.pause.due and self._policy.drop_resumed_pause:
            self._work.abandon(self.pause.seq)
            self.pause = None

    # ------------------------------------------------------------------ decodes waited for

    def decode(self, params: ListenParams, *, final: bool) -> Step[tuple[Word, ...]]:
        """A decode of the turn's window, waited for. It makes any decode in flight obsolete."""
        self.abandon_all()
        self.new_speech = False
        covers = self._act.clock
        res = yield from self._work.result(self._ask(params, final=final))
        return self._tr.took(res if isinstance(res, AsrResult) else None, covers=covers, final=final)

    def final_words(self, params: ListenParams) -> Step[tuple[Word, ...]]:
        """The turn's final words, from the whole window: the latest decode when it is
        final-quality and covers every sample of speech (the usual case: the pause's decode),
        else the pause's or prefetched decode, else a fresh final decode."""
        tr = self._tr.transcript
        assert tr is not None
        before = tr.words
        self.ask_owed(params, due_in_s=0.0)
        pre, self.prefetch = self.prefetch, None
        if self.pause is not None:  # the pause's own decode is newer than any prefetch
            if pre is not None:
                self._work.abandon(pre.seq)
            pre, self.pause = self.pause, None
        if self._tr.covered(int(self._act.last_speech * SAMPLE_RATE)) and not self.new_speech:
            hyp = self._tr.hyp
            if pre is not None:
                self._work.abandon(pre.seq)
        elif pre is not None and not self.new_speech:
            res = yield from self._work.result(pre.seq)
            hyp = self._tr.took(res if isinstance(res, AsrResult) else None, covers=pre.covers, final=True)
        else:
            if pre is not None:
                self._work.abandon(pre.seq)
            hyp = yield from self.decode(params, final=True)
        final = tr.finalize(hyp)
        return final if final else before
