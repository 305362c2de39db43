"""Incremental demuxers for the containers Flux accepts: WAV (RIFF), Ogg pages, WebM/Matroska.

They turn bytes into codec payloads and know nothing about decoding; ``decode.py`` does that.

Invariants:
- ``feed(data)`` accepts bytes split anywhere (inside a header, a page, an element) and returns
  only what is complete; the rest is buffered.
- Memory is bounded: a parser keeps at most one incomplete header/page/element plus output it has
  not returned yet. Caps: WAV ``fmt`` chunk 4 KiB, Ogg page ≤ 65,307 bytes by construction and
  packets spanning pages ≤ 1 MiB in all, Opus-track EBML blocks ≤ 1 MiB, other EBML values read
  ≤ 64 KiB (≤ 16 tracks, nesting ≤ 8). Everything else (unknown chunks, Cues, Tags, other tracks'
  blocks, ...) is skipped by counting, never buffered.
- Bad or unsupported structure raises ``AudioFormatError`` with a human-readable reason; after
  that the parser is unusable.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from turnscribe.errors import AudioFormatError

__all__ = ["OggPage", "OggParser", "OpusHead", "WavFormat", "WavParser", "WebmParser", "parse_opus_head", "sniff"]

EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def sniff(head: bytes) -> str | None:
    """'wav' | 'ogg' | 'webm' from the first bytes; None while too few; raise if unrecognised."""
    if len(head) < 4:
        return None
    if head[:4] in (b"RIFF", b"RF64"):
        if len(head) < 12:
            return None
        if head[8:12] == b"WAVE":
            return "wav"
        raise AudioFormatError(f"RIFF file of type {head[8:12]!r} is not WAVE audio")
    kind = {b"OggS": "ogg", EBML_MAGIC: "webm"}.get(head[:4])
    if kind is None:
        raise AudioFormatError(f"unrecognised audio container (first bytes {head[:4].hex(' ')}); without an "
                               "encoding parameter the audio must be WAV, Ogg/Opus or WebM/Opus")
    return kind


# --------------------------------------------------------------------------------------- WAV

_PCM_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_PCM_CODECS = {8: "pcm_u8", 16: "linear16", 24: "linear24", 32: "linear32"}


@dataclass(frozen=True)
class WavFormat:
    codec: str  # pcm_u8 | linear16 | linear24 | linear32 | float32 | float64 | mulaw | alaw
    channels: int
    sample_rate: int


def _parse_fmt(body: bytes) -> WavFormat:
    if len(body) < 16:
        raise AudioFormatError(f"WAV fmt chunk too short ({len(body)} bytes)")
    tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == 0xFFFE:
        if len(body) < 40 or body[26:40] != _PCM_GUID_TAIL:
            raise AudioFormatError("WAVE_FORMAT_EXTENSIBLE with an unknown subformat GUID")
        tag = struct.unpack_from("<H", body, 24)[0]
    if tag == 1 and bits in _PCM_CODECS:
        codec = _PCM_CODECS[bits]
    elif tag == 3 and bits in (32, 64):
        codec = f"float{bits}"
    elif tag in (6, 7) and bits == 8:
        codec = "alaw" if tag == 6 else "mulaw"
    else:
        raise AudioFormatError(f"unsupported WAV format tag 0x{tag:04X} with {bits} bits per sample "
                               "(supported: PCM 8/16/24/32-bit, float, A-law, mu-law)")
    if not (1 <= channels <= 64 and 1 <= rate <= 768_000):
        raise AudioFormatError(f"unsupported WAV layout: {channels} channels at {rate} Hz")
    return WavFormat(codec, channels, rate)


class WavParser:
    """RIFF/RF64 WAVE → sample payload bytes of the data chunk(s); ``format`` once fmt is read."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._header_done = False
        self._skip = 0  # bytes of an uninteresting chunk (or pad byte) still to drop
        self._data_left: float = 0  # payload bytes left in the data chunk; inf = until the end
        self._data_pad = 0
        self._seen_data = False
        self.format: WavFormat | None = None

    def feed(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        pos, out = 0, bytearray()
        while pos < len(buf):
            avail = len(buf) - pos
            if not self._header_done:
                if avail < 12:
                    break
                if bytes(buf[pos:pos + 4]) not in (b"RIFF", b"RF64") or buf[pos + 8:pos + 12] != b"WAVE":
                    raise AudioFormatError("not a RIFF/WAVE header")
                self._header_done, pos = True, pos + 12
            elif self._skip:
                n = min(self._skip, avail)
                self._skip, pos = self._skip - n, pos + n
            elif self._data_left:
                n = int(min(self._data_left, avail))
                out += buf[pos:pos + n]
                pos, self._data_left = pos + n, self._data_left - n
                if not self._data_left:
                    self._skip = self._data_pad
            else:
                if avail < 8:
                    break
                cid, size = bytes(buf[pos:pos + 4]), struct.unpack_from("<I", buf, pos + 4)[0]
                if self._seen_data and not all(0x20 <= b <= 0x7E for b in cid):
                    # Streaming clients send a WAV header sized for the first chunk, then keep
                    # sending raw samples: bytes after the data chunk that are not a chunk header
                    # are more samples of the same format.
                    self._data_left = float("inf")
                    continue
                if cid == b"fmt ":
                    if size > 4096:
                        raise AudioFormatError(f"WAV fmt chunk of {size} bytes")
                    if avail < 8 + size:
                        break
                    self.format = _parse_fmt(bytes(buf[pos + 8:pos + 8 + size]))
                    pos, self._skip = pos + 8 + size, size & 1
                elif cid == b"data":
                    if self.format is None:
                        raise AudioFormatError("WAV data chunk before the fmt chunk")
                    self._data_left = float("inf") if size in (0, 0xFFFFFFFF) else size
                    self._seen_data = True
                    pos, self._data_pad = pos + 8, size & 1
                else:
                    pos, self._skip = pos + 8, size + (size & 1)
        del buf[:pos]
        return bytes(out)


# --------------------------------------------------------------------------------------- Ogg

_BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))
_MAX_OGG_PACKET = 1 << 20


def ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (poly 0x04C11DB7, unreflected, init 0) via zlib on bit-reversed bytes."""
    reg = zlib.crc32(page.translate(_BITREV), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reg:032b}"[::-1], 2)


@dataclass
class OggPage:
    serial: int
    flags: int  # 1 continued, 2 beginning of stream, 4 end of stream
    granule: int
    packets: list[bytes]  # packets that complete on this page


class OggParser:
    """Ogg byte stream → pages with their completed packets (lacing across pages resolved)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # absolute stream offset of _buf[0]
        self._partial: dict[int, bytearray] = {}

    def feed(self, data: bytes) -> list[OggPage]:
        buf = self._buf
        buf += data
        pos, pages = 0, []
        while len(buf) - pos >= 27:
            if buf[pos:pos + 5] != b"OggS\0":
                raise AudioFormatError(f"lost Ogg sync: no 'OggS' version-0 page at byte {self._offset + pos}")
            nseg = buf[pos + 26]
            if len(buf) - pos < 27 + nseg:
                break
            lacing = buf[pos + 27:pos + 27 + nseg]
            end = pos + 27 + nseg + sum(lacing)
            if len(buf) < end:
                break
            page = bytearray(buf[pos:end])
            flags, granule, serial, _seq, crc = struct.unpack_from("<BqIII", page, 5)
            page[22:26] = b"\0\0\0\0"
            if ogg_crc(bytes(page)) != crc:
                raise AudioFormatError(f"corrupt Ogg page at byte {self._offset + pos} (CRC mismatch)")
            pages.append(self._packets(page, lacing, flags, granule, serial))
            pos = end
        del buf[:pos]
        self._offset += pos
        return pages

    def _packets(self, page: bytearray, lacing: bytearray, flags: int, granule: int, serial: int) -> OggPage:
        out = OggPage(serial, flags, granule, [])
        cur = self._partial.pop(serial, None)
        cur = cur if flags & 1 else None  # page not continued: a leftover fragment was lost
        dropping = cur is None and bool(flags & 1)  # continuation of a packet we never saw
        cur = bytearray() if cur is None else cur
        body = 27 + len(lacing)
        for lace in lacing:
            if not dropping:
                cur += page[body:body + lace]
            body += lace
            if lace < 255:
                if not dropping:
                    out.packets.append(bytes(cur))
                cur, dropping = bytearray(), False
        if cur and not dropping:
            if len(cur) + sum(map(len, self._partial.values())) > _MAX_OGG_PACKET:
                raise AudioFormatError("unfinished Ogg packets larger than 1 MiB")
            self._partial[serial] = cur
        return out


@dataclass(frozen=True)
class OpusHead:
    channels: int
    pre_skip: int  # 48 kHz samples to drop at the start


def parse_opus_head(packet: bytes) -> OpusHead:
    if len(packet) < 19 or not packet.startswith(b"OpusHead"):
        raise AudioFormatError("invalid OpusHead header")
    version, channels, pre_skip, _rate, _gain, family = struct.unpack_from("<BBHIhB", packet, 8)
    if version >> 4 or channels == 0:
        raise AudioFormatError(f"unsupported OpusHead (version {version}, {channels} channels)")
    if family != 0 and channels > 2:
        raise AudioFormatError(f"multichannel Opus ({channels} channels, family {family}) is not supported")
    return OpusHead(channels, pre_skip)


