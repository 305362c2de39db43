"""redact_usage (flux-protocol.md §2.1, §7.2): keyterms and tags never reach the server's logs
(DEBUG included), /metrics or usage records; the wire is unchanged. Real socket, real WAV."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
import weakref
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
import websockets
from servertools import RunningServer, free_port, make_server, stream
from websockets.exceptions import InvalidStatus
from websockets.frames import Frame, Opcode

from turnscribe.engines.fake import EnergyVad, ScriptedAsr, ScriptedTurn
from turnscribe.server.config import Settings
from turnscribe.server.records import usage_record
from turnscribe.server.redaction import (
    RedactingFilter,
    exception_summary,
    frame_asks_redaction,
    query_asks_redaction,
    redact_query,
    redact_target,
    target_asks_redaction,
)
from turnscribe.types.engine import Engines
from turnscribe.wire.params import REDACTED, ListenParams

TERM = "Zyxwvut Qwerty"   # sentinels: words no log line, metric or transcript would hold otherwise
TAG = "plmokn-tag-8841"
SECRETS = ("zyxwvut", "qwerty", "plmokn")
WAV = "data/wer/clean/an4_cen8-fbbh-b.wav"  # 2.8 s of speech, 16 kHz PCM16, under ../shared


def listen(**params: str | list[str]) -> str:
    """A /v2/listen path; the WAV is sent as is (containerised: no encoding, no sample_rate)."""
    return "/v2/listen?" + urlencode({"model": "flux-general-en", **params}, doseq=True)


def configure(**fields: object) -> str:
    return json.dumps({"type": "Configure", **fields})


def leaks(text: str) -> list[str]:
    low = text.lower()
    return [s for s in SECRETS if s in low]


@pytest.fixture(scope="module")
def wav(shared) -> bytes:
    path = shared / WAV
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return path.read_bytes()


def run_stream(server: RunningServer, path: str, audio: bytes, messages: tuple[str, ...] = ()):
    msgs, code, _ = asyncio.run(stream(server.url + path, audio, messages))
    assert code == 1000, msgs[-3:]
    return msgs


def scrape(server: RunningServer) -> str:
    with urllib.request.urlopen(server.http + "/metrics", timeout=5) as r:
        return r.read().decode()


def last_transcript(msgs: list[dict]) -> str:
    """The transcript of the last TurnInfo: the whole clip, once CloseStream flushed it."""
    return [m["transcript"] for m in msgs if m["type"] == "TurnInfo"][-1]


# -------------------------------------------------------------------------- over a real socket


def test_redacted_stream_keeps_keyterms_and_tags_out_of_logs_and_metrics(server, logs, wav):
    msgs = run_stream(server, listen(keyterm=TERM, tag=TAG, redact_usage="true"), wav)
    rid = msgs[0]["request_id"]
    assert last_transcript(msgs), "the WAV is transcribed as usual"
    usage = logs.usage(rid)
    assert usage["keyterms"] == [REDACTED] and usage["tags"] == [REDACTED] and usage["redact_usage"]
    assert usage["audio_seconds"] > 2.0
    assert "< GET /v2/listen?" in logs.text, "the library's DEBUG lines were captured (and redacted)"
    assert "BINARY [REDACTED]" in logs.text
    assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]
    assert not leaks(scrape(server))


def test_unredacted_stream_works_as_before_and_logs_in_clear(server, logs, wav):
    plain = run_stream(server, listen(keyterm=TERM, tag=TAG), wav)
    redacted = run_stream(server, listen(keyterm=TERM, tag=TAG, redact_usage="true"), wav)
    assert last_transcript(plain) == last_transcript(redacted) != "", "redaction never touches the transcript"
    usage = logs.usage(plain[0]["request_id"])
    assert usage["keyterms"] == [TERM] and usage["tags"] == [TAG] and not usage["redact_usage"]
    assert "keyterm=Zyxwvut+Qwerty" in logs.text, "without redaction the DEBUG request line is as it was"


def test_configure_turning_redaction_on_keeps_its_keyterms_out(server, logs, wav):
    msgs = run_stream(server, listen(), wav, (configure(redact_usage=True, keyterms=[TERM]),))
    ok = [m for m in msgs if m["type"] == "ConfigureSuccess"]
    assert ok and ok[0]["keyterms"] == [TERM] and ok[0]["redact_usage"], "the wire echoes them unchanged"
    assert logs.usage(msgs[0]["request_id"])["keyterms"] == [REDACTED]
    assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]
    assert not leaks(scrape(server))


def test_configure_right_after_redaction_was_asked_is_redacted(server, logs, wav):
    """The library logs the second frame as it arrives, before the session applied the first."""
    msgs = run_stream(server, listen(), wav, (configure(redact_usage=True), configure(keyterms=[TERM])))
    assert [m["type"] for m in msgs].count("ConfigureSuccess") == 2
    assert logs.usage(msgs[0]["request_id"])["keyterms"] == [REDACTED]
    assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]


def test_redaction_switched_off_mid_stream_stays_on_in_logs(server, logs, wav):
    msgs = run_stream(server, listen(keyterm=TERM, redact_usage="true"), wav,
                      (configure(keyterms=[TERM, "kiwi"]), configure(redact_usage=False)))
    ok = [m for m in msgs if m["type"] == "ConfigureSuccess"]
    assert not ok[-1]["redact_usage"], "switching off takes effect on the wire"
    assert logs.usage(msgs[0]["request_id"])["keyterms"] == [REDACTED, REDACTED]
    assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]


def test_configure_saying_false_leaves_an_unredacted_stream_alone(server, logs, wav):
    msgs = run_stream(server, listen(tag=TAG), wav, (configure(redact_usage=False, keyterms=[TERM]),))
    assert logs.usage(msgs[0]["request_id"])["keyterms"] == [TERM]
    assert '"redact_usage": false' in logs.text, "the Configure frame's DEBUG preview is as it was"
    assert REDACTED not in logs.text


def test_refused_handshake_logs_no_client_text(server, logs):
    path = listen(model="flux-general-multi", language_hint=TERM, keyterm=TERM, redact_usage="true")

    async def go():
        with pytest.raises(InvalidStatus) as e:
            await websockets.connect(server.url + path)
        return e.value.response

    response = asyncio.run(go())
    assert response.status_code == 400
    assert TERM in response.headers["dg-error"], "the client still learns what was wrong"
    assert "refused handshake" in logs.text and "reason redacted" in logs.text
    assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]


def test_unparseable_redact_usage_is_taken_as_on(server, logs):
    async def go():
        with pytest.raises(InvalidStatus) as e:
            await websockets.connect(server.url + "/v2/listen?model=flux-general-en&redact_usage"
                                     "&keyterm=Zyxwvut")
        return e.value.response.status_code

    assert asyncio.run(go()) == 400
    assert not leaks(logs.text)


class LeakyAsr(ScriptedAsr):
    """An engine whose failure quotes the stream's keyterms, as a real one might quote its prompt."""

    def transcribe(self, batch):
        raise RuntimeError(f"cannot bias towards {[r.keyterms for r in batch]}")


