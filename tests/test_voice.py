"""Voice messages: what the server takes (told from the bytes: container, codec, size,
duration), where one may stand in for words, and who hears it (the worker and the union
officers who may open the request; another worker gets 404, management and the upper union
never get one)."""

from __future__ import annotations

import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.models import (
    Anonymity,
    AuditEntry,
    EventKind,
    Member,
    Officer,
    RequestEvent,
    RequestVoice,
    ServiceRequest,
)
from server.services import voice
from server.services.lifecycle import ActionInput, apply_officer_action
from tests import voice_samples as samples
from tests.conftest import UPPER, XBL_CHAIR, XBL_MANAGER, csrf_of
from tests.factories import jpeg_bytes, make_member, make_request, member_client, officer_client

DATA = Path(__file__).resolve().parent / "data"
# Recorded by Chromium's MediaRecorder from its fake microphone (2 s of beeps).
CHROMIUM_WEBM = (DATA / "chromium-fake-mic.webm").read_bytes()
CHROMIUM_MP4 = (DATA / "chromium-fake-mic.m4a").read_bytes()
# As stored: the same with a Duration written in (see test_webm_gets_its_duration_written_in).
STORED_WEBM = voice.check_voice(CHROMIUM_WEBM).data


# --- what is taken --------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "kind"), [(CHROMIUM_WEBM, "audio/webm"),
                                           (CHROMIUM_MP4, "audio/mp4")], ids=["webm", "mp4"])
def test_real_browser_recordings_are_taken_with_their_length(raw: bytes, kind: str) -> None:
    clean = voice.check_voice(raw)
    assert clean.content_type == kind
    assert 1500 <= clean.duration_ms <= 2500, clean.duration_ms


LAYOUTS = {
    "webm": lambda s: samples.webm(s),
    "ogg-opus": lambda s: samples.ogg_opus(s),
    "mp4-fragments": lambda s: samples.mp4_fragmented(s),
    "mp4-fragments-default-duration": lambda s: samples.mp4_fragmented(s, per_sample=False),
    "m4a-aac": lambda s: samples.mp4_plain(s),
    "m4a-opus": lambda s: samples.mp4_plain(s, codec=b"Opus"),
}


def test_webm_gets_its_duration_written_in() -> None:
    """MediaRecorder leaves WebM's Duration out, and `<audio>` then shows no length and
    cannot seek: the stored copy has it, and is otherwise the same bytes."""
    assert b"\x44\x89" not in CHROMIUM_WEBM[:200]
    stored = voice.check_voice(CHROMIUM_WEBM)
    assert stored.data != CHROMIUM_WEBM and len(stored.data) == len(CHROMIUM_WEBM) + 18
    assert stored.data.endswith(CHROMIUM_WEBM[-4000:])  # the audio itself untouched
    again = voice.check_voice(stored.data)
    assert again.data == stored.data and again.duration_ms == stored.duration_ms
    built = samples.webm(7.5, duration_header=7.5)  # already has one: kept as it is
    assert voice.check_voice(built).data == built


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_duration_is_read_and_capped_at_90_seconds(layout: str) -> None:
    build = LAYOUTS[layout]
    assert voice.check_voice(build(12.0)).duration_ms == 12_000
    assert voice.check_voice(build(90.0)).duration_ms == 90_000
    with pytest.raises(voice.VoiceError, match="最长 90 秒"):
        voice.check_voice(build(95.0))


def test_a_header_cannot_understate_the_audio() -> None:
    # MediaRecorder writes no Duration; a file that claims 10 s over 95 s of blocks is 95 s.
    with pytest.raises(voice.VoiceError, match="最长 90 秒"):
        voice.check_voice(samples.webm(95.0, duration_header=10.0))
    with pytest.raises(voice.VoiceError, match="最长 90 秒"):
        voice.check_voice(samples.webm(10.0, duration_header=95.0))


@pytest.mark.parametrize(("raw", "message"), [
    (jpeg_bytes(), "格式放不出来"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "格式放不出来"),
    (samples.webm(5, track_type=1, codec="V_VP8"), "格式放不出来"),  # video
    (samples.webm(5, codec="A_PCM/INT/LIT"), "格式放不出来"),  # plays nowhere but Chromium
    (samples.webm(5, doc_type="matroska"), "格式放不出来"),
    (samples.mp4_fragmented(5, handler=b"vide"), "格式放不出来"),
    (samples.mp4_plain(5, codec=b"samr"), "格式放不出来"),  # AMR from an old recorder app
    (samples.webm(5)[:2000], "不是完整的录音"),  # cut off in the middle
    (samples.ogg_opus(5)[:60], "不是完整的录音"),
    (samples.mp4_fragmented(5)[:900], "不是完整的录音"),
    (b"\x1a\x45\xdf\xa3" + b"\xff" * 40, "不是完整的录音"),
    (b"", "空的"),
    (samples.webm(5) + b"\0" * voice.MAX_BYTES, "太大了"),
], ids=["jpeg", "wav", "webm-video", "webm-pcm", "matroska", "mp4-video", "amr", "webm-cut",
        "ogg-cut", "mp4-cut", "ebml-garbage", "empty", "over-1mb"])
