"""CPU accounting of engine calls: CTranslate2 computes on threads of its own, and their time is
charged to the thread that called the model (``engines/cputime.py``)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from turnscribe.engines.cputime import NativeThreads, task_cpu_s, thread_cpu_s
from turnscribe.types.engine import AsrRequest


def test_a_python_thread_is_never_taken_for_a_native_worker() -> None:
    stop = threading.Event()
    _, found = NativeThreads.started_during(lambda: threading.Thread(target=stop.wait, daemon=True).start())
    stop.set()
    assert found.tids == frozenset() and found.charge() == 0.0


def test_a_threads_clock_reads_its_cpu_time() -> None:
    tid = threading.get_native_id()
    before = task_cpu_s(tid)
    t0 = time.thread_time()
    while time.thread_time() - t0 < 0.05:
        pass
    assert task_cpu_s(tid) - before == pytest.approx(time.thread_time() - t0, abs=0.02)
    assert task_cpu_s(2**31 - 1) == 0.0, "a thread that does not exist has spent nothing"


def test_whisper_calls_are_charged_their_native_workers_time(real_engines) -> None:
    """Around a Whisper call, the caller's own clock sees a fraction of the work; with the
    workers' time charged it sees all of it (the process's CPU, on a test that runs alone)."""
    asr = real_engines.asr.partial
    assert asr._workers.tids, "CTranslate2 started worker threads when the model loaded"
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(3 * 16000)).astype(np.float32)
    own, charged, process = time.thread_time(), thread_cpu_s(), time.process_time()
    for _ in range(3):
        asr.transcribe([AsrRequest(audio, short_window=True)])
    own, charged, process = (time.thread_time() - own, thread_cpu_s() - charged, time.process_time() - process)
    assert own < 0.5 * charged, "most of a decode runs on CTranslate2's threads"
    assert charged == pytest.approx(process, rel=0.25)
