"""Process memory settings for the server.

glibc gives each thread that allocates concurrently its own malloc arena (up to 8 per core), and
the scheduler's workers, the session threads and the native libraries' threads each keep freed
model scratch memory in their own arena. Capping the arenas lets those threads reuse one
another's freed blocks: on the 2-core benchmark box the server's RSS with 8 live streams fell
from ~710 MB to ~610 MB at the same lag (``turnscribe bench load``). An operator's own
``MALLOC_ARENA_MAX`` always wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

__all__ = ["DEFAULT_ARENAS", "MMAP_THRESHOLD", "limit_malloc_arenas", "trim_heap"]

log = logging.getLogger("turnscribe")

DEFAULT_ARENAS = 2
# blocks from this size up (a window of audio, a client's large frame) are mapped and unmapped on
# their own instead of fragmenting the heap; a fixed value also stops glibc from raising it after
# each large free, which is what let such blocks pile up in the heap in a 30-minute soak
MMAP_THRESHOLD = 256 * 1024
_M_ARENA_MAX = -8  # mallopt parameter numbers (glibc malloc.h)
_M_MMAP_THRESHOLD = -3


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # musl and other libcs have neither
        return None
    return libc


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` (unless ``MALLOC_ARENA_MAX`` is set) and fix the
    mmap threshold at ``MMAP_THRESHOLD`` (unless ``MALLOC_MMAP_THRESHOLD_`` is set); True when the
    arena cap was applied. Call before the worker threads start. A no-op (False) off glibc."""
    libc = _libc()
    if libc is None:
        return False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    applied = bool(libc.mallopt(_M_ARENA_MAX, arenas))
    if not applied:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return applied


def trim_heap() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``); True if any were.
    The server calls it every ``TRIM_EVERY_S``: streams come and go, their freed audio buffers
    otherwise stay in the process."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False
