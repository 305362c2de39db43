"""End-of-turn confidence: how likely the turn is over, from the silence, the transcript's own cues
and the acoustic model, judged against this speaker's own pauses.

A pause either ends the turn or is a *hold* the speaker resumes from. The model is a hazard model
with few, interpretable parameters (nothing here is fitted to a labelled set):

- **the words so far** give the prior odds that the turn is over at this pause
  (``text_class``): the speaker *continues* after a trailing conjunction, article, preposition or
  lead-in ("and", "the", "my number is", "the reason is that"), a filler ("um"), a comma, an
  open digit group or an open enumeration; a *complete* sentence ends in ".", "?" or "!"; an
  *answer* is a short reply ("Yes.", "Okay, thanks.", "The airport."); anything else is *plain*;
  words that miss the end of the speech are *unheard* (they say nothing).
- **Smart Turn's** P(complete), asked once at the start of the pause, shifts those odds
  (``acoustic_weight`` × its logit: on real speech it separates holds from ends only weakly).
- **the silence**, against this speaker's **patience**: the holds a speaker makes have a typical
  length, so the chance that a pause of ``s`` seconds is still a hold falls as ``S(s) =
  10^-(s/P)^shape``, where ``P`` is the longest pause this stream recently resumed speaking after
  (never below ``patience_floor_s``). A fast speaker's turns end sooner; one who pauses long
  between phrases is not cut off. After words that say the speaker goes on, the holds run
  ``hold_patience`` times longer (people think after "I'd like to book a table for"); after a
  short answer ``answer_patience`` times as long (a caller who said "yes." is done or goes on at once).
- ``soon_after_end``: the turn began right after a turn the model ended: the speaker most likely
  went on after a premature end, so the next end needs more evidence.

P(over | cues) = odds / (odds + S(s)) with odds from the words, the acoustic answer and the
priors; as log-odds, the sum of the named terms ``EotModel.terms`` returns (the decision
reasons report them).
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from turnscribe.core.transcript import norm_word
from turnscribe.text.formatting import numerals
from turnscribe.types.engine import Word
from turnscribe.wire.events import Term

# Words after which a speaker is rarely finished.
CONTINUATION_WORDS = frozenset({
    "a", "an", "the", "and", "or", "but", "so", "because", "if", "then", "than", "of", "for", "from", "to",
    "with", "at", "into", "onto", "between", "during", "without",
    "my", "your", "his", "her", "our", "their", "its",
    "is", "are", "was", "were", "be", "been", "am", "will", "would", "can", "could", "should", "shall", "may",
    "might", "must", "do", "does", "did", "have", "has", "had",
    "i", "he", "she", "we", "they",
    "like", "think", "mean", "want", "need", "guess", "believe", "hope", "wonder", "say", "tell", "whether",
    "unless", "although",
})  # not "you", "it", "that", "through", "in", "on": sentences end in them ("Thank you.")
# one-word (or two-word) turns that are complete answers on their own
ANSWER_WORDS = frozenset({
    "yes", "yeah", "yep", "yup", "no", "nope", "nah", "okay", "ok", "sure", "right", "correct", "exactly",
    "great", "perfect", "fine", "thanks", "thank", "you", "bye", "goodbye", "hello", "hi", "hey",
    "absolutely", "definitely", "alright", "cool", "got", "it", "please",
})
# digit strings of these lengths are usually whole (last four, ZIP, local / US phone, card);
# other lengths are usually a group of a longer number still being dictated (3-3-4 phone)
WHOLE_DIGIT_COUNTS = frozenset({4, 5, 7, 10, 11, 16})
# "that" ends a sentence ("I like that.") except after a verb that introduces a clause
# ("The reason I'm calling is that ...", "I think that ...")
CLAUSE_VERBS = frozenset({
    "is", "was", "are", "were", "be", "think", "thought", "said", "says", "mean", "meant", "hope", "believe",
    "sure", "know", "knew",
})
LEAD_IN = re.compile(r"(number|code|address|email|phone|name|date|zip|pin)$")
FILLERS = frozenset({"um", "uh", "er", "ah", "hmm", "mm", "erm", "uhm", "well"})
NUMBER_WORDS = frozenset({
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty",
    "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety", "hundred", "thousand",
})

# A turn that starts within this long of the previous turn's last speech, when the model ended that
# turn, is most likely the same speaker going on after a premature end: ask for more evidence.
SOON_AFTER_END_S = 1.5
# Pauses a stream resumed speaking after count towards its patience when they lie in this range:
# shorter ones are gaps between words, longer ones separate turns (the agent spoke meanwhile).
PATIENCE_PAUSE_S = (0.1, 2.0)
PATIENCE_RECENT = 8  # the patience is the longest of this many latest resumed pauses
TEXT_CLASSES = ("continues", "complete", "answer", "plain", "unheard")
# A turn of at most this many words that does not say it goes on is an *answer* (callers mostly
# answer a question: "Airport.", "Public transit"); three-word turns are as often the first sentence
# of a longer one ("Login incorrect. Please ...", "Call forward on. ...") as a whole reply.
SHORT_ANSWER_WORDS = 2
ANSWER_MAX_WORDS = SHORT_ANSWER_WORDS + 1  # the most words an answer can hold (the answer feature allows three answer words)
# Words that miss more than this much of the speech before the pause say nothing about how it ends
# (the speaker went on past "I want to"; "Yes" may have become "Yes, and ..."): class "unheard".
UNHEARD_MAX_S = 0.12
SILENCE_CAP_S = 3.0  # the silence term stops growing here (the timeout ends longer pauses)


@dataclass(frozen=True, slots=True)
class Cues:
    """What the session knows at a decision point (the raw inputs of the model)."""

    silence_s: float
    acoustic: tuple[float, ...] = ()   # Smart Turn answers in this pause, oldest first
    words: tuple[Word, ...] = ()
    soon_after_end: bool = False       # the turn began right after a model-decided end
    recent_pauses: tuple[float, ...] = ()  # the stream's latest resumed pauses (s), oldest first
    unheard_s: float = 0.0             # speech after what ``words`` cover (a live partial asked mid-speech)

    @property
    def transcript(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True, slots=True)
class EotModel:
    """The hazard model's parameters (see the module docstring); set by hand, not fitted.
    ``turnscribe eval eot`` reports them cross-validated (chosen from a small grid on the other
    speakers) beside the shipped values."""

    # Log-odds that the turn is over at a pause, by ``text_class``, before the silence says
    # anything. Most pauses end nothing, even after a full sentence: people say several in a turn.
    # (Where 0.7, Flux's default ``eot_threshold``, falls on the trade-off follows from these.)
    continues_prior: float = -5.5
    complete_prior: float = -2.0
    answer_prior: float = -0.5
    plain_prior: float = -3.5
    acoustic_weight: float = 0.5    # × logit of Smart Turn's first answer in the pause
    patience_floor_s: float = 0.5   # the patience before (and whatever) the stream shows
    hold_patience: float = 2.0      # holds after a "continues" cue run this much longer ...
    answer_patience: float = 0.5    # ... and after a short answer this much shorter (it ends fast or not at all)
    shape: float = 2.0              # how sharply a pause stops looking like a hold past the patience
    soon_after_end: float = -2.0
    adaptive: bool = True           # learn the patience from the stream (off: always the floor)

    def patience(self, cues: Cues) -> float:
        recent = cues.recent_pauses[-PATIENCE_RECENT:] if self.adaptive else ()
        return max([self.patience_floor_s, *recent])

    def prior(self, cls: str) -> float:
        """Log-odds of an end before the silence says anything, for text class ``cls``."""
        return {"continues": self.continues_prior, "complete": self.complete_prior,
                "answer": self.answer_prior, "plain": self.plain_prior, "unheard": self.plain_prior}[cls]

    def hold_scale(self, cues: Cues, cls: str) -> float:
        """How long (s) this speaker's holds run after words of class ``cls``."""
        return self.patience(cues) * {"continues": self.hold_patience, "answer": self.answer_patience}.get(cls, 1.0)

    def terms(self, cues: Cues) -> tuple[Term, ...]:
        cls = text_class(cues.transcript) if cues.unheard_s <= UNHEARD_MAX_S else "unheard"
        out = [Term(f"text_{cls}", 1.0, self.prior(cls))]
        if cues.acoustic:
            out.append(Term("acoustic", cues.acoustic[0], self.acoustic_weight * logit(cues.acoustic[0])))
        rel = min(cues.silence_s, SILENCE_CAP_S) / self.hold_scale(cues, cls)
        out.append(Term("silence", rel, math.log(10.0) * rel ** self.shape))
        if cues.soon_after_end:
            out.append(Term("soon_after_end", 1.0, self.soon_after_end))
        return tuple(out)

    def earliest_end_s(self, cues: Cues, threshold: float, classes: tuple[str, ...]) -> float:
        """The shortest silence at which the confidence can reach ``threshold``, with every cue
        but the words and the silence as in ``cues`` (without an acoustic answer yet: the most
        confident one), whichever of ``classes`` the words turn out to be; inf when none can
        before the silence term stops growing. Before it, every frame of the pause holds."""
        if threshold >= 1.0:
            return math.inf
        acoustic = cues.acoustic[0] if cues.acoustic else 1.0
        rest = self.acoustic_weight * logit(acoustic) + (self.soon_after_end if cues.soon_after_end else 0.0)
        target = math.log(threshold / (1.0 - threshold)) if threshold > 0.0 else -math.inf
        best = math.inf
        for cls in classes:
            need = (target - self.prior(cls) - rest) / math.log(10.0)
            if need <= 0.0:
                return 0.0
            seconds = need ** (1.0 / self.shape) * self.hold_scale(cues, cls)
            if seconds <= SILENCE_CAP_S:
                best = min(best, seconds)
        return best

    def log_odds(self, cues: Cues) -> float:
        return sum(t.contribution for t in self.terms(cues))

    def probability(self, cues: Cues) -> float:
        return sigmoid(self.log_odds(cues))


def sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


def logit(p: float) -> float:
    p = min(max(p, 1e-3), 1 - 1e-3)
    return math.log(p / (1 - p))


_SEGMENTS = re.compile(r"(?:[^,.;!?]|[.,](?=\d))+")  # a "." or "," inside a number (7.30, 1,200) does not split
_INITIALS = re.compile(r"\b(?:[A-Za-z]\.){2,}")      # "p.m.", "U.S.": one word, not segments
_DIGIT_RUN = re.compile(r"(?:\d[\d\s,.-]*)$")


@functools.lru_cache(maxsize=4096)
def digit_form(text: str) -> str:
    """The words so far with a trailing run of two or more spelled numbers as digits, so the digit
    cues read "six oh one, four four eight" (numbers as words, Flux's default) as they read
    "601, 448". A lone number word stays a word ("I'll take four."), as Whisper writes it."""
    words = text.split()[-16:]
    run = 0
    for w in reversed(words):
        if norm_word(w) not in NUMBER_WORDS:
            break
        run += 1
    if run < 2:
        return text
    return " ".join(w.text for w in numerals([Word(t, 0.0, 0.0, 1.0) for t in words], "en"))


def _trailing_digits(text: str) -> int:
    m = _DIGIT_RUN.search(text.rstrip(".?! "))
    return sum(c.isdigit() for c in m.group(0)) if m else 0


