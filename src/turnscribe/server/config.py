"""Server settings, validated once at start-up. No globals: built in ``cli.main`` and passed down."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from turnscribe.engines.model_dir import AsrModelDirs
from turnscribe.wire.limits import DEFAULT_LIMITS, Limits

KEYS_ENV = "TURNSCRIBE_API_KEYS"
KEY_FILE_ENV = "TURNSCRIBE_API_KEY_FILE"
REASONS_ENV = "TURNSCRIBE_DECISION_REASONS"


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: frozenset[str] = field(default_factory=frozenset)
    # browser pages allowed to open streams (their Origin header); empty: any. Clients that send no
    # Origin (SDKs, servers) are never refused by it
    allowed_origins: frozenset[str] = field(default_factory=frozenset)
    tls_cert: Path | None = None    # PEM certificate chain: serve wss:// (and https:// for /healthz ...)
    tls_key: Path | None = None     # its PEM private key (None: inside tls_cert)
    idle_timeout_s: float = 60.0
    ping_interval_s: float = 20.0   # WebSocket pings; a peer that answers none for as long is reaped (half-open)
    engine: str = "real"            # "real" (bundled models) or "fake" (scripted, no models)
    asr_model: str = "tiny.en+base"
    asr_model_dirs: AsrModelDirs = field(default_factory=AsrModelDirs)  # operator models per role
    device: str = "cpu"             # where the Whisper models run: "cpu" or "cuda" (engines/device.py)
    workers: int = 8                # threads running session work (engines release the GIL)
    scheduler: str = "batched"      # "batched" (shared models, one batching scheduler) or "inline" (each
                                    # session calls its engines itself: the pre-scheduler baseline)
    # the compute budget streams are admitted against, in flux-general-en streams: bench load on a
    # 2-core box holds 8 continuous streams within the SLO, not 12; a stream that would go past it is
    # refused with 503 (0: no limit)
    max_streams: int = 8
    # what one flux-general-multi stream weighs against that budget: every decode of it runs on
    # Whisper base, its partials half as often. bench load: its CPU per stream-second is 1.14-1.2
    # times an English stream's, but its decodes are long and batch poorly: at weight 1.5 the budget
    # admits 5 multi streams, at the Update SLO's edge (p95 0.300 s); at 2, 4 (p95 0.185 s)
    multi_stream_weight: float = 2.0
    engine_timeout_s: float = 30.0  # an engine call running longer fails its streams (0: never)
    # /healthz fails once a given-up call has run this long: only a restart frees its thread (0: never)
    unhealthy_after_stall_s: float = 300.0
    drain_timeout_s: float = 30.0   # SIGTERM: live streams are served this long at most for a turn boundary
    max_lag_s: float = 4.0          # a stream this far behind real time gets Error + close 1011
    compute_threads: int = 2        # scheduler workers running models (one per core)
    limits: Limits = DEFAULT_LIMITS  # what one client may send (wire/limits.py; --limit NAME=VALUE)
    decision_reasons: bool = False  # every stream as if turnscribe_reasons=true (debug; core/reasons.py)

    def stream_weight(self, multilingual: bool) -> float:
        """What one stream of that kind weighs against ``max_streams``."""
        return self.multi_stream_weight if multilingual else 1.0

    @property
    def auth_required(self) -> bool:
        return bool(self.api_keys)


def env_flag(name: str, *, env: dict[str, str] | None = None) -> bool:
    """A boolean setting from the environment: unset/empty/0/false/no/off → False, 1/true/yes/on →
    True; anything else raises ValueError."""
    env = dict(os.environ) if env is None else env
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be 1/true/yes/on or 0/false/no/off, got {env[name]!r}")


def load_api_keys(*, env: dict[str, str] | None = None, key_file: str | None = None) -> frozenset[str]:
    """Keys from ``TURNSCRIBE_API_KEYS`` (comma/whitespace separated) and a key file (one per line,
    ``#`` comments allowed; path from the argument or ``TURNSCRIBE_API_KEY_FILE``)."""
    env = dict(os.environ) if env is None else env
    keys: set[str] = set()
    for part in env.get(KEYS_ENV, "").replace(",", " ").split():
        keys.add(part.strip())
    path = key_file or env.get(KEY_FILE_ENV)
    if path:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.add(line)
    return frozenset(k for k in keys if k)
