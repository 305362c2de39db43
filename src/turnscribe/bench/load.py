"""``turnscribe bench load``: real WebSocket clients streaming real audio at real time.

Each step opens N clients (started staggered over ``ramp_s``) against one server. Every client
sends linear16 16 kHz audio in 20 ms frames on an absolute schedule (frame k at ``t0 + k*0.02``,
``t0`` = when its first frame was sent) for ``duration_s``, then ``CloseStream``, and reads until
the server closes. Per TurnInfo it records the lag ``arrival − (t0 + audio_window_end)``
(Update lag: every TurnInfo; EndOfTurn lag: EndOfTurn only). The first ``warmup_s`` of stream
audio is left out of the lag statistics. Because the frame that completes a window is sent at
``t0 + end − 0.02``, a lag can be as low as −20 ms.

The bench spawns the server itself (one process per scheduler mode, alive for the whole run,
loaded one step at a time) and samples its CPU seconds and RSS from ``/proc``; or it drives an
already-running server (``--url``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import json
import math
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from turnscribe.types.engine import SAMPLE_RATE

FRAME_S = 0.02
FRAME_BYTES = int(SAMPLE_RATE * FRAME_S) * 2  # 640 bytes of PCM16
EN_MODEL = "flux-general-en"
MULTI_MODEL = "flux-general-multi"
KINDS = ("continuous", "conversational", "multi")
ENGLISH_SETS = ("wer_clean",)
MULTI_SETS = ("multi_es", "multi_fr")
NORMAL_CLOSES = frozenset({1000, 1005})  # §8: Flux's empty close frame reads as 1005
DEFAULT_LADDER_LIMIT = 64


# ---------------------------------------------------------------------------------------------
# audio


def default_data_dir() -> Path:
    """``$TURNSCRIBE_SHARED/data`` when set, else ``../shared/data`` relative to the CWD."""
    shared = os.environ.get("TURNSCRIBE_SHARED")
    return Path(shared) / "data" if shared else Path("..") / "shared" / "data"


def data_folder(arg: str | None) -> Path | None:
    """``--data`` (else the default) when it holds a manifest; None, said on stderr, when not."""
    data = Path(arg) if arg else default_data_dir()
    if not (data / "manifest.tsv").is_file():
        print(f"error: {data / 'manifest.tsv'} not found (use --data or TURNSCRIBE_SHARED)", file=sys.stderr)
        return None
    return data


def read_pcm16_wav(path: Path) -> bytes:
    """The raw little-endian PCM16 samples of a mono 16 kHz WAV file."""
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1 or w.getframerate() != SAMPLE_RATE:
            raise ValueError(f"{path}: need mono 16-bit {SAMPLE_RATE} Hz PCM, got {w.getnchannels()} ch, "
                             f"{8 * w.getsampwidth()} bit, {w.getframerate()} Hz")
        return bytes(w.readframes(w.getnframes()))


def load_clips(data: Path, sets: Sequence[str]) -> list[bytes]:
    """PCM of every manifest row in ``sets``; for several sets, interleaved (a0, b0, a1, b1, ...)."""
    manifest = data / "manifest.tsv"
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    per_set: list[list[bytes]] = []
    for name in sets:
        per_set.append([read_pcm16_wav(data / r["path"]) for r in rows if r.get("set") == name])
    out: list[bytes] = []
    for i in range(max((len(s) for s in per_set), default=0)):
        out += [s[i] for s in per_set if i < len(s)]
    return [c for c in out if c]


def parse_mix(spec: str, multi_share: float | None = None) -> dict[str, float]:
    """Stream kinds and their shares, summing to 1.

    ``spec`` is ``continuous``, ``conversational`` or weights such as
    ``continuous=0.5,conversational=0.5`` (``multi=...`` allowed too). ``multi_share``, when
    given, fixes the multi fraction; the other kinds share the rest in their given proportions.
    """
    weights: dict[str, float] = {}
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if name not in KINDS:
            raise ValueError(f"unknown stream kind {name!r} (choose from {', '.join(KINDS)})")
        try:
            w = float(value) if sep else 1.0
        except ValueError:
            raise ValueError(f"bad weight in {part!r}") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"bad weight in {part!r}")
        weights[name] = weights.get(name, 0.0) + w
    if multi_share is not None:
        if not 0.0 <= multi_share <= 1.0:
            raise ValueError("--multi-share must be between 0 and 1")
        weights.pop("multi", None)
        rest = sum(weights.values())
        if rest <= 0 and multi_share < 1.0:
            weights = {"continuous": 1.0}
            rest = 1.0
        weights = {k: (1.0 - multi_share) * w / rest for k, w in weights.items()} if rest > 0 else {}
        if multi_share > 0:
            weights["multi"] = multi_share
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the mix has no stream kind with a positive weight")
    return {k: w / total for k, w in weights.items() if w > 0}


def assign_kinds(n: int, weights: Mapping[str, float]) -> list[str]:
    """Deterministic kinds for streams 0..n-1, spread evenly (smooth weighted round robin)."""
    order = [k for k in KINDS if weights.get(k, 0.0) > 0]
    counts = dict.fromkeys(order, 0)
    out: list[str] = []
    for i in range(n):
        kind = max(order, key=lambda k: (weights[k] * (i + 1) - counts[k], -order.index(k)))
        counts[kind] += 1
        out.append(kind)
    return out


def build_stream_audio(kind: str, clips: Sequence[bytes], offset: int, duration_s: float) -> bytes:
    """``duration_s`` of PCM (a whole number of 20 ms frames): clips back to back from
    ``clips[offset]`` on, cycling; ``conversational`` puts silence as long as each clip after it."""
    if not clips:
        raise ValueError(f"no audio for {kind!r} streams")
    need = max(1, round(duration_s / FRAME_S)) * FRAME_BYTES
    parts: list[bytes] = []
    have = 0
    i = offset % len(clips)
    while have < need:
        clip = clips[i]
        parts.append(clip)
        have += len(clip)
        if kind == "conversational":
            parts.append(bytes(len(clip)))
            have += len(clip)
        i = (i + 1) % len(clips)
    return b"".join(parts)[:need]


@dataclass(frozen=True)
class StreamSpec:
    index: int
    kind: str
    model: str
    audio: bytes

    @property
    def audio_s(self) -> float:
        return len(self.audio) / (2 * SAMPLE_RATE)


def build_streams(n: int, weights: Mapping[str, float], clips: Mapping[str, Sequence[bytes]],
                  duration_s: float) -> list[StreamSpec]:
    """N streams; each starts at a different offset in its clip list (spread over the list), so
    the streams are not in lockstep."""
    kinds = assign_kinds(n, weights)
    per_kind = Counter(kinds)
    seen: Counter[str] = Counter()
    out = []
    for i, kind in enumerate(kinds):
        pool = clips["multi" if kind == "multi" else "english"]
        j = seen[kind]
        seen[kind] += 1
        offset = (j * len(pool)) // per_kind[kind] if pool else 0
        out.append(StreamSpec(i, kind, MULTI_MODEL if kind == "multi" else EN_MODEL,
                              build_stream_audio(kind, pool, offset, duration_s)))
    return out


# ---------------------------------------------------------------------------------------------
# statistics and the SLO


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), linear interpolation between ranks (numpy's default)."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def lag_summary(values: Sequence[float]) -> dict[str, Any]:
    return {"count": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "max": max(values) if values else None}


@dataclass(frozen=True)
class Slo:
    update_p95_s: float = 0.3
    eot_p95_s: float = 0.15

    def check(self, step: Mapping[str, Any]) -> list[str]:
        """Why a step fails the SLO (empty: it passes). Refusals are not failures."""
        why = []
        up = step["update_lag"]
        eot = step["eot_lag"]
        if not up["count"]:
            why.append("no Update lag measured")
        elif up["p95"] > self.update_p95_s:
            why.append(f"Update p95 {up['p95']:.3f}s > {self.update_p95_s}s")
        if eot["count"] and eot["p95"] > self.eot_p95_s:
            why.append(f"EndOfTurn p95 {eot['p95']:.3f}s > {self.eot_p95_s}s")
        if step["errors"]:
            why.append(f"{step['errors']} error(s)")
        if step["abnormal_closes"]:
            why.append(f"{step['abnormal_closes']} abnormal close(s)")
        return why


def max_within_slo(steps: Iterable[Mapping[str, Any]]) -> int:
    """The most streams that were admitted and served within the SLO at a passing step (a step
    where the server refused some at the handshake counts only the admitted ones)."""
    return max((int(s["streams"]) - int(s.get("refusals") or 0) for s in steps if s["pass"]), default=0)


def find_max_ladder(limit: int = DEFAULT_LADDER_LIMIT) -> list[int]:
    """1, 2, 4, 8, then +4 up to 32, then +8: the N tried by ``--find-max``."""
    out = [1, 2, 4, 8]
    while out[-1] < limit:
        out.append(out[-1] + (4 if out[-1] < 32 else 8))
    return [n for n in out if n <= limit]


# ---------------------------------------------------------------------------------------------
# clients


@dataclass
class ClientResult:
    index: int
    kind: str
    audio_s: float = 0.0                 # audio actually sent
    messages: int = 0
    update_lags: list[float] = field(default_factory=list)   # after warm-up
    eot_lags: list[float] = field(default_factory=list)      # after warm-up
    # audio_window_end - end of the newest word, per Update with words after warm-up: how stale
    # the live transcript is (partials shed under load make it grow; pauses inside turns too)
    word_ages: list[float] = field(default_factory=list)
    eot_total: int = 0                   # EndOfTurns incl. warm-up
    errors: list[str] = field(default_factory=list)          # Error codes (and client-side failures)
    refused: int | None = None           # HTTP status of a refused handshake
    refused_reason: str = ""
    close_code: int | None = None
    abnormal: bool = False
    last_window_end: float = 0.0
    send_late_max_s: float = 0.0         # worst lateness of a frame against its schedule


async def run_client(url: str, spec: StreamSpec, *, start_delay_s: float, warmup_s: float,
                     close_timeout_s: float, headers: Mapping[str, str] | None = None) -> ClientResult:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

    res = ClientResult(spec.index, spec.kind)
    loop = asyncio.get_running_loop()
    await asyncio.sleep(start_delay_s)
    sep = "&" if "?" in url else "?"
    full = f"{url}{sep}model={spec.model}&encoding=linear16&sample_rate={SAMPLE_RATE}"
    try:
        ws = await connect(full, additional_headers=dict(headers) if headers else None, open_timeout=60,
                           ping_interval=None, compression=None, close_timeout=10, max_size=None)
    except InvalidStatus as exc:
        res.refused = exc.response.status_code
        res.refused_reason = exc.response.headers.get("dg-error", "")
        return res
    except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:  # an error of this stream
        res.errors.append(f"connect:{type(exc).__name__}")
        return res

    t0: float | None = None

    async def receive() -> None:
        nonlocal t0
        try:
            async for raw in ws:
                now = loop.time()
                res.messages += 1
                if isinstance(raw, bytes):
                    continue
                try:
                    msg = json.loads(raw)
                    typ = msg.get("type")
                except (ValueError, AttributeError):
                    res.errors.append("client:UNPARSABLE_SERVER_MESSAGE")
                    continue
                if typ == "TurnInfo" and t0 is not None:
                    end = float(msg.get("audio_window_end", 0.0))
                    res.last_window_end = max(res.last_window_end, end)
                    is_eot = msg.get("event") == "EndOfTurn"
                    res.eot_total += is_eot
                    if end >= warmup_s:
                        lag = now - (t0 + end)
                        res.update_lags.append(lag)
                        if is_eot:
                            res.eot_lags.append(lag)
                        words = msg.get("words") or []
                        if msg.get("event") == "Update" and words:
                            res.word_ages.append(end - max(float(w.get("end", 0.0)) for w in words))
                elif typ == "Error":
                    res.errors.append(str(msg.get("code", "ERROR")))
        except ConnectionClosed:
            pass

    audio = memoryview(spec.audio)
    n_frames = len(audio) // FRAME_BYTES
    receiver = asyncio.create_task(receive())
    sent = 0
    try:
        t0 = loop.time()
        for k in range(n_frames):
            due = t0 + k * FRAME_S
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > res.send_late_max_s:
                res.send_late_max_s = -delay
            await ws.send(audio[k * FRAME_BYTES:(k + 1) * FRAME_BYTES])
            sent += 1
        await ws.send('{"type": "CloseStream"}')
    except ConnectionClosed:
        pass  # the server ended the stream early: its Error / close code tell why
    res.audio_s = sent * FRAME_S
    try:
        await asyncio.wait_for(asyncio.shield(receiver), close_timeout_s)
    except TimeoutError:
        res.errors.append("client:CLOSE_TIMEOUT")
        await ws.close()
        await receiver
    res.close_code = ws.close_code
    res.abnormal = res.close_code not in NORMAL_CLOSES
    return res


async def _sample_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        rss = read_rss_mb(pid)
        if rss is not None:
            peak[0] = max(peak[0], rss)
        try:
            await asyncio.wait_for(stop.wait(), 0.5)
        except TimeoutError:
            pass


async def run_step_async(url: str, specs: Sequence[StreamSpec], *, ramp_s: float, warmup_s: float,
                         close_timeout_s: float, pid: int | None,
                         headers: Mapping[str, str] | None = None) -> tuple[list[ClientResult], float]:
    """All clients of one step; returns their results and the server's peak RSS (MB, 0 unknown)."""
    peak = [0.0]
    stop = asyncio.Event()
    sampler = asyncio.create_task(_sample_rss(pid, peak, stop)) if pid else None
    n = len(specs)
    results = await asyncio.gather(*(
        run_client(url, s, start_delay_s=ramp_s * i / n, warmup_s=warmup_s,
                   close_timeout_s=close_timeout_s, headers=headers) for i, s in enumerate(specs)))
    stop.set()
    if sampler is not None:
        await sampler
    return list(results), peak[0]


