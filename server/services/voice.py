"""Voice messages: told from their bytes, never from what the browser says they are.

A voice message is what MediaRecorder made on a phone (WebM/Opus in Chromium and Firefox,
Ogg/Opus in Firefox, MP4 in Safari with AAC and in Chromium with Opus) or a file from the
phone's own recorder through the plain file input. Before one is stored:

- its container is told from its first bytes, and its codec from the container's header:
  only Opus, Vorbis and AAC, which phones' browsers play back, are kept;
- it is at most MAX_BYTES long;
- it lasts at most MAX_SECONDS, read from the container.

Duration. MediaRecorder writes a live stream: WebM without a Duration element and with
clusters of unknown size, MP4 as fragments with zero durations in its headers. So the
duration comes from the timestamps of the audio itself, and the longer of that and what a
header claims counts (a file cannot pass by understating one of them):

- Ogg: mutagen (maintained, pure Python) reads the Opus or Vorbis header and the last
  page's granule position.
- MP4: mutagen reads the movie and checks its one track is audio, and its codec; for a
  fragmented file, whose headers say nothing useful, a bounded box walker here adds up the
  fragments' sample durations.
- WebM: no maintained pure-Python library reads MediaRecorder's unknown-size WebM (mutagen
  has no Matroska reader; enzyme and ebmlite take the duration from the header, which
  MediaRecorder leaves out), so a bounded EBML walker here reads the tracks and the last
  block's timestamp.

The walkers read from memory (at most MAX_BYTES), visit at most MAX_ELEMENTS elements and
check every size against the bytes left, so a hostile file costs milliseconds; they run off
the event loop anyway, like photo decoding.
"""

from __future__ import annotations

import hashlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from mutagen.mp4 import MP4
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis

from server.errors import DomainError
from server.i18n import gettext
from server.models import RequestVoice
from server.privacy import VoiceRef
from server.services.offload import run_heavy

MAX_BYTES = 1_000_000
MAX_SECONDS = 90
# The recorder stops itself at MAX_SECONDS; its last frame may end a little after the timer.
GRACE_MS = 1000
MAX_ELEMENTS = 100_000

WEBM, OGG, MP4_TYPE = "audio/webm", "audio/ogg", "audio/mp4"
# What a file of each kind is called when the browser gives it no name.
EXTENSIONS = {WEBM: "webm", OGG: "ogg", MP4_TYPE: "m4a"}
WEBM_CODECS = frozenset({"A_OPUS", "A_VORBIS"})


class VoiceError(DomainError):
    def __init__(self, message: str) -> None:
        super().__init__(message, field="voice")


class _Unreadable(Exception):
    """The bytes are not a whole recording of a kind we take (the caller says so kindly)."""


@dataclass(frozen=True)
class CleanVoice:
    data: bytes
    content_type: str
    duration_ms: int
    sha256: str


@dataclass(frozen=True)
class CleanedVoice:
    """A form's voice message after checking: the message, or why it was refused."""

    voice: CleanVoice | None = None
    error: str = ""

    @property
    def sent(self) -> bool:
        """Whether the form came with a recording at all (kept or refused)."""
        return self.voice is not None or bool(self.error)


NO_VOICE = CleanedVoice()


def _not_a_recording() -> VoiceError:
    return VoiceError(gettext("这不是完整的录音，可能没传完，请重新录一段"))


def _unsupported() -> VoiceError:
    return VoiceError(gettext("这种录音格式放不出来，请用页面上的“录音”按钮重新录"))


