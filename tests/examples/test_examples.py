"""examples/: each client script run as a user would run it, against one live ``turnscribe serve``
process with the real bundled models, on a real recording: it must exit 0, print an EndOfTurn and
the recording's words.

A client library that is not installed skips its example (node, ``npm ci`` in examples/node,
the ``examples`` extra); with TURNSCRIBE_EXAMPLES_REQUIRED=1 (CI) it fails instead.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from servertools import serve_process

pytestmark = pytest.mark.model

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
NODE_DIR = EXAMPLES / "node"
CLIP = "wer/clean/ast_queue-youarenext.wav"  # 5.9 s, one clean sentence
SPEED = "2"  # twice real time keeps the module short; the scripts default to real time
RUN_TIMEOUT_S = 90
MIN_WORD_SHARE = 0.8  # the ASR is Whisper tiny.en / base: most words, not every one
API_KEY = "examples-ci-key"  # the server requires it, so each example must send $TURNSCRIBE_API_KEY


def require(ok: bool, reason: str) -> None:
    """Skip (or, in CI, fail) when a client library is genuinely absent."""
    if ok:
        return
    if os.environ.get("TURNSCRIBE_EXAMPLES_REQUIRED") == "1":
        pytest.fail(f"{reason} (TURNSCRIBE_EXAMPLES_REQUIRED=1)")
    pytest.skip(reason)


def words(text: str) -> list[str]:
    """Lower case, punctuation removed (apostrophes kept), split on spaces."""
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


@pytest.fixture(scope="module")
def clip(shared: Path) -> tuple[Path, str]:
    """(the recording, its reference transcript from manifest.tsv)."""
    data = shared / "data"
    with open(data / "manifest.tsv", newline="") as f:
        refs = {row["path"]: row["reference_text"] for row in csv.DictReader(f, delimiter="\t")}
    path = data / CLIP
    if not path.is_file() or CLIP not in refs:
        pytest.skip(f"{CLIP} not in {data}")
    return path, refs[CLIP]


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One real server process (bundled models, requiring API_KEY) for every example."""
    folder = tmp_path_factory.mktemp("examples")
    (folder / "keys").write_text(API_KEY + "\n")
    args = ["--max-streams", "0", "--api-key-file", str(folder / "keys")]
    with serve_process(args, folder / "server.log", ready_s=180) as (_, port):
        yield f"ws://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary, with examples/node's locked dependencies installed (``npm ci`` if missing)."""
    exe = shutil.which("node")
    require(exe is not None, "node is not installed")
    assert exe is not None
    if not (NODE_DIR / "node_modules" / "@deepgram" / "sdk" / "package.json").is_file():
        npm = shutil.which("npm")
        require(npm is not None, "npm is not installed (needed for npm ci in examples/node)")
        assert npm is not None
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=False,
                              capture_output=True, text=True, timeout=300)
        require(done.returncode == 0, f"npm ci in examples/node failed: {done.stderr.strip()[-500:]}")
    return exe


def python_example(script: str, *modules: str):
    def command(request: pytest.FixtureRequest) -> list[str]:
        for module in modules:
            require(importlib.util.find_spec(module) is not None,
                    f"{module} is not installed (pip install -e '.[examples]')")
        return [sys.executable, str(EXAMPLES / script)]
    return command


def node_example(request: pytest.FixtureRequest) -> list[str]:
    return [request.getfixturevalue("node"), str(NODE_DIR / "flux.mjs")]


EXAMPLE_COMMANDS = {
    "deepgram-sdk-sync": python_example("python/deepgram_sync.py", "deepgram"),
    "deepgram-sdk-async": python_example("python/deepgram_async.py", "deepgram"),
    "deepgram-js-sdk": node_example,
    "pipecat": python_example("pipecat/flux_pipeline.py", "pipecat.services.deepgram.flux.stt"),
    "livekit": python_example("livekit/stt_stream.py", "livekit.agents", "livekit.plugins.deepgram"),
}


@pytest.mark.parametrize("name", list(EXAMPLE_COMMANDS))
def test_example_transcribes_a_recording_with_an_end_of_turn(name: str, request: pytest.FixtureRequest,
                                                             clip: tuple[Path, str], server_url: str) -> None:
    command = EXAMPLE_COMMANDS[name](request)
    path, reference = clip
    env = {k: v for k, v in os.environ.items() if k not in ("TURNSCRIBE_URL", "DEEPGRAM_API_KEY")}
    env["TURNSCRIBE_API_KEY"] = API_KEY
    done = subprocess.run([*command, "--url", server_url, "--speed", SPEED, str(path)],
                          check=False, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env,
                          cwd=REPO)
    shown = f"\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"{name} exited {done.returncode}{shown}"
    turns = [line.split(":", 1)[1] for line in done.stdout.splitlines() if line.startswith("EndOfTurn:")]
    assert turns, f"{name} printed no EndOfTurn{shown}"
    heard = Counter(words(" ".join(turns)))
    ref = words(reference)
    found = sum((Counter(ref) & heard).values())
    assert found >= MIN_WORD_SHARE * len(ref), (
        f"{name}: {found}/{len(ref)} reference words in the turns\nreference: {reference}{shown}")
