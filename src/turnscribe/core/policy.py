"""The tunables of one stream's turn decisions, composed from its parts' own policies (each default
is written once, where it is used)."""

from __future__ import annotations

from dataclasses import dataclass, field

from turnscribe.core.activity import ActivityPolicy
from turnscribe.core.eot import EotModel
from turnscribe.core.transcriber import WindowPolicy


@dataclass(frozen=True, slots=True)
class TurnPolicy:
    """Seconds unless named otherwise."""

    activity: ActivityPolicy = field(default_factory=ActivityPolicy)  # speech, tails, pauses, history
    window: WindowPolicy = field(default_factory=WindowPolicy)        # ASR windows of long turns
    preroll_s: float = 0.3         # audio kept before the detected speech onset for ASR
    min_speech_s: float = 0.064    # speech needed before an ASR attempt to start a turn
    start_holdback_s: float = 0.2  # while speech goes on, StartOfTurn leaves out words ending closer to the edge
    pause_min_s: float = 0.096     # silence that makes a pause: transcript refreshed, ends considered
    partial_every_s: float = 0.48  # transcript refresh period while the user is speaking ...
    multi_partial_every_s: float = 0.96  # ... on flux-general-multi (its partials cost a Whisper base decode) ...
    partial_max_stretch: float = 2.0  # ... stretched up to this many times while the server sheds partials
    partial_slack_s: float = 0.24  # a live partial is applied this long after it was asked for ...
    multi_partial_slack_s: float = 0.4  # ... on flux-general-multi, whose partials Whisper base decodes
    # a live partial asked for when the transcript's latest decode is this old is not best-effort:
    # under load most partials are shed, and the words must not go stale for seconds
    partial_stale_s: float = 1.5
    acoustic_at_s: tuple[float, ...] = (0.096,)  # pause lengths at which Smart Turn is asked
    # a pause's final-quality decode is asked for once the turn can end within this much more
    # silence (its compute, ~0.1-0.3 s of Whisper base, then overlaps the pause), and applied from
    # the earliest frame an end is possible; holds resumed before then cost none. inf: asked for at
    # the pause start and applied at once (every frame of the pause reads its words; eval eot records so)
    final_lead_s: float = 0.3
    final_lead_per_s: float = 0.02  # ... plus this per second of audio it decodes (its compute grows with it)
    # ... and applied no earlier than this far into the pause (the first frames then read the live partial)
    pause_slack_s: float = 0.0
    # ... and dropped if the speaker goes on before it is due: off, since the decode has nearly always run
    # by then and its words still shape later cues
    drop_resumed_pause: bool = False
    model: EotModel = field(default_factory=EotModel)
    trace: bool = False            # record (time, cues) at every end decision (eval eot)