def sniff(raw: bytes) -> str | None:
    """The container from the first bytes, or None when it is none we take."""
    if raw[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM
    if raw[:4] == b"OggS":
        return OGG
    if raw[4:8] == b"ftyp":
        return MP4_TYPE
    return None


def check_size(raw: bytes) -> None:
    """The cheap check, before any parsing."""
    if len(raw) > MAX_BYTES:
        raise VoiceError(gettext("录音太大了（最大 %(mb)s MB），请录短一点") % {
            "mb": f"{MAX_BYTES / 1_000_000:g}"})
    if not raw:
        raise VoiceError(gettext("录音是空的，请重新录一段"))


def check_voice(raw: bytes) -> CleanVoice:
    """Check one upload; raises VoiceError with a reason a person can act on.

    Synchronous (it parses the file): from the server, use `clean_upload`."""
    check_size(raw)
    kind = sniff(raw)
    if kind is None:
        raise _unsupported()
    try:
        if kind == WEBM:
            duration_ms = webm_duration_ms(raw)
        elif kind == OGG:
            duration_ms = ogg_duration_ms(raw)
        else:
            duration_ms = mp4_duration_ms(raw)
    except VoiceError:
        raise
    except Exception as exc:  # any parser failure means the same: not a whole recording
        raise _not_a_recording() from exc
    if duration_ms <= 0:
        raise _not_a_recording()
    if duration_ms > MAX_SECONDS * 1000 + GRACE_MS:
        raise VoiceError(gettext("录音最长 %(n)d 秒，这段有 %(s)d 秒，请录短一点") % {
            "n": MAX_SECONDS, "s": round(duration_ms / 1000)})
    if kind == WEBM:
        raw = webm_with_duration(raw, duration_ms)
    return CleanVoice(raw, kind, duration_ms, hashlib.sha256(raw).hexdigest())


async def clean_upload(raw: bytes | None) -> CleanedVoice:
    """A form's voice upload (None when there was none), parsed off the event loop."""
    if raw is None:
        return NO_VOICE
    try:
        check_size(raw)
        return CleanedVoice(await run_heavy(check_voice, raw))
    except VoiceError as exc:
        return CleanedVoice(error=exc.message)


# --- Ogg ----------------------------------------------------------------------------------

def ogg_duration_ms(raw: bytes) -> int:
    """Opus or Vorbis in Ogg (told from the first packet); mutagen reads the codec header
    and the last page's granule position."""
    if len(raw) < 28:
        raise _Unreadable("short page")
    first_packet = raw[27 + raw[26]:][:8]
    if first_packet == b"OpusHead":
        info = OggOpus(io.BytesIO(raw)).info
    elif first_packet[:7] == b"\x01vorbis":
        info = OggVorbis(io.BytesIO(raw)).info
    else:
        raise _unsupported()
    if info is None:
        raise _Unreadable("no stream info")
    return round(info.length * 1000)


# --- MP4 ----------------------------------------------------------------------------------

MP4_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"mvex", b"moof",
                            b"traf", b"edts"})


