"""The malloc arena cap: applied on glibc unless the operator set MALLOC_ARENA_MAX."""

from __future__ import annotations

import ctypes.util
import platform
from pathlib import Path

import pytest
from servertools import serve_process

from turnscribe.server.memory import ALLOCATOR_ENV, jemalloc_loaded, limit_malloc_arenas, reexec_with_jemalloc


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_cap_applies_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert limit_malloc_arenas(4) is True


def test_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    assert limit_malloc_arenas() is False


def _allocator_line(log: Path) -> str:
    return next(line for line in log.read_text().splitlines() if "memory allocator:" in line)


@pytest.mark.skipif(ctypes.util.find_library("jemalloc") is None, reason="libjemalloc2 is not installed")
def test_serve_runs_on_jemalloc_when_installed_and_on_glibc_when_asked(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    with serve_process(["--engine", "fake"], tmp_path / "je.log") as (proc, _port):
        pid = proc.pid
        assert "memory allocator: jemalloc" in _allocator_line(tmp_path / "je.log")
        maps = Path(f"/proc/{pid}/maps").read_text()
        assert "libjemalloc" in maps  # the re-executed process is the one Popen started (same pid)
    monkeypatch.setenv(ALLOCATOR_ENV, "system")
    with serve_process(["--engine", "fake"], tmp_path / "glibc.log") as (proc, _):
        assert "memory allocator: glibc malloc" in _allocator_line(tmp_path / "glibc.log")
        assert "libjemalloc" not in Path(f"/proc/{proc.pid}/maps").read_text()


def test_reexec_does_nothing_when_turned_off_or_already_preloaded(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr("os.execve", lambda *a: calls.append(a))
    reexec_with_jemalloc(["serve"], {ALLOCATOR_ENV: "system"})
    reexec_with_jemalloc(["serve"], {"LD_PRELOAD": "/usr/lib/libjemalloc.so.2"})
    assert calls == []
    assert jemalloc_loaded() is False  # this test process runs on glibc