def summarize_step(streams: int, results: Sequence[ClientResult]) -> dict[str, Any]:
    upd = [x for r in results for x in r.update_lags]
    eot = [x for r in results for x in r.eot_lags]
    errors = Counter(e for r in results for e in r.errors)
    served = [r for r in results if r.refused is None]
    return {
        "streams": streams,
        "kinds": dict(Counter(r.kind for r in results)),
        "audio_s": round(sum(r.audio_s for r in results), 3),
        "update_lag": lag_summary(upd),
        "eot_lag": lag_summary(eot),
        "word_age": lag_summary([x for r in results for x in r.word_ages]),
        "eot_total": sum(r.eot_total for r in results),
        "errors": sum(errors.values()),
        "error_codes": dict(errors),
        "refusals": sum(r.refused is not None for r in results),
        "refusal_statuses": dict(Counter(str(r.refused) for r in results if r.refused is not None)),
        "refusal_reasons": sorted({r.refused_reason for r in results if r.refused_reason}),
        "abnormal_closes": sum(r.abnormal for r in served),
        "close_codes": dict(Counter(str(r.close_code) for r in served)),
        "messages": sum(r.messages for r in results),
        "incomplete_streams": sum(r.audio_s - r.last_window_end > 0.3 for r in served),
        "send_late_max_s": round(max((r.send_late_max_s for r in results), default=0.0), 4),
    }


