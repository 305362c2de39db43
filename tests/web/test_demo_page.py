"""The live demo page at ``/`` (turnscribe/web, server/static.py), in a real headless Chromium.

The browser test feeds Chromium's fake microphone from a real recording in ../shared/data and
drives the page with Playwright against the system Chromium (Debian's ``chromium`` package;
Playwright's own browser download is never used). It skips only when Chromium or Playwright is
missing. A screenshot of the page after the turn lands in $TURNSCRIBE_ARTIFACTS (default
results/test-artifacts/).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from servertools import RunningServer, make_server, refused

from turnscribe.server import static

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLIP = "wer/clean/ast_agent-pass.wav"  # 3.9 s, one clean sentence: "please enter your password ..."
KEY = "demo-key-1"
PAGE_TIMEOUT_MS = 60_000


# ---------------------------------------------------------------------------------- static files

def http_request(port: int, target: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
    """A raw GET (urllib would normalise ``..`` away before it reached the server)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, body


@pytest.fixture(scope="module")
def fake_server() -> Iterator[RunningServer]:
    srv = make_server()
    yield srv
    srv.stop()


def port_of(srv: RunningServer) -> int:
    return int(srv.http.rsplit(":", 1)[1])


@pytest.mark.parametrize(("target", "name"), [("/", "index.html"), ("/index.html", "index.html"),
                                              ("/?x=1", "index.html"), ("/static/app.js", "app.js"),
                                              ("/static/style.css", "style.css")])
def test_page_and_assets_are_served(fake_server, target, name) -> None:
    status, headers, body = http_request(port_of(fake_server), target)
    assert status == 200
    assert headers["content-type"] == static.FILES[name]
    assert int(headers["content-length"]) == len(body) > 0
    assert headers["cache-control"] == "no-cache"
    assert body == (REPO / "src/turnscribe/web" / name).read_bytes()


def test_every_listed_file_ships_in_the_package() -> None:
    from importlib import resources

    web = resources.files(static.WEB_PACKAGE)
    for name in static.FILES:
        assert web.joinpath(name).is_file(), name
    # and everything the page loads is on the list
    page = web.joinpath("index.html").read_text()
    for ref in re.findall(r'(?:src|href)="/static/([^"]+)"', page):
        assert ref in static.FILES


@pytest.mark.parametrize("target", ["/static/nope.js", "/static/", "/static/../pyproject.toml",
                                    "/static/%2e%2e/pyproject.toml", "/static//etc/passwd",
                                    "/static/__init__.py", "/app.js", "/web/index.html"])
def test_unknown_names_are_the_usual_404(fake_server, target) -> None:
    status, headers, body = http_request(port_of(fake_server), target)
    assert status == 404 and headers["content-type"] == "application/json"
    assert b"NOT_FOUND" in body and headers["dg-request-id"] and headers["dg-error"]


def test_route_is_an_allow_list() -> None:
    assert static.route("/") == "index.html" and static.route("/static/timeline.js") == "timeline.js"
    for path in ("/static/../app.py", "/static/./app.js", "/static/app.js/", "/static/APP.JS", "/x"):
        assert static.route(path) is None


def test_websocket_clients_still_get_404_at_slash(fake_server) -> None:
    # a Flux client that dials the wrong path must be told so (§2), not handed a web page
    status, _, body = refused(fake_server.url + "/")
    assert status == 404 and body["err_code"] == "NOT_FOUND"


# ---------------------------------------------------------------------------------- the browser

def chromium_path() -> str:
    path = os.environ.get("TURNSCRIBE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no system Chromium (apt-get install chromium)")
    return path