def test_engine_failure_traceback_leaves_its_message_out(logs, wav):
    engines = Engines(vad=EnergyVad(), asr=LeakyAsr(), turn=ScriptedTurn(),
                      names={"vad": "energy", "asr": "leaky", "turn": "scripted"})
    srv = RunningServer(Settings(port=free_port()), engines=engines)
    # the WAV in one frame: a stream that fails while the client still sends many frames can take
    # the library's 10 s close timeout to close (the server stops reading them), which is not tested here
    try:
        msgs, code, _ = asyncio.run(stream(srv.url + listen(keyterm=TERM, redact_usage="true"), wav,
                                           chunk=len(wav)))
        assert code == 1011 and msgs[-1]["code"] == "INTERNAL_SERVER_ERROR"
        logs.usage(msgs[0]["request_id"])
        assert "engine failure" in logs.text and "builtins.RuntimeError: [REDACTED]" in logs.text
        assert "in transcribe" in logs.text, "the traceback's frames stay"
        assert not leaks(logs.text), [line for line in logs.lines if leaks(line)][:3]
        plain, _, _ = asyncio.run(stream(srv.url + listen(keyterm=TERM), wav, chunk=len(wav)))
        logs.usage(plain[0]["request_id"])
        assert "cannot bias towards" in logs.text, "without redaction the message is logged as before"
    finally:
        srv.stop()