# ---------------------------------------------------------------------------------------------
# the server process


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
              ready_timeout_s: float) -> Server:
        port = free_port()
        cmd = [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--scheduler", mode,
               "--max-streams", "0", "--engine", engine]
        if asr_model:
            cmd += ["--asr-model", asr_model]
        cmd += list(extra)
        env = {k: v for k, v in os.environ.items() if k not in ("TURNSCRIBE_API_KEYS", "TURNSCRIBE_API_KEY_FILE")}
        log_path.parent.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env)
        srv = cls(mode, f"ws://127.0.0.1:{port}/v2/listen", proc.pid, cmd, proc, log_path)
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


def listen_url(url: str) -> str:
    """``ws://host:port`` (any path or none) → the ``/v2/listen`` endpoint, without a query."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"--url must look like ws://host:port, got {url!r}")
    return f"{parts.scheme}://{parts.netloc}{parts.path if parts.path not in ('', '/') else '/v2/listen'}"


# ---------------------------------------------------------------------------------------------
# one step, the run, the report


def http_base(ws_url: str) -> str:
    parts = urlsplit(ws_url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


def scrape_engines(ws_url: str) -> dict[tuple[str, str], float] | None:
    """The server's per-engine counters from ``/metrics``: (engine, what) -> value, where what is
    busy_s (inference wall time), calls, jobs or dropped. None when /metrics does not answer."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"{http_base(ws_url)}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    names = {"turnscribe_engine_inference_seconds_sum": "busy_s",
             "turnscribe_engine_inference_seconds_count": "calls",
             "turnscribe_engine_batch_size_sum": "jobs",
             "turnscribe_engine_jobs_dropped_total": "dropped"}
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            what = names.get(sample.name)
            if what is not None and "engine" in sample.labels:
                key = (sample.labels["engine"], what)
                out[key] = out.get(key, 0.0) + sample.value
    return out