def test_refused_with_a_reason(raw: bytes, message: str) -> None:
    with pytest.raises(voice.VoiceError, match=message):
        voice.check_voice(raw)


def test_mangled_recordings_are_refused_quickly_never_crash() -> None:
    """Bytes flipped, cut and repeated at random in real and built recordings: each is
    either taken (within the limits) or refused with a VoiceError, in milliseconds."""
    rng = random.Random(20260611)
    seeds = [CHROMIUM_WEBM, CHROMIUM_MP4, samples.ogg_opus(3), samples.mp4_plain(3)]
    slowest = 0.0
    for _ in range(400):
        raw = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            where = rng.randrange(len(raw))
            move = rng.random()
            if move < 0.5:
                raw[where] = rng.randrange(256)
            elif move < 0.7:
                raw[where:where + 4] = b"\xff\xff\xff\xff"
            elif move < 0.85:
                del raw[where:]
                if not raw:
                    raw = bytearray(b"\x1a")
            else:
                raw[where:where] = raw[where:where + 64] * 3
        started = time.perf_counter()
        try:
            clean = voice.check_voice(bytes(raw))
        except voice.VoiceError:
            pass
        else:
            assert 0 < clean.duration_ms <= voice.MAX_SECONDS * 1000 + voice.GRACE_MS
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.5, slowest


# --- filing, replying, hearing ---------------------------------------------------------------

async def file_with_voice(c: httpx.AsyncClient, raw: bytes | None, description: str = "",
                          anonymous: str = "management",
                          client_id: str | None = None) -> tuple[httpx.Response, str]:
    page = await c.get("/requests/new")
    client_id = client_id or str(uuid.uuid4())
    files = {"voice": ("voice.webm", raw, "audio/webm")} if raw is not None else None
    response = await c.post("/requests/new", data={
        "csrf_token": csrf_of(page.text), "client_id": client_id, "category": "wages",
        "description": description, "anonymous": anonymous}, files=files)
    return response, client_id


@pytest.fixture(scope="module")
async def spoken(app: Any) -> dict[str, Any]:
    """A request filed by voice alone, referred to management and passed up to the upper
    union (so every role has it in scope)."""
    member = await make_member(app, name="说话工友")
    async with member_client(app, member) as c:
        response, client_id = await file_with_voice(c, CHROMIUM_WEBM)
        assert response.status_code == 303, response.text[:500]
    item = await ServiceRequest.get(client_id=client_id)
    (clip,) = await RequestVoice.filter(request_id=item.id)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    # A chair escalating sends it straight to the upper union (not to the chair level).
    for action in ("refer", "escalate"):
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), action,
                                   ActionInput(note="请项目部处理"))
    return {"member": member, "item": item, "clip": clip}


async def test_a_voice_alone_files_a_request(app: Any, spoken: dict[str, Any]) -> None:
    item, clip = spoken["item"], spoken["clip"]
    assert item.description == ""
    assert clip.data == STORED_WEBM and clip.content_type == "audio/webm"
    assert clip.size == len(STORED_WEBM) and 1500 <= clip.duration_ms <= 2500
    event = await RequestEvent.get(id=clip.event_id)  # type: ignore[attr-defined]
    assert event.kind == EventKind.SUBMITTED and event.request_id == item.id  # type: ignore[attr-defined]
    async with member_client(app, spoken["member"]) as c:
        page = await c.get(f"/requests/{item.id}")
        listed = await c.get("/requests")
        played = await c.get(f"/requests/{item.id}/voices/{clip.id}")
        part = await c.get(f"/requests/{item.id}/voices/{clip.id}",
                           headers={"Range": "bytes=100-199"})
        tail = await c.get(f"/requests/{item.id}/voices/{clip.id}",
                           headers={"Range": "bytes=-50"})
    assert f'<audio controls preload="metadata" src="/requests/{item.id}/voices/{clip.id}">' \
        in page.text
    assert "语音留言" in listed.text
    assert played.status_code == 200 and played.content == STORED_WEBM
    assert played.headers["content-type"] == "audio/webm"
    assert played.headers["accept-ranges"] == "bytes"
    # Safari plays media only from a server that answers ranges.
    assert part.status_code == 206 and part.content == STORED_WEBM[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(STORED_WEBM)}"
    assert tail.status_code == 206 and tail.content == STORED_WEBM[-50:]