def artifacts_dir() -> Path:
    path = Path(os.environ.get("TURNSCRIBE_ARTIFACTS", REPO / "results" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def reference(shared: Path, clip: str) -> str:
    with open(shared / "data" / "manifest.tsv", newline="", encoding="utf-8") as f:
        rows = {row["path"]: row for row in csv.DictReader(f, delimiter="\t")}
    return rows[clip]["reference_text"]


def words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


def write_mic_wav(src: Path, dst: Path, *, lead_s: float = 0.5, tail_s: float = 5.0, rate: int = 48000) -> None:
    """The recording as a fake microphone: 16-bit PCM at 48 kHz (a microphone's usual rate), with
    silence after it so that the turn ends while audio still flows."""
    import soxr

    with wave.open(str(src)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        src_rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    x = soxr.resample(x, src_rate, rate)
    x = np.concatenate([np.zeros(int(lead_s * rate), np.float32), x, np.zeros(int(tail_s * rate), np.float32)])
    with wave.open(str(dst), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.fixture(scope="module")
def mic_wav(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mic") / "mic.wav"
    write_mic_wav(shared / "data" / CLIP, path)
    return path


@pytest.fixture(scope="module")
def browser(mic_wav: Path) -> Iterator[object]:
    executable = chromium_path()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    args = [
        # as root in a container Chromium's sandbox cannot start; nothing untrusted is loaded
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",
        # a microphone with no permission prompt, fed from the recording; %noloop: played once
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic_wav}%noloop",
    ]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.problems = problems
    yield pg
    context.close()


def wait_for(pg, expression: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until ``expression`` (about window.turnscribeDemo as ``d``) holds; say what the page had."""
    try:
        pg.wait_for_function(f"() => {{ const d = window.turnscribeDemo; return !!d && ({expression}); }}",
                             timeout=timeout_ms)
    except Exception as exc:
        state = pg.evaluate("() => { const d = window.turnscribeDemo || {}; return {state: d.state, "
                            "errors: d.errors, events: d.events, messages: d.messages, close: d.close}; }")
        raise AssertionError(f"page never reached {expression!r}: {state}; {pg.problems}") from exc


def demo(pg) -> dict:
    return pg.evaluate("() => { const d = window.turnscribeDemo; return {state: d.state, subprotocol: "
                       "d.subprotocol, events: d.events, finishedTurns: d.finishedTurns, messages: "
                       "d.messages, errors: d.errors, close: d.close, points: d.timeline.points.length, "
                       "thresholds: d.timeline.thresholds, "
                       "words: [...d.timeline.words.values()].flat().map(w => w.word)}; }")


@pytest.mark.model
def test_microphone_to_transcript_with_real_models(page, real_server, shared) -> None:
    """The fake microphone plays the recording; the page shows its words as a finished turn and
    an EndOfTurn on the timeline."""
    page.goto(real_server.http + "/")
    page.check("#eager-on")  # eager mode: the timeline gets EagerEndOfTurn markers and both thresholds
    page.click("#mic-start")
    wait_for(page, "d.finishedTurns.length >= 1")
    page.click("#stop")  # the fake capture would go on (silence); one turn is the test
    wait_for(page, "d.state === 'closed'", 20_000)
    page.wait_for_timeout(300)  # the last timeline frame is drawn on the next animation frame
    shot = artifacts_dir() / "demo_page.png"
    page.screenshot(path=str(shot), full_page=True)

    d = demo(page)
    assert d["close"]["code"] in (1000, 1005) and not d["errors"], d
    kinds = [e["event"] for e in d["events"]]
    assert "StartOfTurn" in kinds and "EndOfTurn" in kinds, kinds
    assert kinds.index("StartOfTurn") < kinds.index("EndOfTurn")
    assert d["points"] > 10 and d["thresholds"][0]["eot"] == 0.7 and d["thresholds"][0]["eager"] == 0.5
    assert len(d["words"]) >= 5  # the words drawn along the timeline

    # what a person sees: the reference's words in the finished turn
    ref = words(reference(shared, CLIP))
    shown = page.inner_text("#turns")
    got = set(words(shown))
    missing = [w for w in ref if w not in got]
    assert len(missing) <= len(ref) // 5, f"reference {ref}; page shows {shown!r}"
    assert "ended by" in shown and page.inner_text("#status").startswith("closed")
    assert d["subprotocol"] is None  # an open server: no key, no subprotocol
    assert not page.problems, page.problems


@pytest.mark.model
def test_file_picker_with_real_models(page, real_server, shared, tmp_path) -> None:
    """A 44.1 kHz stereo copy of the recording through the file picker: the browser decodes,
    down-mixes and resamples it, streams it at real time, and the words come back."""
    import soxr

    with wave.open(str(shared / "data" / CLIP)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
    y = soxr.resample(x, rate, 44100)
    stereo = np.stack([y, y], axis=1)
    path = tmp_path / "clip-44k-stereo.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes((np.clip(stereo, -1, 1) * 32767).astype("<i2").tobytes())

    page.goto(real_server.http + "/")
    page.set_input_files("#file", str(path))
    wait_for(page, "d.state === 'closed'")  # the page closes the stream once the turn has ended
    page.wait_for_timeout(300)
    page.screenshot(path=str(artifacts_dir() / "demo_page_file.png"), full_page=True)
    d = demo(page)
    assert [t["trigger"] for t in d["finishedTurns"]] and not d["errors"], d
    ref = words(reference(shared, CLIP))
    got = set(words(page.inner_text("#turns")))
    assert len([w for w in ref if w not in got]) <= len(ref) // 5, (ref, page.inner_text("#turns"))


@pytest.fixture(scope="module")
def keyed_server() -> Iterator[RunningServer]:
    srv = make_server(api_keys=frozenset({KEY}))
    yield srv
    srv.stop()


def test_file_picker_with_key_and_live_configure(keyed_server, page, shared) -> None:
    """Keyed server (fake engines): the page sends the key as the ``token`` subprotocol, streams a
    WAV picked in the file input at real time, sends control changes as Configure, and closes the
    stream itself once the file is out."""
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.goto(keyed_server.http + "/")
    page.fill("#api-key", KEY)
    page.set_input_files("#file", str(shared / "data" / CLIP))
    wait_for(page, "d.state === 'open'", 20_000)
    # live controls: a threshold (a slider's change event) and the keyterms (Enter in the field)
    page.evaluate("() => { const e = document.getElementById('eot'); e.value = '0.8';"
                  " e.dispatchEvent(new Event('change')); }")
    page.fill("#keyterms", "Deepgram, pound key")
    page.press("#keyterms", "Enter")
    wait_for(page, "d.messages.filter(m => m.type === 'ConfigureSuccess').length >= 2")
    wait_for(page, "d.events.some(e => e.event === 'StartOfTurn')")
    wait_for(page, "d.state === 'closed'")  # the file ran out: the page sent CloseStream itself

    d = demo(page)
    assert d["subprotocol"] == "token" and d["close"]["code"] in (1000, 1005) and not d["errors"], d
    assert sockets and all(KEY not in url for url in sockets)  # the key is never in the URL
    done = [m for m in d["messages"] if m["type"] == "ConfigureSuccess"]
    assert done[0]["thresholds"]["eot_threshold"] == 0.8 and done[-1]["keyterms"] == ["Deepgram", "pound key"]
    assert d["thresholds"][-1]["eot"] == 0.8  # the timeline's threshold line moved with it
    assert "eot 0.8" in page.inner_text("#config") and "pound key" in page.inner_text("#config")
    # the fake ASR reads its script onto the loud stretches of the recording
    shown = page.inner_text("#turns") + " " + page.inner_text("#current")
    assert "hello" in shown.lower(), shown
    assert page.inner_text("#status").startswith("closed")
    assert not page.problems, page.problems


def test_a_wrong_key_shows_the_servers_refusal(keyed_server, page, shared) -> None:
    page.goto(keyed_server.http + "/")
    page.fill("#api-key", "not-the-key")
    page.set_input_files("#file", str(shared / "data" / CLIP))
    wait_for(page, "d.state === 'error'", 20_000)
    status = page.inner_text("#status")
    assert "401" in status and "Invalid credentials" in status, status
    assert not page.is_disabled("#mic-start")  # ready for another try


def test_an_origin_the_server_does_not_allow_is_explained(page, shared) -> None:
    srv = make_server(allowed_origins=frozenset({"https://app.example"}))
    try:
        page.goto(srv.http + "/")
        page.set_input_files("#file", str(shared / "data" / CLIP))
        wait_for(page, "d.state === 'error'", 20_000)
        assert "--allowed-origin" in page.inner_text("#status")
    finally:
        srv.stop()