def engine_profile(before: Mapping[tuple[str, str], float] | None,
                   after: Mapping[tuple[str, str], float] | None, wall_s: float) -> dict[str, Any] | None:
    """Where the compute went in one step: per engine, busy seconds (and as a share of the wall
    time: 1.0 = one core busy throughout), calls, jobs per call, jobs dropped."""
    if before is None or after is None:
        return None
    engines = sorted({e for e, _ in after})
    prof: dict[str, Any] = {}
    for e in engines:
        d = {w: after.get((e, w), 0.0) - before.get((e, w), 0.0) for w in ("busy_s", "calls", "jobs", "dropped")}
        prof[e] = {"busy_s": round(d["busy_s"], 3), "cores": round(d["busy_s"] / wall_s, 3) if wall_s else None,
                   "calls": int(d["calls"]), "jobs": int(d["jobs"]),
                   "jobs_per_call": round(d["jobs"] / d["calls"], 2) if d["calls"] else None,
                   "dropped": int(d["dropped"])}
    return prof


def run_step(server: Server, specs: Sequence[StreamSpec], args: argparse.Namespace, slo: Slo,
             headers: Mapping[str, str] | None) -> dict[str, Any]:
    pid = server.pid
    cpu0 = read_cpu_s(pid) if pid else None
    bench_cpu0 = time.process_time()
    engines0 = scrape_engines(server.url)
    t = time.monotonic()
    results, peak = asyncio.run(run_step_async(
        server.url, specs, ramp_s=args.ramp, warmup_s=args.warmup, close_timeout_s=args.close_timeout,
        pid=pid, headers=headers))
    wall = time.monotonic() - t
    cpu1 = read_cpu_s(pid) if pid else None
    step = summarize_step(len(specs), results)
    rss_end = read_rss_mb(pid) if pid else None
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    step.update({
        "wall_s": round(wall, 2),
        "server_cpu_s": round(cpu, 3) if cpu is not None else None,
        "cpu_per_audio_s": round(cpu / step["audio_s"], 4) if cpu is not None and step["audio_s"] else None,
        "rss_end_mb": round(rss_end, 1) if rss_end is not None else None,
        "rss_peak_mb": round(max(peak, rss_end or 0.0), 1) if pid else None,
        "bench_cpu_s": round(time.process_time() - bench_cpu0, 3),
        "engines": engine_profile(engines0, scrape_engines(server.url), wall),
    })
    reasons = slo.check(step)
    step["pass"] = not reasons
    step["fail_reasons"] = reasons
    return step