def _list_open(text: str) -> bool:
    """An enumeration whose last item is not introduced by "and"/"or": "eggs, milk" (open) vs
    "eggs, milk, and bread" (closed). Items are short segments between commas/periods."""
    text = _INITIALS.sub(lambda m: m.group(0).replace(".", ""), text)
    segs = [s.strip().lower() for s in _SEGMENTS.findall(text) if s.strip()]
    if len(segs) < 2:
        return False
    last, prev = segs[-1].split(), segs[-2].split()
    # "Yeah, I'm ready." / "No, thanks.": a reply word before a comma opens no enumeration
    lead = all(norm_word(w) in ANSWER_WORDS or norm_word(w) in FILLERS for w in prev)
    return len(last) <= 3 and len(prev) <= 4 and last[0] not in ("and", "or", "plus") and not lead


def text_features(transcript: str) -> tuple[float, ...]:
    """(terminal, question, comma, continuation, filler, number_tail, answer, digits_open,
    digits_whole, list_open) of the words so far."""
    text = transcript.strip()
    if not text:
        return (0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    words = text.split()
    normed = [norm_word(w) for w in words]
    last = normed[-1]
    terminal = text.endswith((".", "?", "!")) and not text.endswith(("...", "…"))
    digits = _trailing_digits(digit_form(text))
    answer = len(words) <= ANSWER_MAX_WORDS and all(n in ANSWER_WORDS for n in normed)
    question = text.endswith("?")
    clause = last == "that" and len(normed) > 1 and normed[-2] in CLAUSE_VERBS and not question
    return (
        float(terminal),
        float(question),
        float(text.endswith((",", ";", ":", "-", "...", "…"))),
        float((last in CONTINUATION_WORDS and not _INITIALS.fullmatch(words[-1])) or clause  # "a.m." is not "am"
              or (bool(LEAD_IN.search(last)) and not terminal)),
        float(last in FILLERS),
        float(last.isdigit() or last in NUMBER_WORDS),
        float(answer),
        float(digits > 0 and digits not in WHOLE_DIGIT_COUNTS),
        float(digits in WHOLE_DIGIT_COUNTS),
        float(_list_open(text) and not answer),
    )


@functools.lru_cache(maxsize=4096)  # read at every decision frame of a pause, with the same words
def text_class(transcript: str) -> str:
    """Which of ``TEXT_CLASSES`` the words so far belong to (see the module docstring). A digit
    string of a whole length ends a dictation even when Whisper wrote it as a list ("4, 1, 5, …")."""
    (terminal, _q, comma, continuation, filler, _n, answer, digits_open, digits_whole,
     list_open) = text_features(transcript)
    if continuation or filler or comma or digits_open or (list_open and not digits_whole):
        return "continues"
    if answer or len(digit_form(transcript).split()) <= SHORT_ANSWER_WORDS:
        return "answer"  # "Yes.", "The airport.", "Kaufmann": a short reply is all a caller says
    return "complete" if terminal or digits_whole else "plain"


def may_be_answer(transcript: str) -> bool:
    """Whether the words that end a turn can still be an *answer*, knowing ``transcript`` (a cheaper
    or earlier decode's words, which may miss the last of the speech): not once they hold more
    words than an answer can (a later decode adds words; it does not drop two)."""
    return len(transcript.split()) <= ANSWER_MAX_WORDS or len(digit_form(transcript).split()) <= ANSWER_MAX_WORDS


def possible_classes(transcript: str) -> tuple[str, ...]:
    """The text classes the words that end a turn can fall in, knowing ``transcript``."""
    if may_be_answer(transcript):
        return ("continues", "complete", "answer", "plain")
    return ("continues", "complete", "plain")


def fuse(cues: Cues, model: EotModel = EotModel()) -> float:
    """Probability that the turn is over, in [0, 1]."""
    return model.probability(cues)
