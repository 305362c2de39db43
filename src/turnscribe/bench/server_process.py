"""The server under test as a process: spawned (``turnscribe serve`` on a free port) or pointed at,
waited on until ready, and its CPU seconds and RSS read from ``/proc``."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from turnscribe.wire.params import LISTEN_PATH


def _clock_ticks() -> int:
    try:
        return int(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError, AttributeError):
        return 100


def read_cpu_s(pid: int) -> float | None:
    """utime + stime of a process (threads included), in seconds."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "; fields[0] is field 3 (state)
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def read_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def server_command() -> list[str]:
    """How to run this package's CLI with the current interpreter."""
    if importlib.util.find_spec("turnscribe.__main__") is not None:
        return [sys.executable, "-m", "turnscribe"]
    script = Path(sys.executable).with_name("turnscribe")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from turnscribe.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(http_base: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None,
               log_path: Path | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = ""
            if log_path is not None and log_path.exists():
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"the server exited with status {proc.returncode} before it was ready\n{tail}")
        try:
            with urllib.request.urlopen(f"{http_base}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            body = exc.read()[:500]
            last = f"HTTP {exc.code}: {body.decode(errors='replace')}"
            if b'"failed"' in body:
                raise RuntimeError(f"the server failed to load its models: {last}") from None
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"the server at {http_base} was not ready after {timeout_s:.0f}s ({last})")


@dataclass
class Server:
    """A ``turnscribe serve`` this bench started (or, with ``proc`` None, one it was pointed at)."""

    mode: str
    url: str
    pid: int | None
    cmd: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    ready_s: float | None = None

    @classmethod
    def spawn(cls, mode: str, *, engine: str, asr_model: str | None, extra: Sequence[str], log_path: Path,
              ready_timeout_s: float, scheduler: str | None = None, source: Path | None = None) -> Server:
        """``source``: a ``src`` folder of another turnscribe revision to serve instead of this one."""
        port = free_port()
        cmd = [*(server_command() if source is None else [sys.executable, "-m", "turnscribe"]), "serve",
               "--host", "127.0.0.1", "--port", str(port), "--scheduler", scheduler or mode,
               "--max-streams", "0", "--engine", engine]
        if asr_model:
            cmd += ["--asr-model", asr_model]
        cmd += list(extra)
        env = {k: v for k, v in os.environ.items() if k not in ("TURNSCRIBE_API_KEYS", "TURNSCRIBE_API_KEY_FILE")}
        if source is not None:  # ahead of the installed package
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(source), env.get("PYTHONPATH", "")) if p)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env)
        srv = cls(mode, f"ws://127.0.0.1:{port}{LISTEN_PATH}", proc.pid, cmd, proc, log_path)
        try:
            wait_ready(f"http://127.0.0.1:{port}", ready_timeout_s, proc, log_path)
        except BaseException:
            srv.stop()
            raise
        srv.ready_s = round(time.monotonic() - t, 2)
        return srv

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def export_revision(ref: str, into: Path) -> Path:
    """``src/`` of git revision ``ref`` of the repository this package runs from, written under
    ``into``; returns that ``src`` folder. Raises RuntimeError when there is no such revision."""
    repo = Path(__file__).resolve().parents[3]
    try:
        archive = subprocess.run(["git", "-C", str(repo), "archive", ref, "src"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        err = getattr(exc, "stderr", b"") or b""
        raise RuntimeError(f"cannot export revision {ref!r} of {repo}: {err.decode(errors='replace').strip() or exc}") from None
    return into / "src"


def http_base(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"