def add_rss_per_stream(steps: list[dict[str, Any]], idle_rss: float | None) -> None:
    """RSS growth per added stream: against the 1-stream step when there is one, else idle."""
    one = next((s for s in steps if s["streams"] == 1 and s.get("rss_peak_mb") is not None), None)
    for s in steps:
        peak = s.get("rss_peak_mb")
        if peak is None:
            s["rss_delta_per_stream_mb"] = None
        elif one is not None and s["streams"] > 1:
            s["rss_delta_per_stream_mb"] = round((peak - one["rss_peak_mb"]) / (s["streams"] - 1), 2)
        elif idle_rss is not None:
            s["rss_delta_per_stream_mb"] = round((peak - idle_rss) / s["streams"], 2)
        else:
            s["rss_delta_per_stream_mb"] = None


def _f(x: Any, nd: int = 3) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def format_table(report: Mapping[str, Any]) -> str:
    head = ["mode", "N", "upd p50", "upd p95", "upd max", "eot p50", "eot p95", "eot n", "age p50", "err", "refused",
            "abn", "msgs", "cpu/aud", "rss MB", "dRSS/str", "SLO"]
    rows = [head]
    for mode, m in report["modes"].items():
        for s in m["steps"]:
            u, e = s["update_lag"], s["eot_lag"]
            rows.append([mode, str(s["streams"]), _f(u["p50"]), _f(u["p95"]), _f(u["max"]), _f(e["p50"]),
                         _f(e["p95"]), str(e["count"]), _f(s.get("word_age", {}).get("p50")),
                         str(s["errors"]), str(s["refusals"]),
                         str(s["abnormal_closes"]), str(s["messages"]), _f(s["cpu_per_audio_s"]),
                         _f(s["rss_end_mb"], 0), _f(s["rss_delta_per_stream_mb"], 1),
                         "pass" if s["pass"] else "FAIL"])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for mode, m in report["modes"].items():
        lines.append(f"{mode}: max streams within SLO = {m['max_streams_within_slo']}")
        for s in m["steps"]:
            notes = list(s["fail_reasons"])
            if s["refusals"]:
                notes.append(f"{s['refusals']} refused ({', '.join(s['refusal_reasons']) or 'no reason'})")
            if s["incomplete_streams"]:
                notes.append(f"{s['incomplete_streams']} stream(s) ended short of their audio")
            if notes:
                lines.append(f"  N={s['streams']}: " + "; ".join(notes))
            if s.get("engines"):
                lines.append(f"  N={s['streams']} compute: " + ", ".join(
                    f"{e} {p['cores']:.2f} cores ({p['jobs_per_call'] or 0:.1f}/call"
                    + (f", {p['dropped']} dropped)" if p["dropped"] else ")")
                    for e, p in s["engines"].items() if p["calls"] or p["dropped"]))
    if report.get("ratio_max_streams") is not None:
        lines.append(f"ratio of max streams within SLO ({' / '.join(report['modes'])}) = "
                     f"{report['ratio_max_streams']:.2f}")
    return "\n".join(lines)


