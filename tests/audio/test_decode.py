"""turnscribe.audio: raw encodings, containers, chunking invariance and bad input (flux-protocol §2.3)."""

from __future__ import annotations

import contextlib
import csv
import io
import random
import struct
import wave

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnscribe.audio import ENCODINGS, SAMPLE_RATES, TARGET_RATE, AudioDecoder, make_decoder
from turnscribe.audio.g711 import ALAW_TO_INT16, ULAW_TO_INT16
from turnscribe.errors import AudioFormatError

pytestmark = pytest.mark.spec("2.3")

# ----------------------------------------------------------------------------------- helpers


def sine(rate: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def to_i16(x: np.ndarray) -> np.ndarray:
    return np.round(x * 32767).astype("<i2")


def ulaw_encode(x: np.ndarray) -> np.ndarray:
    """Sun g711.c linear2ulaw, vectorised."""
    v = x.astype(np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    seg = np.searchsorted([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], v)
    uval = np.where(seg >= 8, 0x7F, (seg << 4) | ((v >> (seg + 1)) & 0xF))
    return (uval ^ mask).astype(np.uint8)


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """Sun g711.c linear2alaw, vectorised."""
    v = x.astype(np.int32) >> 3
    neg = v < 0
    mask = np.where(neg, 0x55, 0xD5)
    v = np.where(neg, -v - 1, v)
    seg = np.searchsorted([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF], v)
    aval = (seg << 4) | np.where(seg < 2, (v >> 1) & 0xF, (v >> np.maximum(seg, 1)) & 0xF)
    aval = np.where(seg >= 8, 0x7F, aval)
    return (aval ^ mask).astype(np.uint8)


def encode_raw(encoding: str, x: np.ndarray) -> bytes:
    if encoding == "linear16":
        return to_i16(x).tobytes()
    if encoding == "linear32":
        return np.round(x * 2147483647).astype("<i4").tobytes()
    if encoding == "mulaw":
        return ulaw_encode(to_i16(x)).tobytes()
    if encoding == "alaw":
        return alaw_encode(to_i16(x)).tobytes()
    raise AssertionError(encoding)


def decode(dec: AudioDecoder, data: bytes | list[bytes]) -> np.ndarray:
    chunks = [data] if isinstance(data, bytes) else data
    out = [dec.feed(c) for c in chunks] + [dec.flush()]
    for o in out:
        assert o.dtype == np.float32 and o.ndim == 1
    return np.concatenate(out)


def random_splits(data: bytes, seed: int, max_len: int = 700) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(data):
        n = rng.randint(1, max_len)
        out.append(data[pos:pos + n])
        pos += n
    return out


def dominant_freq(y: np.ndarray, rate: int = TARGET_RATE) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spec) * rate / len(y))


def opus_packets(x: np.ndarray, channels: int = 1, vbr: bool = True) -> tuple[list[bytes], bytes]:
    """Encode a 48 kHz signal (same in every channel) with libopus; (packets, OpusHead)."""
    layout = "stereo" if channels == 2 else "mono"
    ctx = av.CodecContext.create("libopus", "w")
    ctx.sample_rate, ctx.layout, ctx.format, ctx.bit_rate = 48000, layout, "flt", 64000
    if not vbr:
        ctx.options = {"vbr": "off"}
    ctx.open()
    inter = np.repeat(x.astype(np.float32)[:, None], channels, axis=1).reshape(1, -1)
    packets: list[bytes] = []
    for i in range(0, len(x) - 959, 960):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(inter[:, i * channels:(i + 960) * channels]),
                                           format="flt", layout=layout)
        frame.sample_rate, frame.pts = 48000, i
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    assert ctx.extradata is not None  # the OpusHead
    return packets, bytes(ctx.extradata)


