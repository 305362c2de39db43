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

__all__ = ["DEFAULT_ARENAS", "limit_malloc_arenas"]

log = logging.getLogger("turnscribe")

DEFAULT_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` unless ``MALLOC_ARENA_MAX`` is set; True when the cap
    was applied. Call before the worker threads start. A no-op (False) off glibc."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    applied = bool(mallopt(_M_ARENA_MAX, arenas))
    if not applied:
        log.debug("mallopt(M_ARENA_MAX, %d) refused", arenas)
    return applied
