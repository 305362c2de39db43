"""API keys never reach a log (the WebSocket library logs every header at DEBUG), and no wire error
carries a traceback or an internal path."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from helpers import pcm16, tone
from servertools import Captured, RunningServer, free_port, make_server, stream
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from turnscribe.server.config import Settings
from turnscribe.server.redaction import scrub_credential

Q = "/v2/listen?model=flux-general-en&encoding=linear16&sample_rate=16000"
KEY = "sk-live-7f3a9c2e51d84b06"
WRONG = "sk-wrong-0c4e8a1b9d2f"


def test_keys_are_never_logged_even_at_debug(logs: Captured) -> None:
    srv = RunningServer(Settings(port=free_port(), api_keys=frozenset({KEY})))
    try:
        audio = pcm16(tone(0.5))
        for headers, protos in (({"Authorization": f"Token {KEY}"}, None), (None, ["token", KEY]),
                                ({"Authorization": f"bearer {KEY}"}, None)):
            msgs, code, _ = asyncio.run(stream(srv.url + Q, audio, headers=headers, subprotocols=protos))
            assert msgs[0]["type"] == "Connected" and code == 1000

        async def wrong() -> int:
            with pytest.raises(InvalidStatus) as e:
                await websockets.connect(srv.url + Q, additional_headers={"Authorization": f"Token {WRONG}"})
            return e.value.response.status_code

        assert asyncio.run(wrong()) == 401
    finally:
        srv.stop()
    text = logs.text
    assert "Authorization: Token [REDACTED]" in text, "the header lines were logged (DEBUG), scrubbed"
    assert KEY not in text and WRONG not in text


def test_scrub_credential_keeps_the_scheme_only() -> None:
    assert scrub_credential("Authorization", "Token abc") == "Token [REDACTED]"
    assert scrub_credential("Sec-WebSocket-Protocol", "token, abc, x-deepgram-session-id, 42") == \
        "token, [REDACTED], x-deepgram-session-id, 42"


def test_wire_errors_carry_no_traceback_or_path() -> None:
    srv = make_server()
    try:
        bodies = []
        for path in ("/v2/listen?model=nope", "/nowhere", Q + "&eot_threshold=abc"):
            async def go(p: str = path) -> bytes:
                with pytest.raises(InvalidStatus) as e:
                    await websockets.connect(srv.url + p)
                return bytes(e.value.response.body)
            bodies.append(asyncio.run(go()).decode())
        msgs, _, _ = asyncio.run(stream(srv.url + Q, b"", ["{broken"], close=False))
        bodies.append(json.dumps(msgs[-1]))
        for body in bodies:
            assert "Traceback" not in body and ".py" not in body and "/src/" not in body, body
    finally:
        srv.stop()


def test_only_allowed_browser_origins_may_open_streams() -> None:
    srv = RunningServer(Settings(port=free_port(), allowed_origins=frozenset({"https://app.example.com"})))
    try:
        async def origin(value: str) -> int:
            try:
                async with websockets.connect(srv.url + Q, origin=Origin(value)) as ws:
                    return json.loads(await ws.recv())["type"] == "Connected" and 101
            except InvalidStatus as e:
                body = json.loads(e.response.body)
                assert body["err_code"] == "FORBIDDEN" and e.response.headers["dg-error"]
                return e.response.status_code

        assert asyncio.run(origin("https://app.example.com")) == 101
        assert asyncio.run(origin("https://evil.example.net")) == 403
        msgs, code, _ = asyncio.run(stream(srv.url + Q, pcm16(tone(0.3))))  # no Origin: an SDK
        assert msgs[0]["type"] == "Connected" and code == 1000
    finally:
        srv.stop()


def test_tls_serves_wss(tmp_path) -> None:
    import ssl
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    srv = RunningServer(Settings(port=free_port(), tls_cert=cert, tls_key=key))
    try:
        client = ssl.create_default_context(cafile=str(cert))
        wss = srv.url.replace("ws://", "wss://")

        async def go() -> str:
            async with websockets.connect(wss + Q, ssl=client) as ws:
                return json.loads(await ws.recv())["type"]

        assert asyncio.run(go()) == "Connected"

        async def plain() -> None:
            async with websockets.connect(srv.url + Q, open_timeout=3):
                pass

        with pytest.raises(Exception):  # noqa: B017 - plain ws:// is not served on a TLS port
            asyncio.run(plain())
    finally:
        srv.stop()


def test_serve_refuses_a_bad_certificate(tmp_path, capsys) -> None:
    from turnscribe.cli import main

    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    with pytest.raises(SystemExit) as e:
        main(["serve", "--engine", "fake", "--tls-cert", str(bad)])
    assert e.value.code == 2 and "cannot use the TLS certificate" in capsys.readouterr().err
