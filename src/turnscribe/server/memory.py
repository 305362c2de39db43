"""Process memory settings for the server.

The allocator: a server that runs for days frees and reallocates model scratch buffers of many
sizes, and glibc's malloc keeps the holes (``turnscribe bench soak``, 30 min: RSS +9.8 % after
warm-up). jemalloc returns freed pages to the system and fragments less, so ``turnscribe serve``
re-executes itself with jemalloc preloaded when the system has it (Debian: ``libjemalloc2``;
the Docker image installs it). ``TURNSCRIBE_ALLOCATOR=system`` keeps glibc's.

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
from collections.abc import Mapping, Sequence

__all__ = ["ALLOCATOR_ENV", "DEFAULT_ARENAS", "jemalloc_loaded", "limit_malloc_arenas", "reexec_with_jemalloc"]

log = logging.getLogger("turnscribe")

ALLOCATOR_ENV = "TURNSCRIBE_ALLOCATOR"
DEFAULT_ARENAS = 2
_M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)


def jemalloc_loaded() -> bool:
    """Whether this process runs on jemalloc (it exports ``mallctl``; glibc does not)."""
    try:
        ctypes.CDLL(None).mallctl  # noqa: B018
    except AttributeError:
        return False
    return True


def reexec_with_jemalloc(argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Replace this process by ``python -m turnscribe *argv`` with jemalloc preloaded, when it is
    installed, not already in use, and not turned off (``TURNSCRIBE_ALLOCATOR=system``). Returns
    only when nothing was done. Call first thing, before threads or models exist."""
    env = dict(os.environ if env is None else env)
    if env.get(ALLOCATOR_ENV, "jemalloc") != "jemalloc" or not sys.platform.startswith("linux"):
        return
    preload = env.get("LD_PRELOAD", "")
    if "jemalloc" in preload or jemalloc_loaded():  # already on it (or it failed to load: no loop)
        return
    lib = ctypes.util.find_library("jemalloc")
    if lib is None:
        return
    env["LD_PRELOAD"] = f"{preload} {lib}".strip()
    os.execve(sys.executable, [sys.executable, "-m", "turnscribe", *argv], env)


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc's malloc arenas at ``arenas`` unless ``MALLOC_ARENA_MAX`` is set; True when the cap
    was applied. Call before the worker threads start. A no-op (False) off glibc or on jemalloc."""
    if "MALLOC_ARENA_MAX" in os.environ or not sys.platform.startswith("linux") or jemalloc_loaded():
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