# -------------------------------------------------------------------------- the helpers


@pytest.mark.parametrize("query, expected", [
    ("model=flux-general-en&keyterm=x", False),
    ("redact_usage=false", False),
    ("redact_usage=FALSE&keyterm=x", False),
    ("redact_usage=true", True),
    ("redact_usage=True", True),
    ("redact%5Fusage=true", True),         # a percent-encoded name is the same parameter
    ("redact_usage=yes", True),            # a bad value (refused with 400): still redacted
    ("redact_usage=", True),
    ("redact_usage", True),                # no "=": unparseable, so redacted
    ("redact_usage=false&redact_usage=true", True),
    ("keyterm=a&redact_usage+=true", True),  # a mangled name
])
def test_query_asks_redaction(query, expected):
    assert query_asks_redaction(query) is expected


def test_target_asks_redaction():
    assert target_asks_redaction("/v2/listen?model=flux-general-en&redact_usage=true")
    assert not target_asks_redaction("/v2/listen?model=flux-general-en&keyterm=redact")
    assert target_asks_redaction("/v2/listen/redact_usage=true")  # no query at all: still a mention
    assert not target_asks_redaction("/healthz")


def test_redact_query_keeps_only_the_protocols_own_values():
    q = ("model=flux-general-en&keyterm=Jane+Doe&tag=p42&eot_threshold=0.8&sample_rate=16000"
         "&language_hint=pt-BR&redact_usage=true&Zyxwvut=1&encoding=Qwerty")
    assert redact_query(q) == ("model=flux-general-en&keyterm=[REDACTED]&tag=[REDACTED]&eot_threshold=0.8"
                               "&sample_rate=16000&language_hint=pt-BR&redact_usage=true"
                               "&[REDACTED]=[REDACTED]&encoding=[REDACTED]")
    assert redact_target("/v2/listen?keyterm=a") == "/v2/listen?keyterm=[REDACTED]"
    assert redact_target("/v2/listen") == "/v2/listen"


@pytest.mark.parametrize("text, expected", [
    (configure(redact_usage=True, keyterms=["a"]), True),
    (configure(redact_usage=False, keyterms=["a"]), False),
    (configure(redact_usage=None), False),                  # null = not supplied
    (configure(keyterms=["redact_usage"]), False),           # a keyterm that reads like it is no switch
    (configure(redact_usage="true"), True),                  # fatal schema error, but never logged
    ('{"type": "Configure", "redact_usage": true, "redact_usage": false}', True),
    ('{"type": "Configure", "redact\\u005fusage": true}', True),  # JSON escapes are decoded
    ('{"type": "Configure", "redact_usage": tru', True),     # not JSON: any mention counts
    ('["redact_usage"]', True),
    ('{"type": "KeepAlive"}', False),
    ("not json", False),
])
def test_frame_asks_redaction(text, expected):
    assert frame_asks_redaction(text) is expected


def test_exception_summary_keeps_types_and_frames_not_messages():
    first, second = TERM.split()  # by name: the traceback shows source lines, which must not hold them

    def inner():
        raise KeyError(first)

    try:
        try:
            inner()
        except KeyError as cause:
            raise ValueError(second) from cause
    except ValueError as exc:
        summary = exception_summary(exc)
    assert "builtins.ValueError: [REDACTED]" in summary and "builtins.KeyError: [REDACTED]" in summary
    assert "in inner" in summary and not leaks(summary)


