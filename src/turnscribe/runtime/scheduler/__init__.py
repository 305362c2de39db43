"""A generic batching scheduler: many streams share a few model workers.

``Batcher`` is the pure policy (which queued jobs run together, and when); ``WorkerPool`` runs its batches on
worker threads and tells every submitter its job's outcome exactly once. Neither knows what the payloads are.
"""

from __future__ import annotations

from .batcher import CANCELLED, SHED, SUPERSEDED, Batch, Batcher, Job, LaneConfig, LaneFull
from .pool import CLOSED, Done, Dropped, WorkerPool

__all__ = [
    "CANCELLED",
    "CLOSED",
    "SHED",
    "SUPERSEDED",
    "Batch",
    "Batcher",
    "Done",
    "Dropped",
    "Job",
    "LaneConfig",
    "LaneFull",
    "WorkerPool",
]
