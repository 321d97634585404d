"""Voice recordings for tests, built byte by byte in the layouts browsers write, so each
test says exactly how long and what kind of file it sends.

- `webm`: as Chromium's and Firefox's MediaRecorder write it: a segment and clusters of
  unknown size, no Duration element, blocks of 60 ms Opus frames.
- `ogg_opus`: as Firefox writes it: OpusHead, OpusTags, audio pages with granule positions.
- `mp4_fragmented`: as MediaRecorder writes MP4 (Chromium: Opus; Safari: AAC): empty sample
  tables, zero durations in the headers, the audio in moof/mdat fragments.
- `mp4_plain`: as a phone's recorder app writes M4A: durations in the headers.

The audio payload is filler: the server never decodes audio, it reads containers. Real
recordings from Chromium's fake microphone are in tests/data/ (see test_voice.py).
"""

from __future__ import annotations

import struct

FRAME_MS = 60


# --- WebM ---------------------------------------------------------------------------------

def _size(n: int | None) -> bytes:
    if n is None:
        return b"\x01\xff\xff\xff\xff\xff\xff\xff"  # unknown size, 8 bytes
    for length in range(1, 9):
        if n < (1 << (7 * length)) - 1:
            return (n | (1 << (7 * length))).to_bytes(length, "big")
    raise ValueError(n)


def _el(element_id: int, body: bytes, unknown: bool = False) -> bytes:
    ident = element_id.to_bytes((element_id.bit_length() + 7) // 8, "big")
    return ident + _size(None if unknown else len(body)) + body


def _uint(element_id: int, value: int) -> bytes:
    return _el(element_id, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def webm(seconds: float, *, codec: str = "A_OPUS", track_type: int = 2,
         doc_type: str = "webm", duration_header: float | None = None,
         frame_ms: int = FRAME_MS) -> bytes:
    header = _el(0x1A45DFA3, _uint(0x4286, 1) + _el(0x4282, doc_type.encode())
                 + _uint(0x4287, 4) + _uint(0x4285, 2))
    info = _uint(0x2AD7B1, 1_000_000) + _el(0x4D80, b"Chrome") + _el(0x5741, b"Chrome")
    if duration_header is not None:
        info += _el(0x4489, struct.pack(">d", duration_header * 1000))
    track = _el(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 7) + _uint(0x83, track_type)
                + _el(0x86, codec.encode()) + _el(0x63A2, b"OpusHead\x01\x01\x00\x00"))
    frames = int(seconds * 1000 // frame_ms)
    clusters = b""
    cluster_ms = 30_000  # block times are signed 16-bit offsets from their cluster's time
    for start in range(0, frames * frame_ms, cluster_ms):
        blocks = b""
        for t in range(start, min(start + cluster_ms, frames * frame_ms), frame_ms):
            blocks += _el(0xA3, b"\x81" + struct.pack(">h", t - start) + b"\x80"
                          + b"\xfc\xff\xfe" * 8)
        clusters += _el(0x1F43B675, _uint(0xE7, start) + blocks, unknown=True)
    segment = _el(0x18538067, _el(0x1549A966, info) + _el(0x1654AE6B, track) + clusters,
                  unknown=True)
    return header + segment


# --- Ogg ----------------------------------------------------------------------------------

def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, granule: int, sequence: int, flags: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = (b"OggS" + bytes([0, flags]) + struct.pack("<qII", granule, 0x1234, sequence)
              + b"\0\0\0\0" + bytes([len(lacing)]) + bytes(lacing))
    page = header + packet
    return page[:22] + struct.pack("<I", _ogg_crc(page)) + page[26:]


def ogg_opus(seconds: float) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"Firefox" + struct.pack("<I", 0)
    pages = [_ogg_page(head, 0, 0, 0x02), _ogg_page(tags, 0, 1, 0)]
    samples_per_page = 48 * 1000  # one second of 48 kHz per page
    total = int(seconds * 48000)
    granule, sequence = 312, 2
    while granule < total + 312:
        granule = min(granule + samples_per_page, total + 312)
        last = granule >= total + 312
        pages.append(_ogg_page(b"\xfc" + b"\xff\xfe" * 40, granule, sequence,
                               0x04 if last else 0))
        sequence += 1
    return b"".join(pages)


# --- MP4 ----------------------------------------------------------------------------------

def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body) + 8) + kind + body


def _full(kind: bytes, body: bytes, version: int = 0, flags: int = 0) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags) + body)