def plot(report: Mapping[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    slo = report["slo"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("update_lag", "Update lag p95", slo["update_p95_s"]),
              ("eot_lag", "EndOfTurn compute lag p95", slo["eot_p95_s"]))
    for ax, (key, title, limit) in zip(axes, panels):
        cap = 4 * limit  # overloaded points (lag growing without bound) are drawn at the top, labelled
        all_x: set[int] = set()
        for mode, m in report["modes"].items():
            pts = [(s["streams"], s[key]["p95"]) for s in m["steps"] if s[key]["p95"] is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            all_x.update(xs)
            line, = ax.plot(xs, [min(y, cap) for y in ys], marker="o", label=mode)
            for x, y in pts:
                if y > cap:
                    ax.plot([x], [cap], marker="^", color=line.get_color(), markersize=9)
                    ax.annotate(f"{y:.1f}s", (x, cap), textcoords="offset points", xytext=(0, -14),
                                ha="center", fontsize=8, color=line.get_color())
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"SLO {limit:g} s")
        ax.set_ylim(-0.05 * cap, cap * 1.05)
        if all_x:
            ax.set_xticks(sorted(all_x))
        ax.set_xlabel("concurrent streams")
        ax.set_ylabel("seconds")
        ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle(f"turnscribe bench load ({report['config']['mix_label']}, {report['config']['duration_s']:g} s"
                 " per stream)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mix_label(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {w:.0%}" for k, w in weights.items())


def _parse_streams(text: str) -> list[int]:
    out = [int(x) for x in text.replace(" ", "").split(",") if x]
    if not out or any(n < 1 for n in out):
        raise ValueError("--streams needs positive integers, e.g. 1,4,8")
    return out


def run(args: argparse.Namespace) -> int:
    try:
        weights = parse_mix(args.mix, args.multi_share)
        ladder = (_parse_streams(args.streams) if args.streams else
                  (find_max_ladder(args.max_n) if args.find_max else [1, 4, 8, 16, 24]))
        url = listen_url(args.url) if args.url else None
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    data = data_folder(args.data)
    if data is None:
        return 2
    clips: dict[str, list[bytes]] = {"english": [], "multi": []}
    wanted = (("english", ENGLISH_SETS, any(k != "multi" for k in weights)),
              ("multi", MULTI_SETS, "multi" in weights))
    for pool, sets, needed in wanted:
        if not needed:
            continue
        try:
            clips[pool] = load_clips(data, sets)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: reading the audio: {exc}", file=sys.stderr)
            return 2
        if not clips[pool]:
            print(f"error: no audio in sets {', '.join(sets)} of {data}", file=sys.stderr)
            return 2

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(args.out) if args.out else Path("results") / f"bench_load_{stamp}.json"
    png = out.with_suffix(".png")
    slo = Slo(args.slo_update, args.slo_eot)
    headers = {"Authorization": f"Token {args.api_key}"} if args.api_key else None

    scheduler = args.scheduler or ("url" if url is not None else "batched")  # the label of a --url server
    baseline = args.baseline and url is None and scheduler != "inline"
    if args.baseline and url is not None:
        print("note: --url given, so there is no inline baseline server to compare with", file=sys.stderr)
    modes = [scheduler] + (["inline"] if baseline else [])
    servers: dict[str, Server] = {}
    report: dict[str, Any] = {
        "command": sys.argv,
        "started": datetime.now().isoformat(timespec="seconds"),
        "config": {"data": str(data), "mix": weights, "mix_label": _mix_label(weights),
                   "duration_s": args.duration, "ramp_s": args.ramp, "warmup_s": args.warmup,
                   "engine": args.engine, "asr_model": args.asr_model, "server_args": args.server_args,
                   "find_max": args.find_max, "ladder": ladder, "url": url, "cpus": os.cpu_count(),
                   "lag": "arrival - (t0 + audio_window_end), t0 = when the stream's first 20 ms frame was sent"},
        "slo": {"update_p95_s": slo.update_p95_s, "eot_p95_s": slo.eot_p95_s,
                "errors": 0, "abnormal_closes": 0},
        "modes": {},
    }
    extra = shlex.split(args.server_args) if args.server_args else []
    try:
        for mode in modes:  # load the models one server at a time (it is CPU-heavy)
            if url is not None:
                servers[mode] = Server(mode, url, args.pid)
                wait_ready(url.replace("ws", "http", 1).rsplit("/v2/listen", 1)[0], args.ready_timeout)
            else:
                log_path = out.with_name(f"{out.stem}_server_{mode}.log")
                print(f"starting the {mode} server ...", file=sys.stderr, flush=True)
                servers[mode] = Server.spawn(mode, engine=args.engine, asr_model=args.asr_model, extra=extra,
                                             log_path=log_path, ready_timeout_s=args.ready_timeout)
            srv = servers[mode]
            idle = read_rss_mb(srv.pid) if srv.pid else None
            report["modes"][mode] = {
                "server": {"cmd": srv.cmd, "pid": srv.pid, "url": srv.url, "ready_s": srv.ready_s,
                           "log": str(srv.log_path) if srv.log_path else None,
                           "idle_rss_mb": round(idle, 1) if idle is not None else None},
                "steps": [], "max_streams_within_slo": 0, "stopped_at": None}
        fails = dict.fromkeys(modes, 0)
        for n in ladder:
            active = [m for m in modes if not (args.find_max and fails[m] >= 2)]
            if not active:
                break
            specs = build_streams(n, weights, clips, args.duration)
            for mode in active:  # one server under load at a time
                print(f"[{mode}] {n} stream(s) x {args.duration:g} s ...", file=sys.stderr, flush=True)
                step = run_step(servers[mode], specs, args, slo, headers)
                entry = report["modes"][mode]
                entry["steps"].append(step)
                fails[mode] = 0 if step["pass"] else fails[mode] + 1
                if args.find_max and fails[mode] >= 2:
                    entry["stopped_at"] = n
                time.sleep(args.pause)
    except KeyboardInterrupt:
        print("interrupted: reporting the steps that finished", file=sys.stderr)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for srv in servers.values():
            srv.stop()

    for mode, entry in report["modes"].items():
        add_rss_per_stream(entry["steps"], entry["server"]["idle_rss_mb"])
        entry["max_streams_within_slo"] = max_within_slo(entry["steps"])
    names = list(report["modes"])
    report["ratio_max_streams"] = None
    if len(names) == 2:
        a, b = (report["modes"][k]["max_streams_within_slo"] for k in names)
        report["ratio_max_streams"] = round(a / b, 3) if b else None
        report["ratio_of"] = f"{names[0]} / {names[1]}"
    report["finished"] = datetime.now().isoformat(timespec="seconds")
    out.parent.mkdir(parents=True, exist_ok=True)
    has_png = importlib.util.find_spec("matplotlib") is not None
    report["plot"] = str(png) if has_png else None
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if has_png:
        plot(report, png)
    else:
        print("note: no PNG (matplotlib is in the eval extra: pip install 'turnscribe[eval]')", file=sys.stderr)
    print(format_table(report))
    print(f"wrote {out}" + (f" and {png}" if has_png else ""))
    return 0
