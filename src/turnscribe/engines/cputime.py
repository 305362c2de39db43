"""CPU time of engine calls, charged to the thread that made them.

A model call's CPU is not all spent on the calling thread: CTranslate2 runs every Whisper call on
worker threads of its own (started when the model loads), so ``time.thread_time()`` around the
call sees only its Python side (mel features, word grouping). ``NativeThreads`` remembers the
threads a library started while a model loaded and, after each call, charges what they spent since
the previous charge to the calling thread; ``thread_cpu_s()`` is the calling thread's own CPU time
plus everything charged to it. So "CPU around a call" is ``thread_cpu_s()`` after minus before.

Every nanosecond a worker spends is charged exactly once. When two threads call one model at the
same time, the split between their two calls is approximate (one may be charged some of the
other's work); the model's total is exact.

Per-thread clocks come from ``/proc/self/task/<tid>/schedstat`` (Linux). Where there is no
``/proc``, no worker is found and only the calling threads' own time is counted.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_TASKS = "/proc/self/task"
_charged = threading.local()


def _task_ids() -> set[int]:
    try:
        return {int(name) for name in os.listdir(_TASKS)}
    except OSError:
        return set()


def task_cpu_s(tid: int) -> float:
    """CPU seconds thread ``tid`` of this process has run (0 when it is gone or unreadable)."""
    try:
        with open(f"{_TASKS}/{tid}/schedstat", "rb") as fh:
            return int(fh.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def thread_cpu_s() -> float:
    """The calling thread's CPU seconds, plus the native workers' seconds charged to it."""
    return time.thread_time() + float(getattr(_charged, "seconds", 0.0))


class NativeThreads:
    """Threads a native library started for one model, and what they spent since the last charge."""

    def __init__(self, tids: frozenset[int]) -> None:
        self.tids = tids
        self._lock = threading.Lock()
        self._seen = {tid: task_cpu_s(tid) for tid in tids}

    @classmethod
    def started_during(cls, build: Callable[[], T]) -> tuple[T, NativeThreads]:
        """Run ``build`` (a model load) and return its value with the non-Python threads that
        appeared meanwhile (Python threads count their own time in ``thread_cpu_s``)."""
        before = _task_ids()
        value = build()
        python = {t.native_id for t in threading.enumerate()}
        return value, cls(frozenset(_task_ids() - before - python))

    def charge(self) -> float:
        """Charge what these threads spent since the last charge to the calling thread (and
        return it, in seconds)."""
        if not self.tids:
            return 0.0
        spent = 0.0
        with self._lock:
            for tid in self.tids:
                now = task_cpu_s(tid)
                spent += max(0.0, now - self._seen[tid])
                self._seen[tid] = now
        _charged.seconds = float(getattr(_charged, "seconds", 0.0)) + spent
        return spent
