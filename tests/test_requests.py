"""Requests: filing (idempotent, photos checked), the state machine, deadlines, worker side."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.errors import DomainError
from server.models import (
    Category,
    CategoryDeadline,
    EventKind,
    Level,
    Officer,
    RequestEvent,
    RequestPhoto,
    Role,
    ServiceRequest,
    Status,
)
from server.services import deadlines
from server.services.escalation import run_deadline_job
from server.services.lifecycle import (
    TRANSITIONS,
    ActionInput,
    apply_officer_action,
    apply_worker_action,
    officer_may,
    worker_actions,
)
from server.services.photos import PhotoError, clean_photo
from tests.conftest import XBL_CADRE, csrf_of, login, new_client
from tests.factories import image_bytes, jpeg_bytes, make_member, make_request, member_client


async def test_file_request_with_photo_and_replay(app: Any) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        assert page.status_code == 200 and "管理人员永远看不到你的名字" in page.text
        photo = jpeg_bytes(2400, 1800)
        client_id = str(uuid.uuid4())
        form = {"csrf_token": csrf_of(page.text), "client_id": client_id,
                "category": "wages", "description": "三月和四月工资都没发",
                "anonymous": "management"}
        files = [("photo", ("site.jpg", photo, "image/jpeg"))]
        first = await c.post("/requests/new", data=form, files=files)
        second = await c.post("/requests/new", data=form, files=files)
        assert first.status_code == second.status_code == 303
        assert first.headers["location"] == second.headers["location"]
        item = await ServiceRequest.get(client_id=client_id)
        assert await ServiceRequest.filter(client_id=client_id).count() == 1
        photos = await RequestPhoto.filter(request=item)
        assert len(photos) == 1
        assert photos[0].upload_sha256 == hashlib.sha256(photo).hexdigest()
        assert max(photos[0].width, photos[0].height) == 1600
        assert item.assignee_id == member.liaison_id  # type: ignore[attr-defined]
        assert item.level == Level.CADRE and item.status == Status.SUBMITTED
        detail = await c.get(first.headers["location"])
        assert "三月和四月工资都没发" in detail.text and "待受理" in detail.text
        img = await c.get(f"/requests/{item.id}/photos/{photos[0].id}")
        assert img.status_code == 200 and img.headers["content-type"] == "image/jpeg"
        listing = await c.get("/requests")
        assert f"/requests/{item.id}" in listing.text


@pytest.mark.parametrize(("payload", "message"), [
    (image_bytes("GIF"), "只能上传 JPG、PNG 或 WebP"),
    (b"<html><script>alert(1)</script></html>", "不是完整的照片"),
    (jpeg_bytes()[:-400], "不是完整的照片"),
    (b"\xff\xd8" + b"\x00" * 1_600_000, "太大了"),
    (b"", "空文件"),
])
async def test_bad_photos_are_refused_and_nothing_stored(app: Any, payload: bytes,
                                                        message: str) -> None:
    member = await make_member(app)
    async with member_client(app, member) as c:
        page = await c.get("/requests/new")
        client_id = str(uuid.uuid4())
        r = await c.post("/requests/new", data={
            "csrf_token": csrf_of(page.text), "client_id": client_id, "category": "safety",
            "description": "脚手架松了"}, files=[("photo", ("x.jpg", payload, "image/jpeg"))])
    assert r.status_code == 422
    assert message in r.text
    assert "脚手架松了" in r.text  # what was typed is kept
    assert not await ServiceRequest.exists(client_id=client_id)


def test_truncated_and_exif_photo_handling() -> None:
    with pytest.raises(PhotoError):
        clean_photo(jpeg_bytes()[:500], "cut.jpg")
    import io

    from PIL import Image
    image = Image.new("RGB", (50, 50), "red")
    exif = Image.Exif()
    exif[0x8825] = {2: (34, 15, 0)}  # GPS latitude
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    cleaned = clean_photo(out.getvalue(), "gps.jpg")
    assert Image.open(io.BytesIO(cleaned.data)).getexif().get(0x8825) is None


async def test_pending_member_cannot_file(app: Any) -> None:
    from tests.conftest import enrol

    async with new_client(app) as c:
        await enrol(c, "chuangxingang")
        page = await c.get("/requests/new")
        assert "入会申请通过后才能提交诉求" in page.text


# --- state machine -----------------------------------------------------------------------

# Who may do what, written out by hand from DESIGN.md (People; Request) and the rules of
# services/requests.py; a change of the rules must change this table too. One row per
# (level the request sits at, referred to management or not, action); a cell lists the
# statuses in which that role may take the action: S submitted, A acknowledged, P in
# progress, R resolved, C closed, D declined; "-" never. The upper union acts only on what
# was passed up to it; the manager only on what was referred; a cadre escalates only from
# their own level; nothing is referred twice or escalated past the upper union. The request
# is a wage case (欠薪), so the wage milestones have rows; on any other category they are
# refused (test_wage_milestones_only_on_wage_cases). A partner takes none of these (its own
# actions: services/partners.py, tests/test_partners.py).
OFFICER_MATRIX = """
level  referred  action            cadre  chair  manager  upper  admin  partner
cadre  no        acknowledge       S      S      -        -      S      -
cadre  no        reply             SAP    SAP    -        -      SAP    -
cadre  no        note              SAPR   SAPR   -        -      SAPR   -
cadre  no        escalate          SAP    SAP    -        -      SAP    -
cadre  no        refer             -      SAP    -        -      SAP    -
cadre  no        management_reply  -      -      -        -      SAP    -
cadre  no        resolve           SAP    SAP    -        -      SAP    -
cadre  no        decline           SAP    SAP    -        -      SAP    -
cadre  no        duplicate         SAP    SAP    -        -      SAP    -
cadre  no        reassign          -      SAP    -        -      SAP    -
cadre  no        wage_verify       SAP    SAP    -        -      SAP    -
cadre  no        wage_promise      SAP    SAP    -        -      SAP    -
cadre  no        wage_partial      SAP    SAP    -        -      SAP    -
cadre  no        wage_paid         SAP    SAP    -        -      SAP    -
cadre  yes       acknowledge       S      S      -        -      S      -
cadre  yes       reply             SAP    SAP    -        -      SAP    -
cadre  yes       note              SAPR   SAPR   -        -      SAPR   -
cadre  yes       escalate          SAP    SAP    -        -      SAP    -
cadre  yes       refer             -      -      -        -      -      -
cadre  yes       management_reply  -      -      SAP      -      SAP    -
cadre  yes       resolve           SAP    SAP    -        -      SAP    -
cadre  yes       decline           SAP    SAP    -        -      SAP    -
cadre  yes       duplicate         SAP    SAP    -        -      SAP    -
cadre  yes       reassign          -      SAP    -        -      SAP    -
cadre  yes       wage_verify       SAP    SAP    -        -      SAP    -
cadre  yes       wage_promise      SAP    SAP    -        -      SAP    -
cadre  yes       wage_partial      SAP    SAP    -        -      SAP    -
cadre  yes       wage_paid         SAP    SAP    -        -      SAP    -
chair  no        acknowledge       S      S      -        -      S      -
chair  no        reply             SAP    SAP    -        -      SAP    -
chair  no        note              SAPR   SAPR   -        -      SAPR   -
chair  no        escalate          -      SAP    -        -      SAP    -
chair  no        refer             -      SAP    -        -      SAP    -
chair  no        management_reply  -      -      -        -      SAP    -
chair  no        resolve           SAP    SAP    -        -      SAP    -
chair  no        decline           SAP    SAP    -        -      SAP    -
chair  no        duplicate         SAP    SAP    -        -      SAP    -
chair  no        reassign          -      SAP    -        -      SAP    -
chair  no        wage_verify       SAP    SAP    -        -      SAP    -
chair  no        wage_promise      SAP    SAP    -        -      SAP    -
chair  no        wage_partial      SAP    SAP    -        -      SAP    -
chair  no        wage_paid         SAP    SAP    -        -      SAP    -
chair  yes       acknowledge       S      S      -        -      S      -
chair  yes       reply             SAP    SAP    -        -      SAP    -
chair  yes       note              SAPR   SAPR   -        -      SAPR   -
chair  yes       escalate          -      SAP    -        -      SAP    -
chair  yes       refer             -      -      -        -      -      -
chair  yes       management_reply  -      -      SAP      -      SAP    -
chair  yes       resolve           SAP    SAP    -        -      SAP    -
chair  yes       decline           SAP    SAP    -        -      SAP    -
chair  yes       duplicate         SAP    SAP    -        -      SAP    -
chair  yes       reassign          -      SAP    -        -      SAP    -
chair  yes       wage_verify       SAP    SAP    -        -      SAP    -
chair  yes       wage_promise      SAP    SAP    -        -      SAP    -
chair  yes       wage_partial      SAP    SAP    -        -      SAP    -
chair  yes       wage_paid         SAP    SAP    -        -      SAP    -
upper  no        acknowledge       S      S      -        S      S      -
upper  no        reply             SAP    SAP    -        SAP    SAP    -
upper  no        note              SAPR   SAPR   -        SAPR   SAPR   -
upper  no        escalate          -      -      -        -      -      -
upper  no        refer             -      SAP    -        -      SAP    -
upper  no        management_reply  -      -      -        -      SAP    -
upper  no        resolve           SAP    SAP    -        SAP    SAP    -
upper  no        decline           SAP    SAP    -        SAP    SAP    -
upper  no        duplicate         SAP    SAP    -        SAP    SAP    -
upper  no        reassign          -      SAP    -        -      SAP    -
upper  no        wage_verify       SAP    SAP    -        SAP    SAP    -
upper  no        wage_promise      SAP    SAP    -        SAP    SAP    -
upper  no        wage_partial      SAP    SAP    -        SAP    SAP    -
upper  no        wage_paid         SAP    SAP    -        SAP    SAP    -
upper  yes       acknowledge       S      S      -        S      S      -
upper  yes       reply             SAP    SAP    -        SAP    SAP    -
upper  yes       note              SAPR   SAPR   -        SAPR   SAPR   -
upper  yes       escalate          -      -      -        -      -      -
upper  yes       refer             -      -      -        -      -      -
upper  yes       management_reply  -      -      SAP      -      SAP    -
upper  yes       resolve           SAP    SAP    -        SAP    SAP    -
upper  yes       decline           SAP    SAP    -        SAP    SAP    -
upper  yes       duplicate         SAP    SAP    -        SAP    SAP    -
upper  yes       reassign          -      SAP    -        -      SAP    -
upper  yes       wage_verify       SAP    SAP    -        SAP    SAP    -
upper  yes       wage_promise      SAP    SAP    -        SAP    SAP    -
upper  yes       wage_partial      SAP    SAP    -        SAP    SAP    -
upper  yes       wage_paid         SAP    SAP    -        SAP    SAP    -
"""
STATUS_LETTERS = {"S": Status.SUBMITTED, "A": Status.ACKNOWLEDGED, "P": Status.IN_PROGRESS,
                  "R": Status.RESOLVED, "C": Status.CLOSED, "D": Status.DECLINED}
_HEADER, *_ROWS = (line.split() for line in OFFICER_MATRIX.strip().splitlines())
MATRIX_ROLES = [Role(name) for name in _HEADER[3:]]


def test_officer_matrix_covers_every_action_and_situation() -> None:
    assert set(STATUS_LETTERS.values()) == set(Status)
    assert set(MATRIX_ROLES) == set(Role)
    situations = {(level, referred, action) for level, referred, action, *_ in _ROWS}
    assert len(situations) == len(_ROWS) == len(Level) * 2 * len(TRANSITIONS)
    assert {action for _, _, action in situations} == set(TRANSITIONS)


def test_wage_milestones_only_on_wage_cases() -> None:
    for category in Category:
        request = ServiceRequest(status=Status.IN_PROGRESS, level=Level.CADRE, referred=False,
                                 category=category)
        allowed = officer_may(Officer(role=Role.CHAIR, id=1), "wage_partial", request)
        assert allowed == (category == Category.WAGES), category


@pytest.mark.parametrize("row", _ROWS, ids=lambda row: "-".join(row[:3]))
def test_officer_transition_matrix(row: list[str]) -> None:
    level, referred, action, *cells = row
    wrong = []
    for role, cell in zip(MATRIX_ROLES, cells, strict=True):
        allowed = {STATUS_LETTERS[letter] for letter in cell.strip("-")}
        for status in Status:
            request = ServiceRequest(status=status, level=Level(level), referred=referred == "yes",
                                     category=Category.WAGES)
            if officer_may(Officer(role=role, id=1), action, request) != (status in allowed):
                wrong.append((role.value, status.value))
    assert wrong == []


# Which worker actions each status offers, unrated and rated; by hand, like the table above.
WORKER_MATRIX: dict[tuple[Status, bool], set[str]] = {
    (Status.SUBMITTED, False): {"worker_reply"},
    (Status.SUBMITTED, True): {"worker_reply"},
    (Status.ACKNOWLEDGED, False): {"worker_reply"},
    (Status.ACKNOWLEDGED, True): {"worker_reply"},
    (Status.IN_PROGRESS, False): {"worker_reply"},
    (Status.IN_PROGRESS, True): {"worker_reply"},
    (Status.RESOLVED, False): {"worker_reply", "confirm", "reopen", "rate"},
    (Status.RESOLVED, True): {"worker_reply", "confirm", "reopen"},
    (Status.CLOSED, False): {"rate"},
    (Status.CLOSED, True): set(),
    (Status.DECLINED, False): set(),
    (Status.DECLINED, True): set(),
}


@pytest.mark.parametrize(("status", "rated"), list(WORKER_MATRIX))
def test_worker_transition_matrix(status: Status, rated: bool) -> None:
    request = ServiceRequest(status=status, rating=4 if rated else None)
    assert set(worker_actions(request)) == WORKER_MATRIX[status, rated]


async def test_full_lifecycle_with_events(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    chair = await Officer.get(phone="13900000010").select_related("union")
    manager = await Officer.get(phone="13900000019").select_related("union")
    upper = await Officer.get(phone="13900000002").select_related("union")
    A = ActionInput

    async def fresh() -> ServiceRequest:
        return await ServiceRequest.get(id=item.id)

    # Refused: resolve without a note; the manager before referral; upper before escalation.
    with pytest.raises(DomainError):
        await apply_officer_action(cadre, await fresh(), "resolve", A(note=""))
    with pytest.raises(DomainError):
        await apply_officer_action(manager, await fresh(), "management_reply", A(note="x"))
    with pytest.raises(DomainError):
        await apply_officer_action(upper, await fresh(), "reply", A(note="x"))
    await apply_officer_action(cadre, await fresh(), "acknowledge", A())
    assert (await fresh()).status == Status.ACKNOWLEDGED
    with pytest.raises(DomainError):
        await apply_officer_action(cadre, await fresh(), "acknowledge", A())
    await apply_officer_action(cadre, await fresh(), "reply", A(note="已联系班组长"))
    await apply_officer_action(cadre, await fresh(), "note", A(note="班组长说老板拖欠"))
    await apply_officer_action(cadre, await fresh(), "escalate", A())
    assert (await fresh()).level == Level.CHAIR
    with pytest.raises(DomainError):  # a cadre cannot escalate past the chair
        await apply_officer_action(cadre, await fresh(), "escalate", A())
    await apply_officer_action(chair, await fresh(), "refer", A(note="请项目部核实工资发放"))
    await apply_officer_action(manager, await fresh(), "management_reply",
                                   A(note="本周五前补发"))
    await apply_officer_action(chair, await fresh(), "resolve", A(note="工资已补发"))
    done = await fresh()
    assert done.status == Status.RESOLVED and done.resolved_on_time
    assert done.resolve_seconds is not None and done.ack_seconds is not None
    await apply_worker_action(member, done, "reopen", A(note="只发了一半"))
    assert (await fresh()).status == Status.IN_PROGRESS and (await fresh()).resolved_at is None
    await apply_officer_action(chair, await fresh(), "resolve", A(note="余款已发"))
    cid = uuid.uuid4()
    await apply_worker_action(member, await fresh(), "confirm", A(client_id=cid))
    again = await apply_worker_action(member, await fresh(), "confirm", A(client_id=cid))
    assert again.client_id == cid  # replayed, not refused
    await apply_worker_action(member, await fresh(), "rate", A(rating=5, note="谢谢工会"))
    with pytest.raises(DomainError):
        await apply_worker_action(member, await fresh(), "rate", A(rating=1))
    final = await fresh()
    assert final.status == Status.CLOSED and final.rating == 5
    kinds = [e.kind for e in await RequestEvent.filter(request_id=item.id).order_by("id")]
    assert kinds == [
        EventKind.SUBMITTED, EventKind.ACKNOWLEDGED, EventKind.REPLY, EventKind.NOTE,
        EventKind.ESCALATED, EventKind.REFERRED, EventKind.MANAGEMENT_REPLY,
        EventKind.RESOLVED, EventKind.REOPENED, EventKind.RESOLVED, EventKind.CONFIRMED,
        EventKind.RATED,
    ]
    internal = await RequestEvent.filter(request_id=item.id, public=False).values_list(
        "kind", flat=True)
    assert list(internal) == [EventKind.NOTE]


async def test_decline_and_duplicate(app: Any) -> None:
    member = await make_member(app)
    a = await make_request(member, text="宿舍没有热水")
    b = await make_request(member, text="宿舍热水坏了")
    chair = await Officer.get(phone="13900000010").select_related("union")
    with pytest.raises(DomainError):
        await apply_officer_action(chair, b, "duplicate", ActionInput(duplicate_of=b.id))
    await apply_officer_action(chair, b, "duplicate", ActionInput(duplicate_of=a.id))
    b2 = await ServiceRequest.get(id=b.id)
    # A duplicate follows its master (issue 12): never declined for being one.
    assert b2.status == Status.SUBMITTED and b2.duplicate_of_id == a.id  # type: ignore[attr-defined]
    with pytest.raises(DomainError):
        await apply_officer_action(chair, a, "decline", ActionInput(note=""))
    await apply_officer_action(chair, a, "decline", ActionInput(note="不属于工会职责"))
    assert (await ServiceRequest.get(id=a.id)).status == Status.DECLINED
    # …unless the master itself is declined: then so is it, with the same public reason.
    assert (await ServiceRequest.get(id=b.id)).status == Status.DECLINED


async def test_two_officers_at_once_one_wins(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    chair = await Officer.get(phone="13900000010").select_related("union")
    results = await asyncio.gather(
        apply_officer_action(cadre, item, "acknowledge", ActionInput()),
        apply_officer_action(chair, item, "acknowledge", ActionInput()),
        return_exceptions=True)
    assert sum(1 for r in results if isinstance(r, DomainError)) == 1
    assert await RequestEvent.filter(request_id=item.id, kind=EventKind.ACKNOWLEDGED).count() == 1


# --- deadlines ---------------------------------------------------------------------------

def test_add_workdays_skips_weekends() -> None:
    friday = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # Friday 18:00 in Beijing
    assert deadlines.add_workdays(friday, 1).weekday() == 0  # Monday
    assert deadlines.add_workdays(friday, 3) == datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    assert deadlines.add_workdays(saturday, 1).astimezone(deadlines.CHINA).weekday() == 1


def test_add_workdays_follows_chinas_holiday_calendar() -> None:
    china = deadlines.CHINA
    # Filed on Wednesday 30 September 2026, 10:00: the National Day holiday runs 1–7 October
    # and Saturday 10 October is a working day made up for it (调休).
    eve = datetime(2026, 9, 30, 10, 0, tzinfo=china)
    assert deadlines.add_workdays(eve, 1) == datetime(2026, 10, 8, 10, 0, tzinfo=china)
    assert deadlines.add_workdays(eve, 3) == datetime(2026, 10, 10, 10, 0, tzinfo=china)
    # Filed during Spring Festival (15–23 February 2026): counted from the first working day.
    festival = datetime(2026, 2, 17, 20, 0, tzinfo=china)
    assert deadlines.add_workdays(festival, 1) == datetime(2026, 2, 25, 9, 0, tzinfo=china)
    assert not deadlines.is_workday(date(2026, 10, 1))
    assert deadlines.is_workday(date(2026, 10, 10))  # a Saturday, worked
    # A year the calendar does not know yet: Monday to Friday.
    assert deadlines.is_workday(date(2099, 10, 1)) == (date(2099, 10, 1).weekday() < 5)


async def test_deadline_job_escalates_once_per_level(app: Any) -> None:
    member = await make_member(app)
    filed_at = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday morning in Beijing
    item = await make_request(member, now=filed_at)
    assert item.ack_due_at == filed_at + timedelta(hours=24)
    assert item.resolve_due_at == deadlines.add_workdays(filed_at, 2)  # wages: 2 days
    # Not overdue yet: nothing happens.
    await run_deadline_job(filed_at + timedelta(hours=23))
    assert (await ServiceRequest.get(id=item.id)).level == Level.CADRE
    # Overdue: two job runs racing escalate it exactly once.
    late = filed_at + timedelta(hours=25)
    await asyncio.gather(run_deadline_job(late), run_deadline_job(late))
    after = await ServiceRequest.get(id=item.id)
    assert after.level == Level.CHAIR
    events = await RequestEvent.filter(request_id=item.id, kind=EventKind.AUTO_ESCALATED)
    assert len(events) == 1 and events[0].actor_id is None  # type: ignore[attr-defined]
    # Running again at the same time changes nothing; after the chair's time runs out too,
    # it goes to the upper union, and never further.
    await run_deadline_job(late)
    assert await RequestEvent.filter(request_id=item.id, kind=EventKind.AUTO_ESCALATED).count() == 1
    much_later = late + timedelta(days=10)
    await run_deadline_job(much_later)
    await run_deadline_job(much_later + timedelta(days=10))
    final = await ServiceRequest.get(id=item.id)
    assert final.level == Level.UPPER
    assert await RequestEvent.filter(request_id=item.id, kind=EventKind.AUTO_ESCALATED).count() == 2


async def test_resolved_requests_auto_close_after_a_week(app: Any) -> None:
    member = await make_member(app)
    t0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)
    item = await make_request(member, now=t0)
    chair = await Officer.get(phone="13900000010").select_related("union")
    await apply_officer_action(chair, item, "resolve", ActionInput(note="已解决"),
                                   now=t0 + timedelta(hours=2))
    await run_deadline_job(t0 + timedelta(days=3))
    assert (await ServiceRequest.get(id=item.id)).status == Status.RESOLVED
    await run_deadline_job(t0 + timedelta(days=8))
    assert (await ServiceRequest.get(id=item.id)).status == Status.CLOSED
    assert await RequestEvent.filter(request_id=item.id, kind=EventKind.AUTO_CLOSED).count() == 1


async def test_chair_sets_deadlines(app: Any) -> None:
    async with new_client(app) as c:
        await login(c, "13900000010")
        page = await c.get("/officer/deadlines")
        assert page.status_code == 200
        token = csrf_of(page.text)
        data: dict[str, str] = {"csrf_token": token}
        for category in Category:
            data[f"ack_{category}"] = "12"
            data[f"days_{category}"] = "1" if category == "wages" else "3"
        bad = await c.post("/officer/deadlines", data={**data, "ack_other": "0"})
        assert bad.status_code == 422 and "受理时限" in bad.text
        # All or nothing: the ten good rows before the bad one were not saved either.
        assert not await CategoryDeadline.filter(project__code="xibailiang").exists()
        ok = await c.post("/officer/deadlines", data=data)
        assert ok.status_code == 303
    member = await make_member(app)
    t0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    item = await make_request(member, now=t0)
    assert item.ack_due_at == t0 + timedelta(hours=12)
    assert item.resolve_due_at == deadlines.add_workdays(t0, 1)
    async with new_client(app) as c:
        await login(c, XBL_CADRE)
        assert (await c.get("/officer/deadlines")).status_code == 403
    await CategoryDeadline.all().delete()


# --- worker side over HTTP -----------------------------------------------------------------

async def test_worker_sees_public_timeline_and_unread(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    await apply_officer_action(cadre, item, "note", ActionInput(note="内部：老板难缠"))
    await apply_officer_action(cadre, await ServiceRequest.get(id=item.id), "reply",
                                   ActionInput(note="我们正在联系项目部"))
    async with member_client(app, member) as c:
        badge = await c.get("/me/badges")
        assert '<span class="count">1</span>' in badge.text
        page = await c.get(f"/requests/{item.id}")
        assert "我们正在联系项目部" in page.text and "老板难缠" not in page.text
        assert 'class="event event-reply unread"' in page.text
        badge = await c.get("/me/badges")
        assert "count" not in badge.text
        # Another member's request is not found.
        other = await make_request(await make_member(app))
        assert (await c.get(f"/requests/{other.id}")).status_code == 404
        token = csrf_of(page.text)
        r = await c.post(f"/requests/{item.id}/worker_reply", data={
            "csrf_token": token, "note": "补充：一共欠了两个月", "client_id": str(uuid.uuid4())})
        assert r.status_code == 303
        bad = await c.post(f"/requests/{item.id}/confirm", data={"csrf_token": token})
        assert bad.status_code == 422 and "不能做这个操作" in bad.text