def _boxes(raw: bytes, start: int, end: int, budget: list[int]) -> Iterator[
        tuple[bytes, int, int]]:
    """(type, body start, body end) of each box in raw[start:end], depth first."""
    pos = start
    while pos + 8 <= end:
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unreadable("too many boxes")
        size, kind = struct.unpack_from(">I4s", raw, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                raise _Unreadable("truncated large box")
            (size,) = struct.unpack_from(">Q", raw, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise _Unreadable("box overruns its parent")
        yield kind, pos + header, pos + size
        if kind in MP4_CONTAINERS:
            yield from _boxes(raw, pos + header, pos + size, budget)
        pos += size


MP4_CODECS = frozenset({b"mp4a", b"Opus"})


def mp4_duration_ms(raw: bytes) -> int:
    """The longer of the movie's length as mutagen reads it and the sum of its fragments'
    samples (MediaRecorder's fragmented MP4 leaves the headers' durations at zero). One
    track, audio, in a codec browsers play."""
    timescale = 0
    tracks = 0
    trex_default = 0
    total = 0  # in the track's timescale
    default = 0
    budget = [MAX_ELEMENTS]
    for kind, body, end in _boxes(raw, 0, len(raw), budget):
        if kind == b"trak":
            tracks += 1
        elif kind == b"hdlr" and raw[body + 8:body + 12] != b"soun":
            raise _unsupported()  # a video track: not a voice message
        elif kind == b"stsd" and raw[body + 12:body + 16] not in MP4_CODECS:
            raise _unsupported()  # AMR from an old recorder app, say
        elif kind == b"mdhd":
            version = raw[body]
            offset = body + (20 if version == 1 else 12)
            (timescale,) = struct.unpack_from(">I", raw, offset)
        elif kind == b"trex":
            (trex_default,) = struct.unpack_from(">I", raw, body + 12)
        elif kind == b"tfhd":
            (flags,) = struct.unpack_from(">I", raw, body)
            offset = body + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
            default = trex_default
            if flags & 0x08:
                (default,) = struct.unpack_from(">I", raw, offset)
        elif kind == b"trun":
            total += _trun_duration(raw, body, end, default)
    if tracks != 1 or timescale <= 0:
        raise _unsupported()
    info = MP4(io.BytesIO(raw)).info
    if info is None:
        raise _Unreadable("no movie header")
    return max(round(info.length * 1000), total * 1000 // timescale)


def _trun_duration(raw: bytes, body: int, end: int, default: int) -> int:
    (flags,) = struct.unpack_from(">I", raw, body)
    flags &= 0xFFFFFF
    (count,) = struct.unpack_from(">I", raw, body + 4)
    pos = body + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
    if not flags & 0x100:
        return count * default
    # Per-sample fields, in this order, each present when its flag is set.
    width = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    if pos + count * width > end:
        raise _Unreadable("trun overruns its box")
    return sum(struct.unpack_from(">I", raw, pos + i * width)[0] for i in range(count))


# --- WebM (EBML) --------------------------------------------------------------------------

EBML_HEADER, DOC_TYPE = 0x1A45DFA3, 0x4282
SEGMENT, INFO, TIMECODE_SCALE, DURATION = 0x18538067, 0x1549A966, 0x2AD7B1, 0x4489
TRACKS, TRACK_ENTRY, TRACK_TYPE, CODEC_ID = 0x1654AE6B, 0xAE, 0x83, 0x86
CLUSTER, CLUSTER_TIMECODE, SIMPLE_BLOCK, BLOCK_GROUP, BLOCK = (
    0x1F43B675, 0xE7, 0xA3, 0xA0, 0xA1)
# Elements whose children are read in place (the walk does not skip their bodies): the
# clusters and the segment may be of unknown size, so nesting is not tracked by offsets.
EBML_CONTAINERS = frozenset({EBML_HEADER, SEGMENT, INFO, TRACKS, TRACK_ENTRY, CLUSTER,
                             BLOCK_GROUP})
AUDIO_TRACK = 2


def _vint(raw: bytes, pos: int, keep_marker: bool) -> tuple[int, int, bool]:
    """An EBML variable-length integer at `pos`: (value, length, all ones = unknown)."""
    if pos >= len(raw):
        raise _Unreadable("truncated")
    first = raw[pos]
    if first == 0:
        raise _Unreadable("vint longer than 8 bytes")
    length = 9 - first.bit_length()
    if pos + length > len(raw):
        raise _Unreadable("truncated")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in raw[pos + 1:pos + length]:
        value = (value << 8) | byte
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return value, length, unknown


def _uint(raw: bytes) -> int:
    return int.from_bytes(raw, "big") if len(raw) <= 8 else -1


def webm_duration_ms(raw: bytes) -> int:
    doc_type = b""
    scale = 1_000_000  # ns per timestamp unit, WebM's default
    header_duration = 0.0
    tracks: list[dict[int, bytes]] = []
    cluster_time = 0
    last = previous = None
    pos, seen = 0, 0
    while pos < len(raw):
        seen += 1
        if seen > MAX_ELEMENTS:
            raise _Unreadable("too many elements")
        element, id_len, _ = _vint(raw, pos, keep_marker=True)
        size, size_len, unknown = _vint(raw, pos + id_len, keep_marker=False)
        body = pos + id_len + size_len
        if element in EBML_CONTAINERS:
            pos = body  # read its children next, whatever its size says
            if element == TRACK_ENTRY:
                tracks.append({})
            continue
        if unknown or body + size > len(raw):
            raise _Unreadable("element overruns the file")  # cut short: not a whole file
        value = raw[body:body + size]
        if element == DOC_TYPE:
            doc_type = value
        elif element == TIMECODE_SCALE:
            scale = _uint(value)
        elif element == DURATION and size in {4, 8}:
            header_duration = struct.unpack(">f" if size == 4 else ">d", value)[0]
        elif element in {TRACK_TYPE, CODEC_ID} and tracks:
            tracks[-1][element] = value
        elif element == CLUSTER_TIMECODE:
            cluster_time = _uint(value)
        elif element in {SIMPLE_BLOCK, BLOCK}:
            _, track_len, _ = _vint(value, 0, keep_marker=False)
            if track_len + 2 > len(value):
                raise _Unreadable("short block")
            (relative,) = struct.unpack_from(">h", value, track_len)
            previous, last = last, cluster_time + relative
        pos = body + size
    if doc_type != b"webm":
        raise _unsupported()
    if not tracks or any(_uint(t.get(TRACK_TYPE, b"")) != AUDIO_TRACK
                         or t.get(CODEC_ID, b"").decode("ascii", "replace") not in WEBM_CODECS
                         for t in tracks):
        raise _unsupported()
    if scale <= 0 or last is None:
        raise _Unreadable("no audio")
    # The last block lasts about as long as the one before it (frames are all one length).
    frame = last - previous if previous is not None and last > previous else 0
    from_blocks = (last + frame) * scale // 1_000_000
    return max(int(from_blocks), round(header_duration * scale / 1_000_000))


# --- storing and finding ----------------------------------------------------------------------

async def store(request_id: int, event_id: int, voice: CleanVoice) -> RequestVoice:
    """Keep `voice` as what one event said; call inside the transaction that wrote it."""
    return await RequestVoice.create(
        request_id=request_id, event_id=event_id, data=voice.data,
        content_type=voice.content_type, size=len(voice.data),
        duration_ms=voice.duration_ms, sha256=voice.sha256)


async def refs_of(request_id: int) -> dict[int, VoiceRef]:
    """A request's voice messages by the id of the event each belongs to (no audio read).
    Who may hear them is `server.privacy.voices_for`'s decision."""
    rows = await RequestVoice.filter(request_id=request_id).values_list(
        "id", "event_id", "duration_ms")
    return {int(event_id): VoiceRef(int(voice_id), int(ms))
            for voice_id, event_id, ms in rows}


async def clip(request_id: int, voice_id: int) -> RequestVoice | None:
    """One voice message of a request the caller already found the reader may open."""
    return await RequestVoice.get_or_none(id=voice_id, request_id=request_id)


def webm_with_duration(raw: bytes, duration_ms: int) -> bytes:
    """MediaRecorder's WebM with a Duration written into its Info element, so a player shows
    the length and can seek (without it, `<audio>` reports an infinite duration). Only for
    the layout MediaRecorder writes: a segment of unknown size whose Info comes before any
    SeekHead or Cues (nothing then points at byte positions that the insertion would move).
    Any other file is kept exactly as it came."""
    try:
        _, id_len, _ = _vint(raw, 0, keep_marker=True)
        size, size_len, _ = _vint(raw, id_len, keep_marker=False)
        pos = id_len + size_len + size  # past the EBML header
        element, id_len, _ = _vint(raw, pos, keep_marker=True)
        _, size_len, unknown = _vint(raw, pos + id_len, keep_marker=False)
        if element != SEGMENT or not unknown:
            return raw
        pos += id_len + size_len
        while pos < len(raw):
            element, id_len, _ = _vint(raw, pos, keep_marker=True)
            size, size_len, unknown = _vint(raw, pos + id_len, keep_marker=False)
            body = pos + id_len + size_len
            if unknown or element in {0x114D9B74, 0x1C53BB6B, CLUSTER}:  # SeekHead, Cues
                return raw
            if element == INFO:
                info = raw[body:body + size]
                scale, inner = 1_000_000, 0
                while inner < len(info):
                    child, child_id_len, _ = _vint(info, inner, keep_marker=True)
                    child_size, child_size_len, _ = _vint(info, inner + child_id_len,
                                                          keep_marker=False)
                    value = info[inner + child_id_len + child_size_len:][:child_size]
                    if child == DURATION:
                        return raw  # it has one
                    if child == TIMECODE_SCALE:
                        scale = _uint(value)
                    inner += child_id_len + child_size_len + child_size
                if scale <= 0:
                    return raw
                duration = b"\x44\x89\x88" + struct.pack(">d", duration_ms * 1_000_000 / scale)
                new_body = info + duration
                # The size as an 8-byte variable-length integer: marker bit, then the value.
                new_size = (len(new_body) | (1 << 56)).to_bytes(8, "big")
                return raw[:pos] + raw[pos:pos + id_len] + new_size + new_body + raw[
                    body + size:]
            pos = body + size
    except Exception:  # a file the checks took but this cannot rewrite is kept as it came
        return raw
    return raw
