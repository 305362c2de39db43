"""The turns of one stream: when one starts, ends eagerly, resumes and ends, and what each
``TurnInfo`` says. Driven by the session one 80 ms frame at a time (``frame``), with one
``TurnInfo`` per 240 ms tick; every transition goes through ``TurnMachine`` (``machine.py``).

Invariants (flux-protocol.md §5–§7):
- one ``TurnInfo`` per 240 ms of audio (3 frames), during speech and silence; a state change
  replaces that tick's ``Update``. Turn *ends* (eager, model, timeout) are decided on every frame
  and sent at once, replacing the Update of the tick they fall in; ``ForceEndTurn`` is off-tick too;
- ``StartOfTurn``/``EagerEndOfTurn`` carry non-empty words; after an ``EagerEndOfTurn`` the
  transcript is frozen until ``TurnResumed`` or ``EndOfTurn`` (which repeats it).
"""

from __future__ import annotations

import math

from turnscribe.core import render
from turnscribe.core.activity import SpeechActivity
from turnscribe.core.decodes import DecodeSlots
from turnscribe.core.endgate import Decision, EndGate
from turnscribe.core.eot import ANSWER_MAX_WORDS, may_be_answer
from turnscribe.core.framing import FRAME_S
from turnscribe.core.ledger import WorkLedger
from turnscribe.core.machine import Signal, TurnMachine, TurnState
from turnscribe.core.policy import TurnPolicy
from turnscribe.core.transcriber import Transcriber
from turnscribe.core.transcript import norm_word
from turnscribe.core.waits import Step
from turnscribe.types.engine import SAMPLE_RATE, Word
from turnscribe.wire.events import Event, Trigger, TurnEvent, Warning
from turnscribe.wire.params import ListenParams

FRAMES_PER_TICK = 3        # one TurnInfo per 240 ms of audio (§6.1)
RESUME_REACH_S = 0.15      # a changed decode must reach this far past the eager words to be a resume
FORGET_NOISE_S = 1.0       # speech that gave no words, followed by this much silence, was a noise
# A decode is asked a frame before the pause only after what may be a short reply: the known words
# and the speech after them (counted at this many words a second) no more than an answer holds
EARLY_WORDS_PER_S = 2.5