def _sample_entry(codec: bytes) -> bytes:
    body = (b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 8 + struct.pack(">HHHH", 1, 16, 0, 0)
            + struct.pack(">I", 48000 << 16))
    if codec == b"mp4a":
        # ES descriptor: AAC LC (object type 0x40, audio object type 2).
        dec = bytes([0x04, 0x11, 0x40, 0x15]) + b"\0" * 11 + bytes([0x05, 0x02, 0x11, 0x90])
        es = bytes([0x03, len(dec) + 3]) + b"\0\x01\0" + dec
        body += _full(b"esds", es)
    elif codec == b"Opus":
        body += _box(b"dOps", bytes([0, 1]) + struct.pack(">HIhB", 312, 48000, 0, 0))
    return _box(codec, body)


def _moov(codec: bytes, duration: int, handler: bytes, fragmented: bool,
          samples: int) -> bytes:
    timescale = 48000
    mvhd = _full(b"mvhd", struct.pack(">IIII", 0, 0, 1000, duration * 1000 // timescale)
                 + b"\0" * 80)
    tkhd = _full(b"tkhd", struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\0" * 60, flags=3)
    mdhd = _full(b"mdhd", struct.pack(">IIIIHH", 0, 0, timescale, duration, 0x55C4, 0))
    hdlr = _full(b"hdlr", b"\0\0\0\0" + handler + b"\0" * 12 + b"Handler\0")
    stsd = _full(b"stsd", struct.pack(">I", 1) + _sample_entry(codec))
    if fragmented:
        tables = (_full(b"stts", struct.pack(">I", 0)) + _full(b"stsc", struct.pack(">I", 0))
                  + _full(b"stsz", struct.pack(">II", 0, 0)) + _full(b"stco", struct.pack(">I", 0)))
    else:
        tables = (_full(b"stts", struct.pack(">III", 1, samples, 960))
                  + _full(b"stsc", struct.pack(">IIII", 1, 1, samples, 1))
                  + _full(b"stsz", struct.pack(">II", 20, samples))
                  + _full(b"stco", struct.pack(">II", 1, 0)))
    stbl = _box(b"stbl", stsd + tables)
    minf = _box(b"minf", _full(b"smhd", b"\0" * 4)
                + _box(b"dinf", _full(b"dref", struct.pack(">I", 1)
                                      + _full(b"url ", b"", flags=1))) + stbl)
    trak = _box(b"trak", tkhd + _box(b"mdia", mdhd + hdlr + minf))
    mvex = _box(b"mvex", _full(b"trex", struct.pack(">IIIII", 1, 1, 0, 0, 0))) \
        if fragmented else b""
    return _box(b"moov", mvhd + trak + mvex)


def mp4_fragmented(seconds: float, *, codec: bytes = b"Opus", handler: bytes = b"soun",
                   per_sample: bool = True) -> bytes:
    ftyp = _box(b"ftyp", b"isom\0\0\x02\0isomiso6iso2mp41")
    samples = int(seconds * 50)  # 20 ms frames at 48 kHz: 960 each
    out = ftyp + _moov(codec, 0, handler, True, 0)
    per_fragment = 50
    for n, start in enumerate(range(0, samples, per_fragment)):
        count = min(per_fragment, samples - start)
        if per_sample:
            trun = _full(b"trun", struct.pack(">I", count)
                         + b"".join(struct.pack(">II", 960, 20) for _ in range(count)),
                         flags=0x300)
            tfhd = _full(b"tfhd", struct.pack(">I", 1), flags=0x020000)
        else:
            trun = _full(b"trun", struct.pack(">I", count), flags=0)
            tfhd = _full(b"tfhd", struct.pack(">II", 1, 960), flags=0x020008)
        tfdt = _full(b"tfdt", struct.pack(">Q", start * 960), version=1)
        moof = _box(b"moof", _full(b"mfhd", struct.pack(">I", n + 1))
                    + _box(b"traf", tfhd + tfdt + trun))
        out += moof + _box(b"mdat", b"\xfc" * 20 * count)
    return out


def mp4_plain(seconds: float, *, codec: bytes = b"mp4a") -> bytes:
    samples = int(seconds * 50)
    ftyp = _box(b"ftyp", b"M4A \0\0\0\0M4A mp42isom")
    return ftyp + _moov(codec, samples * 960, b"soun", False, samples) + _box(
        b"mdat", b"\x21" * 20 * samples)