def wav_bytes(payload: bytes, tag: int, channels: int, rate: int, bits: int, *, riff_size: int | None = None,
              data_size: int | None = None, extra: bytes = b"", extensible: bool = False) -> bytes:
    align = channels * bits // 8
    if extensible:
        guid = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate, rate * align, align, bits, 22, bits, 0) + guid
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra
    body += b"data" + struct.pack("<I", len(payload) if data_size is None else data_size) + payload
    return b"RIFF" + struct.pack("<I", len(body) if riff_size is None else riff_size) + body


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        table.append(r & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def ogg_page(serial: int, seq: int, flags: int, granule: int, body_segments: list[int], body: bytes) -> bytes:
    header = b"OggS" + struct.pack("<BBqIII", 0, flags, granule, serial, seq, 0) + bytes([len(body_segments)])
    page = bytearray(header + bytes(body_segments) + body)
    crc = 0
    for b in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ b]
    page[22:26] = struct.pack("<I", crc)
    return bytes(page)


def ogg_stream(packets: list[bytes], serial: int = 7, max_segments: int = 255) -> bytes:
    """Packets → Ogg pages (first packet alone on a BOS page), packets may span pages."""
    out, seq = [ogg_page(serial, 0, 2, 0, [len(packets[0])], packets[0])], 1
    laces: list[tuple[int, bytes]] = []
    for p in packets[1:]:
        n = len(p)
        chunks = [255] * (n // 255) + [n % 255]
        pos = 0
        for c in chunks:
            laces.append((c, p[pos:pos + c]))
            pos += c
    continued = 0
    while laces:
        page, laces = laces[:max_segments], laces[max_segments:]
        flags = continued | (4 if not laces else 0)
        out.append(ogg_page(serial, seq, flags, 0, [c for c, _ in page], b"".join(b for _, b in page)))
        continued = 1 if page[-1][0] == 255 else 0
        seq += 1
    return b"".join(out)


def ebml(eid: int, payload: bytes, unknown: bool = False) -> bytes:
    idb = eid.to_bytes((eid.bit_length() + 7) // 8, "big")
    if unknown:
        return idb + b"\x01\xff\xff\xff\xff\xff\xff\xff" + payload
    n = len(payload)
    length = next(k for k in range(1, 9) if n < (1 << (7 * k)) - 1)
    return idb + ((1 << (7 * length)) | n).to_bytes(length, "big") + payload


def block(frames: list[bytes], lacing: str, track: int = 1) -> bytes:
    head = bytes([0x80 | track]) + b"\x00\x00"
    if lacing == "none":
        assert len(frames) == 1
        return head + b"\x80" + frames[0]
    count = bytes([len(frames) - 1])
    if lacing == "xiph":
        sizes = b"".join(b"\xff" * (len(f) // 255) + bytes([len(f) % 255]) for f in frames[:-1])
        return head + b"\x82" + count + sizes + b"".join(frames)
    if lacing == "fixed":
        assert len({len(f) for f in frames}) == 1
        return head + b"\x84" + count + b"".join(frames)
    sizes = ((1 << 14) | len(frames[0])).to_bytes(2, "big") if len(frames) > 1 else b""  # 2-byte vints
    for i in range(1, len(frames) - 1):
        sizes += ((1 << 14) | (len(frames[i]) - len(frames[i - 1]) + 8191)).to_bytes(2, "big")
    return head + b"\x86" + count + sizes + b"".join(frames)


def webm_by_hand(head: bytes, blocks: list[bytes], codec: bytes = b"A_OPUS") -> bytes:
    """MediaRecorder-style WebM: unknown-size Segment and Clusters, Void, trailing Cues."""
    track = ebml(0xAE, ebml(0xD7, b"\x01") + ebml(0x83, b"\x02") + ebml(0x86, codec)
                 + ebml(0x63A2, head) + ebml(0xE1, ebml(0x9F, b"\x01")))
    body = ebml(0x1549A966, ebml(0x2AD7B1, b"\x0f\x42\x40")) + ebml(0x1654AE6B, track) + ebml(0xEC, bytes(10))
    half = len(blocks) // 2
    for part in (blocks[:half], blocks[half:]):
        inner = ebml(0xE7, b"\x00")
        for i, b in enumerate(part):
            inner += ebml(0xA0, ebml(0xA1, b)) if i % 3 == 2 else ebml(0xA3, b)
        body += ebml(0x1F43B675, inner, unknown=True)
    body += ebml(0x1C53BB6B, bytes(30))
    return ebml(0x1A45DFA3, ebml(0x4282, b"webm")) + ebml(0x18538067, body, unknown=True)


def pyav_webm(seconds: float = 1.0, layout: str = "mono") -> bytes:
    buf = io.BytesIO()
    x = sine(48000, seconds).astype(np.float32)
    nch = 2 if layout == "stereo" else 1
    with av.open(buf, "w", format="webm") as c:
        stream = c.add_stream("libopus", rate=48000, layout=layout)
        for i in range(0, len(x), 960):
            a = np.repeat(x[i:i + 960][:, None], nch, axis=1).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(a), format="flt", layout=layout)
            frame.sample_rate, frame.pts = 48000, i
            for p in stream.encode(frame):
                c.mux(p)
        for p in stream.encode(None):
            c.mux(p)
    return buf.getvalue()


def manifest(shared) -> dict[str, float]:
    with open(shared / "data" / "manifest.tsv", newline="") as f:
        return {r["path"]: float(r["duration_s"]) for r in csv.DictReader(f, delimiter="\t")}


# ----------------------------------------------------------------------------------- G.711


def test_g711_reference_values() -> None:
    assert (ULAW_TO_INT16[0x00], ULAW_TO_INT16[0x80], ULAW_TO_INT16[0xFF], ULAW_TO_INT16[0x7F]) == (
        -32124, 32124, 0, 0)
    assert (ALAW_TO_INT16[0xD5], ALAW_TO_INT16[0x55], ALAW_TO_INT16[0xAA], ALAW_TO_INT16[0x2A]) == (
        8, -8, 32256, -32256)


def test_g711_all_codes_round_trip() -> None:
    codes = np.arange(256, dtype=np.uint8)
    expected_u = codes.copy()
    expected_u[0x7F] = 0xFF  # µ-law has two zeros; the encoder picks +0
    assert np.array_equal(ulaw_encode(ULAW_TO_INT16[codes]), expected_u)
    assert np.array_equal(alaw_encode(ALAW_TO_INT16[codes]), codes)
    # decoder tables agree with the decoder itself
    d = make_decoder("mulaw", 16000)
    assert np.array_equal(decode(d, codes.tobytes()), ULAW_TO_INT16.astype(np.float32) / 32768)
    d = make_decoder("alaw", 16000)
    assert np.array_equal(decode(d, codes.tobytes()), ALAW_TO_INT16.astype(np.float32) / 32768)


# ------------------------------------------------------------------------------ raw encodings


@pytest.mark.parametrize("rate", SAMPLE_RATES)
@pytest.mark.parametrize("encoding", ["linear16", "linear32", "mulaw", "alaw"])
def test_raw_pcm_sine(encoding: str, rate: int) -> None:
    dec = make_decoder(encoding, rate)
    assert dec.input_rate == rate and dec.description == f"{encoding} @ {rate} Hz"
    y = decode(dec, encode_raw(encoding, sine(rate)))
    assert abs(len(y) - TARGET_RATE) <= 48  # ≤ 3 ms
    assert dec.input_seconds == pytest.approx(1.0)
    assert abs(dominant_freq(y) - 440) <= 2
    ref = sine(TARGET_RATE)[: len(y)]
    assert np.corrcoef(y[100:-100], ref[100:-100])[0, 1] > 0.995
    assert np.max(np.abs(y)) <= 1.0 and abs(np.max(np.abs(y[100:-100])) - 0.5) < 0.02


def test_linear16_exact_at_target_rate() -> None:
    x = np.array([0, 1, -1, 32767, -32768, 1234], dtype="<i2")
    y = decode(make_decoder("linear16", 16000), x.tobytes())
    assert np.array_equal(y, x.astype(np.float32) / 32768)


def test_linear16_odd_bytes_carry_over() -> None:
    x = np.array([1000, -2000, 3000], dtype="<i2").tobytes()
    dec = make_decoder("linear16", 16000)
    a = dec.feed(x[:3])
    assert a.tolist() == [1000 / 32768]
    b = dec.feed(x[3:5])
    assert b.tolist() == [-2000 / 32768]
    assert dec.feed(x[5:]).tolist() == [3000 / 32768]
    assert dec.input_seconds == pytest.approx(3 / 16000)


def test_empty_feed_is_a_noop() -> None:
    dec = make_decoder("linear16", 8000)
    dec.feed(b"\x01")
    out = dec.feed(b"")
    assert out.shape == (0,) and out.dtype == np.float32 and dec.input_seconds == 0
    assert make_decoder(None, None).feed(b"").shape == (0,)


@pytest.mark.parametrize(("encoding", "rate"), [("linear16", 44100), ("mulaw", 8000), ("linear32", 24000)])
def test_chunking_invariance_raw(encoding: str, rate: int) -> None:
    data = encode_raw(encoding, sine(rate, 0.3))
    whole = decode(make_decoder(encoding, rate), data)
    for seed in range(3):
        assert np.allclose(decode(make_decoder(encoding, rate), random_splits(data, seed)), whole, atol=1e-6)
    short = data[: len(data) // 6]
    ref = decode(make_decoder(encoding, rate), short)
    ones = decode(make_decoder(encoding, rate), [short[i:i + 1] for i in range(len(short))])
    assert np.allclose(ones, ref, atol=1e-6)


@pytest.mark.parametrize("channels", [1, 2])
def test_raw_opus_packets(channels: int) -> None:
    packets, _ = opus_packets(sine(48000), channels)
    dec = make_decoder("opus", 16000)
    y = decode(dec, packets)
    assert dec.input_rate == 48000 and dec.description == "opus @ 48000 Hz"
    assert abs(len(y) - TARGET_RATE) < 1000  # encoder lookahead + final padding packet
    assert abs(dominant_freq(y) - 440) <= 2
    assert 0.4 < np.max(np.abs(y[2000:-2000])) < 0.6  # stereo is averaged, not summed


def test_bad_arguments() -> None:
    with pytest.raises(AudioFormatError):
        make_decoder("mp3", 16000)
    with pytest.raises(AudioFormatError):
        make_decoder("linear16", None)
    with pytest.raises(AudioFormatError):
        make_decoder("linear16", 0)
    assert set(ENCODINGS) == {"linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus"}


# ------------------------------------------------------------------------------------- WAV


def test_wav_mulaw_matches_raw_linear16(shared) -> None:
    files = sorted((shared / "data" / "telephony").glob("*_8k_mulaw.wav"))[:3]
    assert files
    for path in files:
        dec = make_decoder(None, 16000)
        data = path.read_bytes()
        y = decode(dec, random_splits(data, 1))
        assert dec.description == "WAV mulaw @ 8000 Hz" and dec.input_rate == 8000
        raw = path.with_name(path.name.replace("_mulaw.wav", "_s16le.raw")).read_bytes()
        ref = decode(make_decoder("linear16", 8000), raw)
        assert len(y) == len(ref)
        assert np.corrcoef(y, ref)[0, 1] > 0.99
        assert np.allclose(decode(make_decoder(None, None), data), y, atol=1e-6)


def test_wav_48k_and_manifest_duration(shared) -> None:
    durations = manifest(shared)
    for path in sorted((shared / "data" / "telephony").glob("*_48k.wav"))[:3]:
        dec = make_decoder(None, None)
        y = decode(dec, random_splits(path.read_bytes(), 2, 5000))
        assert dec.description == "WAV linear16 @ 48000 Hz"
        expected = durations[f"telephony/{path.name}"]
        assert abs(dec.input_seconds - expected) < 0.1 and abs(len(y) / TARGET_RATE - expected) < 0.1


def test_wav_pcm16_against_stdlib_reader(shared, tmp_path) -> None:
    path = min((shared / "data" / "telephony").glob("*_48k.wav"))
    with wave.open(str(path)) as w:
        x, rate = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2"), w.getframerate()
    out = tmp_path / "mono16k.wav"
    out.write_bytes(wav_bytes(x[: rate // 2].tobytes(), 1, 1, 16000, 16))
    assert np.array_equal(decode(make_decoder(None, None), out.read_bytes()),
                          x[: rate // 2].astype(np.float32) / 32768)


@pytest.mark.parametrize("size", [0, 0xFFFFFFFF])
def test_streamed_wav_with_list_chunk(size: int) -> None:
    pcm = to_i16(sine(16000, 0.5)).tobytes()
    extra = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"  # odd size + pad byte
    data = wav_bytes(pcm, 1, 1, 16000, 16, riff_size=size, data_size=size, extra=extra)
    y = decode(make_decoder(None, None), [data[i:i + 1] for i in range(200)] + [data[200:]])
    assert np.array_equal(y, np.frombuffer(pcm, "<i2").astype(np.float32) / 32768)


def test_wav_trailing_chunk_after_sized_data() -> None:
    pcm = to_i16(sine(8000, 0.1)).tobytes()
    data = wav_bytes(pcm, 1, 1, 8000, 16) + b"LIST" + struct.pack("<I", 4) + b"abcd"
    dec = make_decoder(None, None)
    decode(dec, data)
    assert dec.input_seconds == pytest.approx(0.1)


@pytest.mark.parametrize(("tag", "bits", "extensible"), [(1, 8, False), (1, 16, True), (1, 24, False),
                                                         (1, 32, False), (3, 32, False), (3, 64, True),
                                                         (6, 8, False), (7, 8, False)])
def test_wav_formats_stereo_downmix(tag: int, bits: int, extensible: bool) -> None:
    x = sine(24000, 0.5)
    left, right = x, np.zeros_like(x)  # mono = x / 2
    inter = np.stack([left, right], axis=1).reshape(-1)
    if tag == 1 and bits == 8:
        payload = np.round(inter * 127 + 128).astype(np.uint8).tobytes()
    elif tag == 1 and bits == 24:
        v = np.round(inter * 8388607).astype("<i4").tobytes()
        payload = b"".join(v[i:i + 3] for i in range(0, len(v), 4))
    elif tag == 1:
        payload = encode_raw("linear16" if bits == 16 else "linear32", inter)
    elif tag == 3:
        payload = inter.astype("<f4" if bits == 32 else "<f8").tobytes()
    else:
        payload = encode_raw("alaw" if tag == 6 else "mulaw", inter)
    dec = make_decoder(None, None)
    y = decode(dec, random_splits(wav_bytes(payload, tag, 2, 24000, bits, extensible=extensible), 3))
    assert dec.input_rate == 24000 and "(2 ch)" in dec.description
    assert abs(len(y) - 8000) <= 24 and abs(dominant_freq(y) - 440) <= 4
    assert abs(np.max(np.abs(y[100:-100])) - 0.25) < 0.02


# ------------------------------------------------------------------------------------ Ogg/Opus


def test_ogg_opus_files_match_manifest(shared) -> None:
    durations = manifest(shared)
    files = sorted((shared / "data" / "telephony").glob("*.opus"))
    assert files
    for i, path in enumerate(files):
        data = path.read_bytes()
        dec = make_decoder(None, None)
        y = decode(dec, random_splits(data, i, 3000))
        assert dec.description == "Ogg/Opus @ 48000 Hz" and dec.input_rate == 48000
        expected = durations[f"telephony/{path.name}"]
        assert abs(dec.input_seconds - expected) < 0.1, path.name
        assert abs(len(y) / TARGET_RATE - expected) < 0.1
        declared = make_decoder("ogg-opus", 48000)
        assert declared.input_rate == 48000
        assert np.allclose(decode(declared, data), y, atol=1e-6)


def test_ogg_opus_matches_wav_content(shared) -> None:
    path = min((shared / "data" / "telephony").glob("*.opus"))
    wav = path.with_name(path.stem + "_48k.wav")
    y = decode(make_decoder(None, None), path.read_bytes())
    ref = decode(make_decoder(None, None), wav.read_bytes())
    n = min(len(y), len(ref))
    assert np.corrcoef(y[:n], ref[:n])[0, 1] > 0.9


def test_ogg_one_byte_feeds(shared) -> None:
    data = min((shared / "data" / "telephony").glob("*.opus")).read_bytes()[:12000]
    ref = decode(make_decoder("ogg-opus", None), data)
    assert len(ref) > 0
    ones = decode(make_decoder("ogg-opus", None), [data[i:i + 1] for i in range(len(data))])
    assert np.allclose(ones, ref, atol=1e-6)


def test_ogg_packets_spanning_pages() -> None:
    packets, head = opus_packets(sine(48000, 0.5))
    tags = b"OpusTags" + bytes(70000)  # spans two pages
    stream = ogg_stream([head, tags, *packets], max_segments=40)
    y = decode(make_decoder(None, None), random_splits(stream, 5, 4000))
    ref = decode(make_decoder("opus", None), packets)
    pre_skip = struct.unpack_from("<H", head, 10)[0] // 3
    assert abs(len(y) - (len(ref) - pre_skip)) <= 2
    assert np.corrcoef(y[500:-500], ref[pre_skip + 500:pre_skip + len(y) - 500])[0, 1] > 0.999


# ---------------------------------------------------------------------------------- WebM/Opus


@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_pyav_webm(layout: str) -> None:
    data = pyav_webm(1.0, layout)
    dec = make_decoder(None, 8000)
    y = decode(dec, random_splits(data, 4, 500))
    assert dec.description == "WebM/Opus @ 48000 Hz" and dec.input_rate == 48000
    assert abs(dec.input_seconds - 1.0) < 0.03
    assert abs(dominant_freq(y) - 440) <= 2
    assert 0.4 < np.max(np.abs(y[2000:-2000])) < 0.6
    ones = decode(make_decoder(None, None), [data[i:i + 1] for i in range(len(data))])
    assert np.allclose(ones, y, atol=1e-6)


@pytest.mark.parametrize("lacing", ["none", "xiph", "ebml", "fixed"])
def test_mediarecorder_style_webm_lacing(lacing: str) -> None:
    packets, head = opus_packets(sine(48000, 0.62), vbr=lacing != "fixed")  # 32 packets: a 2-frame lace
    if lacing == "fixed":
        size = max(set(map(len, packets)), key=[len(p) for p in packets].count)
        packets = [p for p in packets if len(p) == size]
    if lacing == "none":
        blocks = [block([p], "none") for p in packets]
    else:
        blocks = [block(packets[i:i + 3], lacing) for i in range(0, len(packets), 3)]
        blocks += [block([b"\xf8\xff\xfe"], "none", track=2)]  # another track's block: ignored
    data = webm_by_hand(head, blocks)
    y = decode(make_decoder(None, None), random_splits(data, 6, 300))
    ref = decode(make_decoder("opus", None), packets)
    pre_skip = struct.unpack_from("<H", head, 10)[0] // 3
    assert abs(len(y) - (len(ref) - pre_skip)) <= 2
    n = min(len(y), len(ref) - pre_skip)
    assert np.allclose(y[300:n - 300], ref[pre_skip + 300:pre_skip + n - 300], atol=2e-3)


# ---------------------------------------------------------------------------------- bad input


def feed_all(dec: AudioDecoder, data: bytes) -> None:
    dec.feed(data)
    dec.flush()


@pytest.mark.parametrize("junk", [b"hello world!", b"ID3\x04\x00\x00\x00", b"\xff\xfb\x90\x00",
                                  b"RIFF\x10\x00\x00\x00AVI LIST", b"fLaC\x00\x00\x00\x22"])
def test_unrecognised_container(junk: bytes) -> None:
    dec = make_decoder(None, None)
    with pytest.raises(AudioFormatError):
        feed_all(dec, junk)
    with pytest.raises(AudioFormatError):  # stays unusable
        dec.feed(b"RIFF")


def test_detection_waits_for_enough_bytes() -> None:
    dec = make_decoder(None, None)
    assert dec.feed(b"RIF").size == 0 and dec.feed(b"F\x00\x00\x00\x00").size == 0
    assert dec.description == "container (detecting)" and dec.input_rate is None
    with pytest.raises(AudioFormatError, match="AVI"):
        dec.feed(b"AVI ")


def test_wav_mp3_format_tag() -> None:
    with pytest.raises(AudioFormatError, match="0x0055"):
        feed_all(make_decoder(None, None), wav_bytes(b"\x00" * 100, 0x55, 1, 16000, 16))


def test_wav_data_before_fmt() -> None:
    with pytest.raises(AudioFormatError):
        feed_all(make_decoder(None, None), b"RIFF\x00\x00\x00\x00WAVEdata\x04\x00\x00\x00abcd")


@pytest.mark.parametrize("first", [b"\x01vorbis" + bytes(23), b"\x7fFLAC\x01\x00" + bytes(40)])
def test_ogg_not_opus(first: bytes) -> None:
    stream = ogg_page(3, 0, 2, 0, [len(first)], first) + ogg_page(3, 1, 0, 0, [4], b"abcd")
    with pytest.raises(AudioFormatError, match="not Opus"):
        feed_all(make_decoder(None, None), stream)


def test_ogg_corrupt_capture_pattern_and_crc(shared) -> None:
    data = bytearray(min((shared / "data" / "telephony").glob("*.opus")).read_bytes())
    second = data.index(b"OggS", 4)
    bad = bytearray(data)
    bad[second:second + 4] = b"OggX"
    with pytest.raises(AudioFormatError, match="OggS"):
        feed_all(make_decoder(None, None), bytes(bad))
    bad = bytearray(data)
    bad[-10] ^= 0x55
    with pytest.raises(AudioFormatError, match="CRC"):
        feed_all(make_decoder("ogg-opus", None), bytes(bad))


def test_webm_not_opus() -> None:
    data = webm_by_hand(b"", [block([b"\x00" * 10], "none")], codec=b"A_VORBIS")
    with pytest.raises(AudioFormatError, match="A_VORBIS"):
        feed_all(make_decoder(None, None), data)


def test_webm_oversized_block() -> None:
    packets, head = opus_packets(sine(48000, 0.1))
    big = b"\xa3" + ((1 << 28) | (2 << 20)).to_bytes(4, "big")
    # another track's 2 MiB block is skipped without buffering; the Opus track's blocks still decode
    data = webm_by_hand(head, [block([p], "none") for p in packets])
    other = ebml(0x1F43B675, b"", unknown=True) + big + b"\x82" + bytes((2 << 20) - 1)
    dec = make_decoder(None, None)
    assert len(decode(dec, [data, other[:1000], other[1000:]])) > 1000
    with pytest.raises(AudioFormatError, match="exceeds"):
        feed_all(make_decoder(None, None), data + big + b"\x81\x00\x00")


def test_webm_bad_vint() -> None:
    with pytest.raises(AudioFormatError):
        feed_all(make_decoder(None, None), b"\x1a\x45\xdf\xa3\x00\x00\x00")


def test_garbage_opus_packet() -> None:
    dec = make_decoder("opus", None)
    rng = np.random.default_rng(0)
    try:
        for _ in range(20):
            out = dec.feed(rng.integers(0, 256, 200, dtype=np.uint8).tobytes())
            assert out.dtype == np.float32
    except AudioFormatError:
        pass


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from([b"", b"RIFF\x00\x00\x00\x00WAVE", b"OggS", b"\x1a\x45\xdf\xa3"]),
       body=st.binary(max_size=400), encoding=st.sampled_from([None, "opus", "ogg-opus", "linear16"]))
def test_fuzz_only_audio_format_errors(prefix: bytes, body: bytes, encoding: str | None) -> None:
    dec = make_decoder(encoding, 16000)
    try:
        dec.feed(prefix + body)
        dec.flush()
    except AudioFormatError:
        pass


@settings(max_examples=40, deadline=None)
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=4))
def test_fuzz_mutated_webm(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_WEBM)
    for where, xor in flips:
        data[where % len(data)] ^= xor
    with contextlib.suppress(AudioFormatError):
        decode(make_decoder(None, None), random_splits(bytes(data), flips[0][0], 200))


_WEBM = pyav_webm(0.2)


def test_wav_header_then_raw_samples_beyond_the_declared_size():
    """Clients stream a WAV header sized for the first clip, then keep sending raw PCM."""
    pcm = (np.sin(np.arange(16000) * 0.05) * 8000).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(pcm)
    data = buf.getvalue() + b"\x00\x00" * 8000  # 0.5 s more, after the data chunk
    dec = make_decoder(None, None)
    out = np.concatenate([dec.feed(data[i:i + 1001]) for i in range(0, len(data), 1001)] + [dec.flush()])
    assert len(out) == 24000
    assert dec.input_seconds == pytest.approx(1.5)