class Turns:
    def __init__(self, params: ListenParams, policy: TurnPolicy, work: WorkLedger, activity: SpeechActivity,
                 events: list[Event]) -> None:
        self.params, self.policy = params, policy
        self._work, self._act, self._events = work, activity, events
        self.machine = TurnMachine()
        self.transcriber = Transcriber(policy.window)
        self.decodes = DecodeSlots(work, self.transcriber, activity, policy)
        self.gate = EndGate(policy, work, activity)
        self._window_start = 0.0   # audio_window_start of the current turn (§6.4)
        self._turn_start = 0.0     # where the turn's audio begins (its first decode window)
        self._eager_words: tuple[Word, ...] | None = None  # the frozen transcript after an eager end
        self._start_pending = False  # speech not yet covered by a start attempt
        self._frames_in_tick = 0
        self._tick_spoken = False    # an end already spoke for this tick (it replaced the Update)

    @property
    def active(self) -> bool:
        return self.machine.active

    def on_speech(self) -> None:
        """A frame held speech (VAD applied)."""
        self.decodes.speech_resumed()
        self.gate.speech()
        resumed = self._act.resumed_after
        if resumed is not None and self.transcriber.active:
            self.transcriber.heard_gap(*resumed)
        if (resumed is not None and self.machine.state is TurnState.ONGOING and self.decodes.pause is None
                and self.transcriber.anchor(*resumed)):
            self.decodes.drop_partial()  # one in flight decodes the window as it was
        self.decodes.heard_speech()
        self._start_pending = True

    def frame(self) -> Step[None]:
        """One 80 ms frame after its VAD: apply decodes that came due, decide on an end, tick."""
        yield from self.decodes.settle_partial()
        yield from self.decodes.settle_pause()
        yield from self._end_decision()
        self._frames_in_tick += 1
        if self._frames_in_tick == FRAMES_PER_TICK:
            self._frames_in_tick = 0
            if self._tick_spoken:
                self._tick_spoken = False
            else:
                yield from self.tick(final=False)

    def tick(self, *, final: bool) -> Step[None]:
        """The tick's TurnInfo: a start, a resume or an Update. The ``final`` tick (end of the
        stream) reports the last audio and never changes state (§7.4)."""
        event = TurnEvent.UPDATE
        state = self.machine.state
        d = self.decodes
        if final:
            d.abandon_all()
            if state is TurnState.ONGOING:
                yield from d.final_words(self.params)  # clients treat this last Update as the turn's text
        elif state is TurnState.INITIAL:
            event = yield from self._maybe_start()
        elif d.new_speech and state is TurnState.AWAITING_END:
            event = yield from self._after_eager()
        elif d.new_speech and d.partial is None and d.partial_due(self.params):
            d.ask_partial(self.params)
        if self.machine.active:
            self.gate.fuse(*self._cue_words())
        self._emit(event, None)

    def force_end(self) -> Step[None]:
        if not self.machine.active:
            self._events.append(Warning(
                "FORCE_END_TURN_NO_ACTIVE_TURN",
                "Received ForceEndTurn while no turn was active; the request was ignored."))
            return
        self.decodes.abandon_all()
        yield from self._end_turn(Trigger.MANUAL)
        self._emit(TurnEvent.END_OF_TURN, Trigger.MANUAL)

    # ------------------------------------------------------------------ start and resume

    def _maybe_start(self) -> Step[TurnEvent]:
        act, pol = self._act, self.policy
        onset = act.speech_onset
        if onset is None or not self._start_pending or act.speech_run < pol.min_speech_s:
            self.gate.no_turn()
            return TurnEvent.UPDATE
        start = max(self._window_start, onset - pol.preroll_s)
        self.transcriber.begin(start)
        self._turn_start = start
        words = yield from self.decodes.decode(self.params, final=False)
        if act.silence() >= pol.pause_min_s:
            self._start_pending = False  # the attempt covered the whole utterance
        else:  # still speaking: a word that ends at the audio's edge may be cut ("Too deep?" for
            # "To decrease"); it is left out when others remain (StartOfTurn is not delayed for it)
            whole = tuple(w for w in words if w.end <= act.now - pol.start_holdback_s)
            words = whole or words
        if not words:
            self.transcriber.drop()
            if act.silence() > FORGET_NOISE_S:  # a cough or a noise burst: forget it
                act.forget_onset()
            return TurnEvent.UPDATE
        self.transcriber.update(words)
        self._start_pending = False
        self.gate.turn_started(onset)
        return self.machine.fire(Signal.START)

    def _after_eager(self, *, final: bool = False) -> Step[TurnEvent]:
        """New speech after an eager end: decode, and resume if the speaker went on."""
        words = yield from self.decodes.decode(self.params, final=final)
        if not self._resumed(words):
            return TurnEvent.UPDATE
        self._eager_words = None
        self.transcriber.update(words)
        return self.machine.fire(Signal.RESUME)

    def _resumed(self, words: tuple[Word, ...]) -> bool:
        """After an eager end, did the speaker go on? Yes when words begin after the eager
        transcript, or when the new decode says something else and reaches past it (a number
        re-formatted with the digits that followed: "601-448." then "601-448-9723"). A cough
        neither adds words nor changes them."""
        tr = self.transcriber.transcript
        assert tr is not None
        eager = self._eager_words or ()
        eager_end = eager[-1].end if eager else tr.window_start
        if any(w.start > eager_end + 0.05 for w in words):
            return True
        in_window = eager[len(tr.frozen):]  # the decode covers the window only
        changed = [norm_word(w.text) for w in words] != [norm_word(w.text) for w in in_window]
        return changed and any(w.end > eager_end + RESUME_REACH_S for w in words)

    # ------------------------------------------------------------------ ends (every frame)

    def _pause_started(self) -> Step[bool]:
        """The pause starts: it owes a final-quality decode of the speech before it (the words an
        end reads and reports; asked for once an end is near, see ``decodes.py``). True when the
        speaker turned out to have resumed after an eager end (the TurnResumed is sent)."""
        d = self.decodes
        yield from d.settle_partial(now=True)
        if self.machine.state is TurnState.AWAITING_END:
            if d.new_speech and (yield from self._after_eager(final=True)) is TurnEvent.TURN_RESUMED:
                self._emit(TurnEvent.TURN_RESUMED, None)
                self._tick_spoken = True
                return True
        elif d.new_speech or not self.transcriber.hyp_final:
            # a live partial that covered the speech still owes the decisions the final words: its
            # tiny.en short-window punctuation misleads the end gate ("the water front," where base
            # hears "the waterfront.": the caller's end was missed)
            d.owe_pause(apply=True)
        elif not self.transcriber.covered(int(self._act.last_speech * SAMPLE_RATE)):
            d.owe_pause(apply=False)
        return False

    def _lead_s(self) -> float:
        """How much silence before the earliest possible end the pause's decode (and Smart Turn) is
        asked: ``final_lead_s``, plus ``final_lead_per_s`` per second of the window it decodes."""
        tr, pol = self.transcriber.transcript, self.policy
        window = max(0.0, self._act.last_speech - tr.window_start) if tr is not None else 0.0
        return pol.final_lead_s + pol.final_lead_per_s * window

    def _ask_if_end_near(self, silence: float) -> None:
        """Ask for the pause's owed decode once the turn can end within ``final_lead_s``, to be
        applied from the earliest frame an end is possible (before it, every frame holds); or once
        a long window can restart at this pause, its words then frozen final-quality (applied
        within ``final_lead_s``: the window restarts at the next speech after that)."""
        d, tr = self.decodes, self.transcriber.transcript
        if d.owed is None or tr is None:
            return
        lead = self._lead_s()
        earliest = self.gate.earliest_end_s(self._cue_words()[0], self.params.thresholds, self.machine.state)
        if silence + lead >= earliest:  # an infinite lead (eval eot's recording) reads the words at once
            d.ask_owed(self.params, due_in_s=0.0 if math.isinf(lead) else max(0.0, earliest - silence))
        elif self.transcriber.anchorable(self._act.last_speech, silence):
            d.ask_owed(self.params, due_in_s=min(lead, earliest - silence))

    def _ask_beside_acoustic(self, silence: float) -> None:
        """While Smart Turn's answer is in flight: a short reply ("Yes.") whose turn could end at this
        very frame (if Smart Turn agrees) has its owed decode asked for now, beside Smart Turn
        instead of after its answer, so its EndOfTurn waits for one model's compute, not two in a
        row. Only short replies: their decodes are cheap, and they are the ends decided at a pause's
        first frame; a longer turn's decode would be asked at most pauses for nothing."""
        d = self.decodes
        if d.owed is not None and self.gate.acoustic_pending and self._short_reply_can_end_by(silence):
            d.ask_owed(self.params, due_in_s=0.0)

    def _short_reply_can_end_by(self, silence_s: float, *, unheard_words_per_s: float = 0.0) -> bool:
        """The words so far may be a whole short reply (``may_be_answer``; with the speech after
        them counted as ``unheard_words_per_s`` words a second, no more words than an answer holds)
        and the turn can end by ``silence_s`` of silence, if Smart Turn agrees."""
        known, unheard = self._cue_words()
        text = " ".join(w.text for w in known)
        if not may_be_answer(text):
            return False
        if unheard_words_per_s and len(text.split()) + unheard * unheard_words_per_s > ANSWER_MAX_WORDS:
            return False
        return self.gate.earliest_end_s(known, self.params.thresholds, self.machine.state) <= silence_s

    def _ask_before_pause(self) -> None:
        """At the first silence after a short reply ("Yes."), a frame before it is long enough to be
        a pause: ask for the final-quality decode the pause would owe (``DecodeSlots.ask_early``). A
        short reply's turn can end at its pause's first frame, where its EndOfTurn waits for that
        decode (~0.15 s of Whisper base); asked a frame sooner, most of it has run by then. Only
        short replies: their decodes are cheap, and a speaker who goes on after a gap between words
        costs one abandoned decode. Nothing else changes: the pause asks for its decode as before,
        and gets this one."""
        d = self.decodes
        if (not self._act.in_gap or self.machine.state is not TurnState.ONGOING or d.early is not None
                or not (d.new_speech or not self.transcriber.hyp_final)):
            return
        if self._short_reply_can_end_by(self.policy.pause_min_s + FRAME_S, unheard_words_per_s=EARLY_WORDS_PER_S):
            d.ask_early(self.params)

    def _end_decision(self) -> Step[None]:
        if not self.machine.active:
            return
        silence = self._act.silence()
        if silence < self.policy.pause_min_s:
            self._ask_before_pause()
            return
        gate, d = self.gate, self.decodes
        if gate.pause_starts() and (yield from self._pause_started()):
            return
        # Smart Turn is asked once an end can come within the pause decode's lead, so it is answered
        # before that decode is asked (which then reads its answer): before that every frame holds
        gate.consider_acoustic(silence, self._turn_start, self.transcriber.transcript, soon=lambda: (
            silence + self._lead_s() >= gate.earliest_end_s(self._cue_words()[0], self.params.thresholds,
                                                            self.machine.state)))
        self._ask_beside_acoustic(silence)
        yield from gate.read_acoustic()
        self._ask_if_end_near(silence)
        yield from d.settle_pause()  # the pause's words, from the earliest frame an end is possible
        words, unheard = self._cue_words()
        decision = gate.judge(words, unheard, silence, self.params.thresholds, self.machine.state).decision
        if decision is not Decision.HOLD and d.pause_words_pending():
            # the earliest end was misjudged (the final words hold fewer words than the partial's):
            # an end still reads the words that end the turn
            d.ask_owed(self.params, due_in_s=0.0)
            yield from d.settle_pause(now=True)
            words, unheard = self._cue_words()
            decision = gate.judge(words, unheard, silence, self.params.thresholds, self.machine.state).decision
        if decision is Decision.HOLD:
            return
        if decision in (Decision.EAGER, Decision.EAGER_AND_END):
            if not (yield from self._eager()):
                return
            self._emit(TurnEvent.EAGER_END_OF_TURN, None)
            self._tick_spoken = True
            if decision is Decision.EAGER:
                return
        trigger = Trigger.TIMEOUT if decision is Decision.TIMEOUT else Trigger.MODEL
        yield from self._end_turn(trigger)
        self._emit(TurnEvent.END_OF_TURN, trigger)
        self._tick_spoken = True

    def _eager(self) -> Step[bool]:
        words = yield from self.decodes.final_words(self.params)
        if not words:
            return False
        self._eager_words = words
        self.machine.fire(Signal.EAGER)
        return True

    def _end_turn(self, trigger: Trigger) -> Step[None]:
        self.gate.turn_ending(by_model=trigger is Trigger.MODEL)
        if self._eager_words is None:
            self._eager_words = yield from self.decodes.final_words(self.params)
        self.machine.fire(Signal.END)

    # ------------------------------------------------------------------ emitting

    def _cue_words(self) -> tuple[tuple[Word, ...], float]:
        """The words the end decision reads — the eager transcript while one is out, else the
        latest decode — and how much of the speech (s) they miss (a partial asked mid-speech)."""
        if self._eager_words is not None:
            return self._eager_words, 0.0
        tr = self.transcriber
        return tr.latest_words(), max(0.0, self._act.last_speech - tr.hyp_end / SAMPLE_RATE)

    def _words_now(self) -> tuple[Word, ...]:
        if self._eager_words is not None:
            return self._eager_words
        if not self.machine.active or self.transcriber.transcript is None:
            return ()
        return self.transcriber.transcript.words

    def _emit(self, event: TurnEvent, trigger: Trigger | None) -> None:
        gate, language = self.gate, self.transcriber.language
        why = None
        if self.params.decision_reasons and event in render.ENDS:
            cues = gate.confidence_cues if gate.confidence_cues is not None else gate.cues(*self._cue_words())
            why = render.reasons(event, trigger, self.params, language, cues, self.policy.model)
        confidence = gate.confidence if (self.machine.active or event is TurnEvent.END_OF_TURN) else 0.0
        self._events.append(render.turn_info(
            event, trigger, params=self.params, language=language, words=self._words_now(),
            turn_index=self.machine.turn_index, window=(self._window_start, self._act.now),
            confidence=confidence, why=why))
        if event is TurnEvent.END_OF_TURN:
            self._after_end()

    def _after_end(self) -> None:
        self.machine.advance_index()
        self.decodes.turn_ended()
        self._work.next_generation()
        self._window_start = self._act.now
        self.transcriber.reset()
        self._eager_words = None
        self.gate.turn_ended()
        self._act.forget_onset()
        self._start_pending = False