# -------------------------------------------------------------------------------------- WebM

_SEGMENT, _CLUSTER, _EBML = 0x18538067, 0x1F43B675, 0x1A45DFA3
_MASTERS = {_EBML, _SEGMENT, 0x1654AE6B, 0xAE, _CLUSTER, 0xA0}  # + Tracks, TrackEntry, BlockGroup
_SEGMENT_CHILDREN = {_CLUSTER, 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1C53BB6B, 0x1941A469,
                     0x1043A770, 0x1254C367}  # Cluster SeekHead Info Tracks Cues Attachments ...
_CLOSED_BY = {_CLUSTER: _SEGMENT_CHILDREN | {_EBML, _SEGMENT}, _SEGMENT: {_EBML, _SEGMENT}}
_CODEC_ID, _CODEC_PRIVATE, _CONTENT_ENCODINGS, _DOC_TYPE, _SIMPLE_BLOCK, _BLOCK = (
    0x86, 0x63A2, 0x6D80, 0x4282, 0xA3, 0xA1)
_UINT_LEAVES = {0xD7: "number"}  # TrackNumber
_LEAVES = {_CODEC_ID, _CODEC_PRIVATE, _CONTENT_ENCODINGS, _DOC_TYPE, _SIMPLE_BLOCK, _BLOCK, *_UINT_LEAVES}
_MAX_BLOCK, _MAX_LEAF = 1 << 20, 1 << 16