async def test_words_or_voice_one_is_needed(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        neither, id1 = await file_with_voice(c, None)
        too_long, id2 = await file_with_voice(c, samples.webm(95), description="工资")
        wrong, id3 = await file_with_voice(c, jpeg_bytes(), description="工资")
        both, id4 = await file_with_voice(c, samples.ogg_opus(20), description="三月工资没发")
    assert neither.status_code == 422 and "请写几句话说明情况，或者录一段语音" in neither.text
    assert too_long.status_code == 422 and "最长 90 秒" in too_long.text
    assert wrong.status_code == 422 and "格式放不出来" in wrong.text
    assert not await ServiceRequest.filter(client_id__in=[id1, id2, id3]).exists()
    assert both.status_code == 303
    item = await ServiceRequest.get(client_id=id4)
    assert item.description == "三月工资没发"
    assert (await RequestVoice.get(request_id=item.id)).content_type == "audio/ogg"


async def test_a_replayed_voice_filing_files_once(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        first, client_id = await file_with_voice(c, CHROMIUM_MP4)
        again, _ = await file_with_voice(c, CHROMIUM_MP4, client_id=client_id)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    item = await ServiceRequest.get(client_id=client_id)
    assert await RequestVoice.filter(request_id=item.id).count() == 1


async def test_another_worker_gets_404(app: Any, spoken: dict[str, Any]) -> None:
    item, clip = spoken["item"], spoken["clip"]
    stranger = await make_member(app, name="别的工友")
    async with member_client(app, stranger) as c:
        response = await c.get(f"/requests/{item.id}/voices/{clip.id}")
    assert response.status_code == 404 and response.content != STORED_WEBM
    # And the worker's own voice id under another request of theirs is no way in either.
    own = await make_request(stranger)
    async with member_client(app, stranger) as c:
        crossed = await c.get(f"/requests/{own.id}/voices/{clip.id}")
    assert crossed.status_code == 404


@pytest.mark.parametrize(("who", "hears"), [("liaison", True), (XBL_CHAIR, True),
                                            (XBL_MANAGER, False), (UPPER, False)])
async def test_who_hears_the_voice(app: Any, spoken: dict[str, Any], who: str,
                                   hears: bool) -> None:
    item, clip = spoken["item"], spoken["clip"]
    member: Member = spoken["member"]
    phone = (await Officer.get(id=member.liaison_id)).phone if who == "liaison" else who  # type: ignore[attr-defined]
    async with officer_client(app, phone) as c:
        page = await c.get(f"/officer/requests/{item.id}")
        queue = await c.get("/officer/requests?status=")
        response = await c.get(f"/requests/{item.id}/voices/{clip.id}")
    assert page.status_code == 200
    assert (f"/voices/{clip.id}" in page.text) is hears
    assert ("<audio" in page.text) is hears
    assert ("语音留言" in queue.text) is hears  # outside readers learn not even that
    # Nor do they record: no voice field, and the microphone stays off on their page.
    assert ('name="voice"' in page.text) is hears
    assert ("microphone=(self)" in page.headers["permissions-policy"]) is hears
    if hears:
        assert response.status_code == 200 and response.content == STORED_WEBM
    else:
        assert response.status_code == 404 and response.content != STORED_WEBM


async def test_follow_up_and_cadre_reply_by_voice(app: Any) -> None:
    member = await make_member(app, name="补充工友")
    item = await make_request(member, text="食堂太贵")
    cadre = await Officer.get(id=item.assignee_id)  # type: ignore[attr-defined]
    reply_voice = samples.mp4_fragmented(8)
    async with officer_client(app, cadre.phone) as c:
        page = await c.get(f"/officer/requests/{item.id}")
        assert 'name="voice"' in page.text
        empty = await c.post(f"/officer/requests/{item.id}/reply",
                             data={"csrf_token": csrf_of(page.text), "note": ""})
        replied = await c.post(f"/officer/requests/{item.id}/reply",
                               data={"csrf_token": csrf_of(page.text), "note": ""},
                               files={"voice": ("r.m4a", reply_voice, "audio/mp4")})
    assert empty.status_code == 422 and "请写几句话，或者录一段语音" in empty.text
    assert replied.status_code == 303, replied.text[:300]
    reply = await RequestEvent.get(request_id=item.id, kind=EventKind.REPLY)
    said = await RequestVoice.get(event_id=reply.id)
    assert said.data == reply_voice and said.duration_ms == 8000
    entry = await AuditEntry.filter(action="request.reply", target_id=item.id).first()
    assert entry is not None and entry.detail == {"voice": True}

    follow_up = samples.webm(30)
    async with member_client(app, member) as c:
        page = await c.get(f"/requests/{item.id}")
        assert f"/voices/{said.id}" in page.text
        heard = await c.get(f"/requests/{item.id}/voices/{said.id}")
        key = str(uuid.uuid4())
        form = {"csrf_token": csrf_of(page.text), "client_id": key, "note": ""}
        sent = await c.post(f"/requests/{item.id}/worker_reply", data=form,
                            files={"voice": ("v.webm", follow_up, "audio/webm")})
        replayed = await c.post(f"/requests/{item.id}/worker_reply", data=form,
                                files={"voice": ("v.webm", follow_up, "audio/webm")})
    assert heard.status_code == 200 and heard.content == reply_voice
    assert sent.status_code == replayed.status_code == 303
    (worker_reply,) = await RequestEvent.filter(request_id=item.id,
                                                kind=EventKind.WORKER_REPLY)
    assert (await RequestVoice.get(event_id=worker_reply.id)).data == voice.check_voice(
        follow_up).data
    assert await RequestVoice.filter(request_id=item.id).count() == 2
    async with officer_client(app, cadre.phone) as c:
        page = await c.get(f"/officer/requests/{item.id}")
    assert page.text.count("<audio") >= 2


async def test_anonymous_to_all_warns_and_union_still_hears(app: Any) -> None:
    member = await make_member(app, name="匿名说话")
    async with member_client(app, member) as c:
        form = await c.get("/requests/new")
        response, client_id = await file_with_voice(c, CHROMIUM_WEBM, anonymous="all")
    assert "声音是认得出来的" in form.text and "voice-anon-warning" in form.text
    assert response.status_code == 303
    item = await ServiceRequest.get(client_id=client_id)
    assert item.anonymity == Anonymity.ALL
    clip = await RequestVoice.get(request_id=item.id)
    cadre = await Officer.get(id=item.assignee_id)  # type: ignore[attr-defined]
    async with officer_client(app, cadre.phone) as c:
        page = await c.get(f"/officer/requests/{item.id}")
        heard = await c.get(f"/requests/{item.id}/voices/{clip.id}")
    # The cadre answers in the thread without a name; the voice was the worker's choice.
    assert member.name not in page.text and heard.status_code == 200


async def test_microphone_only_on_recording_pages(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    async with member_client(app, member) as c:
        recording = [await c.get("/requests/new"), await c.get(f"/requests/{item.id}")]
        others = [await c.get("/me"), await c.get("/requests"), await c.get("/me/card")]
    cadre = await Officer.get(id=item.assignee_id)  # type: ignore[attr-defined]
    async with officer_client(app, cadre.phone) as c:
        recording.append(await c.get(f"/officer/requests/{item.id}"))
        others.append(await c.get("/officer"))
    for response in recording:
        assert response.status_code == 200
        assert "microphone=(self)" in response.headers["permissions-policy"], response.url
        assert '<script src="/static/js/voice.' in response.text
    for response in others:
        assert response.status_code == 200
        assert "microphone=()" in response.headers["permissions-policy"], response.url
        assert '<script src="/static/js/voice.' not in response.text
    # A recording is played back before sending from a blob: URL.
    assert "media-src 'self' blob:" in recording[0].headers["content-security-policy"]


async def test_three_photos_and_a_voice_in_one_form(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        client_id = str(uuid.uuid4())
        files = [("photo", (f"p{i}.jpg", jpeg_bytes(64, 48), "image/jpeg")) for i in range(3)]
        files.append(("voice", ("v.webm", CHROMIUM_WEBM, "audio/webm")))
        response = await c.post("/requests/new", data={
            "csrf_token": csrf_of(page.text), "client_id": client_id, "category": "safety",
            "description": "脚手架松了"}, files=files)
    assert response.status_code == 303, response.text[:300]
    item = await ServiceRequest.get(client_id=client_id)
    assert await item.photos.all().count() == 3
    assert await RequestVoice.filter(request_id=item.id).count() == 1