def test_usage_record():
    p = ListenParams(keyterms=(TERM, "kiwi"), tags=(TAG,))
    assert json.loads(usage_record("r1", p, 1.23456, redact=False)) == {
        "request_id": "r1", "model": "flux-general-en", "audio_seconds": 1.235,
        "keyterms": [TERM, "kiwi"], "tags": [TAG], "redact_usage": False}
    doc = json.loads(usage_record("r1", p, 1.0, redact=True))
    assert doc["keyterms"] == [REDACTED, REDACTED] and doc["tags"] == [REDACTED] and doc["redact_usage"]


def _record(msg: str, *args: object, conn: object = None,
            exc: BaseException | None = None) -> logging.LogRecord:
    r = logging.LogRecord("turnscribe.websockets", logging.DEBUG, __file__, 1, msg, args,
                          (type(exc), exc, exc.__traceback__) if exc else None)
    if conn is not None:
        r.websocket = conn
    return r


def test_filter_marks_the_connection_at_the_request_line_and_redacts_what_follows():
    f, conn = RedactingFilter(), SimpleNamespace(redact_logs=False)
    line = _record("< %s %s %s", "GET", f"/v2/listen?redact_usage=true&keyterm={TERM}", "HTTP/1.1", conn=conn)
    assert f.filter(line) and conn.redact_logs
    assert line.getMessage() == "< GET /v2/listen?redact_usage=true&keyterm=[REDACTED] HTTP/1.1"
    header = _record("> %s: %s", "dg-error", f"unsupported language_hint '{TERM}'", conn=conn)
    f.filter(header)
    assert header.getMessage() == "> dg-error: [REDACTED]"
    host = _record("< %s: %s", "Host", "127.0.0.1:8000", conn=conn)
    f.filter(host)
    assert host.getMessage() == "< Host: 127.0.0.1:8000"
    frame = _record("> %s", Frame(Opcode.TEXT, configure(keyterms=[TERM]).encode()), conn=conn)
    f.filter(frame)
    assert frame.getMessage().startswith("> TEXT [REDACTED] [")
    status = _record("connection rejected (%d %s)", 400, "Bad Request", conn=conn)
    f.filter(status)
    assert status.getMessage() == "connection rejected (400 Bad Request)", "the library's own words stay"
    other = _record("unheard of %s (%d)", TERM, 7, conn=conn)
    f.filter(other)
    assert other.getMessage() == "unheard of [REDACTED] (7)", "an unknown shape keeps only its numbers"


def test_filter_leaves_unredacted_connections_alone_unless_a_record_asks():
    f, conn = RedactingFilter(), SimpleNamespace(redact_logs=False)
    plain = _record("< %s", Frame(Opcode.TEXT, configure(keyterms=[TERM]).encode()), conn=conn)
    f.filter(plain)
    assert TERM in plain.getMessage() and not conn.redact_logs
    try:
        raise ValueError(f"invalid HTTP request line: GET /v2/listen?redact_usage=true&keyterm={TERM}")
    except ValueError as exc:
        bad = _record("! no valid HTTP request", conn=conn, exc=exc)
    f.filter(bad)
    assert bad.exc_info is None and conn.redact_logs and not leaks(logging.Formatter().format(bad))
    serverwide = _record("server listening on %s", "127.0.0.1:8000")  # no connection: as it was
    f.filter(serverwide)
    assert serverwide.getMessage() == "server listening on 127.0.0.1:8000"


def test_filter_redacts_when_the_connection_is_gone():
    class Conn:
        redact_logs = False

    conn = Conn()
    proxy = weakref.proxy(conn)
    del conn
    r = _record("< %s", Frame(Opcode.TEXT, b"secret"), conn=proxy)
    RedactingFilter().filter(r)
    assert "secret" not in r.getMessage()


def test_metrics_never_carry_client_text(wav):
    """A server of its own: nothing else streamed to it, so every label it shows came from here."""
    srv = make_server()
    try:
        run_stream(srv, listen(keyterm=TERM, tag=TAG), wav)
        run_stream(srv, listen(keyterm=TERM, tag=TAG, redact_usage="true"), wav,
                   (configure(keyterms=[TERM]),))
        assert not leaks(scrape(srv))
    finally:
        srv.stop()