def _vint(buf: bytes | bytearray, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """(value, length) of the EBML vint at pos; None if incomplete; value -1 = unknown size."""
    if pos >= len(buf):
        return None
    n = 9 - buf[pos].bit_length()
    if n > 8:
        raise AudioFormatError("corrupt WebM: invalid EBML variable-length integer")
    if pos + n > len(buf):
        return None
    v = int.from_bytes(buf[pos:pos + n], "big")
    if keep_marker:
        return v, n
    v &= (1 << (7 * n)) - 1
    return (-1 if v == (1 << (7 * n)) - 1 else v), n


def _block_frames(payload: bytes) -> tuple[int, list[bytes]]:
    """(track number, frames) of a (Simple)Block payload; all lacing modes."""
    tv = _vint(payload, 0, False)
    if tv is None or len(payload) < tv[1] + 3:
        raise AudioFormatError("corrupt WebM: truncated block header")
    track, pos = tv[0], tv[1] + 3
    lacing = (payload[pos - 1] >> 1) & 3
    if lacing == 0:
        return track, [payload[pos:]]
    if pos >= len(payload):
        raise AudioFormatError("corrupt WebM: laced block without frame count")
    count, pos = payload[pos] + 1, pos + 1
    sizes: list[int] = []
    if lacing == 1:  # Xiph: each size is a run of 255s plus a last byte < 255
        for _ in range(count - 1):
            run = pos
            while pos < len(payload) and payload[pos] == 255:
                pos += 1
            if pos >= len(payload):
                raise AudioFormatError("corrupt WebM: truncated Xiph lacing")
            sizes.append(255 * (pos - run) + payload[pos])
            pos += 1
    elif lacing == 3:  # EBML
        for i in range(count - 1):
            sv = _vint(payload, pos, False)
            if sv is None or sv[0] < 0:
                raise AudioFormatError("corrupt WebM: bad EBML lacing")
            value, n = sv
            sizes.append(value if i == 0 else sizes[-1] + value - ((1 << (7 * n - 1)) - 1))
            pos += n
    else:  # fixed
        if (len(payload) - pos) % count:
            raise AudioFormatError("corrupt WebM: fixed-size lacing does not divide the block")
        sizes = [(len(payload) - pos) // count] * (count - 1)
    if any(s < 0 for s in sizes) or pos + sum(sizes) > len(payload):
        raise AudioFormatError("corrupt WebM: laced frame sizes exceed the block")
    frames = []
    for s in [*sizes, len(payload) - pos - sum(sizes)]:
        frames.append(payload[pos:pos + s])
        pos += s
    return track, frames


class WebmParser:
    """WebM/Matroska → Opus packets of the first A_OPUS track; ``head`` once the track is chosen."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._offset = 0  # absolute offset of _buf[0]
        self._stack: list[tuple[int, int | None]] = []  # open masters: (id, absolute end | None)
        self._skip = 0
        self._leaf: tuple[int, int] | None = None  # (id, size) of a value being buffered
        self._tracks: list[dict[str, object]] = []
        self._track: int | None = None
        self.head: OpusHead | None = None
        self.doc_type = "webm"

    def feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        pos = 0
        out: list[bytes] = []
        while pos < len(buf):
            if self._skip:
                n = min(self._skip, len(buf) - pos)
                self._skip, pos = self._skip - n, pos + n
            elif self._leaf is not None:
                eid, size = self._leaf
                if eid in (_SIMPLE_BLOCK, _BLOCK):  # other tracks' blocks are skipped, never buffered
                    if self._track is None:
                        self._select()
                    tv = _vint(buf, pos, False)
                    if tv is None:
                        break
                    if tv[0] != self._track:
                        self._leaf, self._skip = None, size
                        continue
                    if size > _MAX_BLOCK:
                        raise AudioFormatError(f"WebM block of {size} bytes exceeds {_MAX_BLOCK} bytes")
                if len(buf) - pos < size:
                    break
                self._value(eid, bytes(buf[pos:pos + size]), out)
                self._leaf, pos = None, pos + size
            else:
                idv = _vint(buf, pos, True)
                szv = None if idv is None else _vint(buf, pos + idv[1], False)
                if idv is None or szv is None:
                    break
                if idv[1] > 4:
                    raise AudioFormatError(f"corrupt WebM: invalid element ID at byte {self._offset + pos}")
                start = self._offset + pos
                pos += idv[1] + szv[1]
                self._element(idv[0], szv[0], start, self._offset + pos)
        del buf[:pos]
        self._offset += pos
        return out

    def _element(self, eid: int, size: int, header_at: int, start: int) -> None:
        stack = self._stack
        while stack and stack[-1][1] is not None and header_at >= stack[-1][1]:
            stack.pop()
        while stack and stack[-1][1] is None and eid in _CLOSED_BY[stack[-1][0]]:  # unknown-size ends
            stack.pop()
        end = None if size < 0 else start + size
        parent_end = stack[-1][1] if stack else None
        if end is not None and parent_end is not None and end > parent_end:
            raise AudioFormatError(f"corrupt WebM: element 0x{eid:X} overruns its parent")
        if size < 0 and eid not in (_SEGMENT, _CLUSTER):
            raise AudioFormatError(f"corrupt WebM: unknown-size element 0x{eid:X}")
        if eid in _MASTERS:
            if len(stack) >= 8:
                raise AudioFormatError("corrupt WebM: elements nested too deeply")
            if eid == 0xAE:
                if len(self._tracks) >= 16:
                    raise AudioFormatError("WebM with more than 16 tracks")
                self._tracks.append({})
            elif eid == _CLUSTER and self._track is None:
                self._select()
            stack.append((eid, end))
        elif eid in _LEAVES:
            if size > _MAX_LEAF and eid not in (_SIMPLE_BLOCK, _BLOCK):
                raise AudioFormatError(f"WebM element 0x{eid:X} of {size} bytes exceeds {_MAX_LEAF} bytes")
            self._leaf = (eid, size)
        else:
            self._skip = size

    def _value(self, eid: int, value: bytes, out: list[bytes]) -> None:
        if eid in (_SIMPLE_BLOCK, _BLOCK):
            track, frames = _block_frames(value)
            if track == self._track:
                out.extend(frames)
        elif eid == _DOC_TYPE:
            self.doc_type = value.rstrip(b"\0").decode("ascii", "replace")
            if self.doc_type not in ("webm", "matroska"):
                raise AudioFormatError(f"EBML document type {self.doc_type!r} is not WebM/Matroska")
        elif self._tracks:
            entry = self._tracks[-1]
            if eid == _CODEC_ID:
                entry["codec"] = value.rstrip(b"\0").decode("ascii", "replace")
            elif eid in (_CODEC_PRIVATE, _CONTENT_ENCODINGS):
                entry["private" if eid == _CODEC_PRIVATE else "encoded"] = value
            else:
                entry[_UINT_LEAVES[eid]] = int.from_bytes(value, "big")

    def _select(self) -> None:
        opus = [t for t in self._tracks if t.get("codec") == "A_OPUS"]
        if not opus:
            codecs = ", ".join(str(t.get("codec", "?")) for t in self._tracks) or "no tracks"
            raise AudioFormatError(f"WebM has no Opus audio track ({codecs}); only Opus is supported")
        track = opus[0]
        if "encoded" in track:
            raise AudioFormatError("WebM Opus track uses content encoding (compression/encryption)")
        if "number" not in track:
            raise AudioFormatError("WebM Opus track without a TrackNumber")
        private = track.get("private")  # OpusHead; without it assume no pre-skip
        self.head = parse_opus_head(private) if isinstance(private, bytes) else OpusHead(1, 0)
        self._track = track["number"]  # type: ignore[assignment]
