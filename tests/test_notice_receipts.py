"""Read receipts: one INSERT … ON CONFLICT DO NOTHING per first opening (grouped with the
openings that arrive with it), counted once however many openings arrive at the same moment,
and the few statements a notice page runs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.db import GroupInsert, get_with_related
from server.models import Member, Notice, NoticeRead, Officer, SessionKind
from server.services import notices, sessions
from server.web.sessions import SESSION_COOKIE
from tests.conftest import CXG_CHAIR, UPPER, XBL_CHAIR, new_client
from tests.factories import make_member, member_client
from tests.test_notices import published


class _Statements(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.sql: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if not text.startswith(("Created connection", "Closed connection")):
            self.sql.append(text)


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """Every statement Tortoise sends meanwhile (its own and hand-written ones; it logs
    each at DEBUG, BEGIN and COMMIT excepted)."""
    logger = logging.getLogger("tortoise.db_client")
    handler, level = _Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler.sql
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


@contextlib.asynccontextmanager
async def signed_in(app: Any, member: Member) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding a fresh session of `member`, opened directly (the sign-in flow is
    not what these tests are about, and forty re-binds would be)."""
    key = sessions.new_key()
    await sessions.open_session(SessionKind.MEMBER, member.id, member.session_epoch, key,
                                sessions.new_csrf(), timedelta(days=1))
    async with new_client(app) as c:
        c.cookies.set(SESSION_COOKIE, key)
        yield c


async def test_statements_of_a_notice_page(app: Any) -> None:
    member = await make_member(app, team="钢筋班组")
    notice = await published(app, XBL_CHAIR, scope="project", needs_ack="1")
    async with member_client(app, member) as c:
        with statements() as first:
            page = await c.get(f"/notices/{notice.id}")
        with statements() as again:
            second = await c.get(f"/notices/{notice.id}")
    assert page.status_code == second.status_code == 200
    assert notice.title in page.text and "我已知晓" in page.text
    # Session, member, the notice with this member's read and acknowledged flags, the
    # receipt. Before: those plus an exists check and a separate acknowledgement query,
    # and the receipt inside BEGIN … COMMIT (8 round trips; 5 when opened again).
    assert len(first) == 4, first
    assert "ON CONFLICT" in first[-1] and first[-1].startswith("INSERT INTO notice_read")
    # Opened again: nothing written.
    assert len(again) == 3 and not any(s.startswith("INSERT") for s in again), again
    assert await NoticeRead.filter(notice_id=notice.id, member_id=member.id).count() == 1


async def test_forty_openings_by_one_member_make_one_receipt(app: Any) -> None:
    member = await make_member(app, team="木工班组")
    notice = await published(app, XBL_CHAIR, scope="team", team=str(member.team.id))
    async with signed_in(app, member) as c:
        pages = await asyncio.gather(*(c.get(f"/notices/{notice.id}") for _ in range(40)))
    assert [p.status_code for p in pages] == [200] * 40
    assert await NoticeRead.filter(notice_id=notice.id).count() == 1
    assert await NoticeRead.filter(notice_id=notice.id, member_id=member.id).count() == 1


async def test_forty_members_opening_at_once_make_forty_receipts(app: Any) -> None:
    readers = [await make_member(app, team="架子班组") for _ in range(40)]
    outsider = await make_member(app, team="钢筋班组")
    notice = await published(app, XBL_CHAIR, scope="team", team=str(readers[0].team.id),
                             kind="wages", title="架子班组工资15日发放")

    async def open_twice(member: Member) -> list[int]:
        async with signed_in(app, member) as c:
            pages = await asyncio.gather(c.get(f"/notices/{notice.id}"),
                                         c.get(f"/notices/{notice.id}"))
        return [p.status_code for p in pages]

    codes = await asyncio.gather(*(open_twice(m) for m in [*readers, outsider]))
    assert codes == [[200, 200]] * 40 + [[404, 404]]
    rows = await NoticeRead.filter(notice_id=notice.id).values_list("member_id", flat=True)
    assert sorted(rows) == sorted(m.id for m in readers)  # type: ignore[type-var]
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    counts = await notices.receipts(notice)
    assert counts.read == 40 and counts.recipients >= 40
    not_read = {u.id for u in await notices.not_read_by_my_members(notice, chair)}
    assert not_read.isdisjoint(m.id for m in readers) and outsider.id not in not_read


async def test_receipts_recorded_at_once_by_the_service(app: Any) -> None:
    members = [await make_member(app) for _ in range(40)]
    notice = await published(app, XBL_CHAIR, scope="project")
    # Forty at once for one member, then forty members at once (grouped into statements).
    await asyncio.gather(*(notices.record_read(notice.id, members[0].id) for _ in range(40)))
    assert await NoticeRead.filter(notice_id=notice.id).count() == 1
    opened = await asyncio.gather(*(notices.open_for_member(m, notice.id) for m in members))
    assert all(o is not None and o.notice.id == notice.id for o in opened)
    assert await NoticeRead.filter(notice_id=notice.id).count() == 40


async def test_a_bad_row_fails_only_its_own_caller(app: Any) -> None:
    member = await make_member(app)
    notice = await published(app, XBL_CHAIR, scope="project")
    others = [await make_member(app) for _ in range(5)]
    writer = GroupInsert("notice_read", ("notice_id", "member_id", "created_at"),
                         conflict=("notice_id", "member_id"))
    now = datetime.now(UTC)
    rows = [(notice.id, m.id, now) for m in [member, *others]]
    rows.insert(3, (notice.id, member.id, None))  # NOT NULL violated
    outcomes = await asyncio.gather(*(writer.insert(r) for r in rows), return_exceptions=True)
    assert [isinstance(o, Exception) for o in outcomes] == [False] * 3 + [True] + [False] * 3
    assert await NoticeRead.filter(notice_id=notice.id).count() == 6
    # The writer is free again afterwards.
    extra = await make_member(app)
    await asyncio.wait_for(writer.insert((notice.id, extra.id, now)), 10)
    assert await NoticeRead.filter(notice_id=notice.id, member_id=extra.id).exists()


async def test_cancelled_callers_do_not_stall_the_others(app: Any) -> None:
    notice = await published(app, XBL_CHAIR, scope="project")
    members = [await make_member(app) for _ in range(12)]
    writer = GroupInsert("notice_read", ("notice_id", "member_id", "created_at"),
                         conflict=("notice_id", "member_id"))
    now = datetime.now(UTC)
    tasks = [asyncio.create_task(writer.insert((notice.id, m.id, now))) for m in members]
    await asyncio.sleep(0)  # all queued: the first writes, the others wait
    cancelled = tasks[1:12:2]
    for task in cancelled:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=10)
    assert not pending
    kept = [m.id for m, t in zip(members, tasks, strict=True) if t not in cancelled]
    assert all(not t.cancelled() and t.exception() is None
               for t in tasks if t not in cancelled)
    written = set(await NoticeRead.filter(notice_id=notice.id).values_list(
        "member_id", flat=True))
    assert set(kept) <= written
    await asyncio.wait_for(writer.insert((notice.id, members[1].id, now)), 10)
    assert await NoticeRead.filter(notice_id=notice.id, member_id=members[1].id).exists()


async def test_group_insert_refuses_a_transaction(app: Any) -> None:
    from server.db import transaction

    writer = GroupInsert("notice_read", ("notice_id", "member_id", "created_at"),
                         conflict=("notice_id", "member_id"))
    async with transaction():
        with pytest.raises(RuntimeError):
            await writer.insert((1, 1, datetime.now(UTC)))


async def test_reaches_agrees_with_the_scope_filter(app: Any) -> None:
    steel = await make_member(app, team="钢筋班组")
    wood = await make_member(app, team="木工班组")
    elsewhere = await make_member(app, "chuangxingang")
    await Member.filter(id=elsewhere.id).update(status="active")
    cadre = await Officer.get(id=steel.liaison_id)  # type: ignore[attr-defined]
    made = [
        await published(app, XBL_CHAIR, scope="project"),
        await published(app, XBL_CHAIR, scope="team", team=str(steel.team.id)),
        await published(app, cadre.phone, scope="mine"),
        await published(app, UPPER, scope="below"),
        await published(app, CXG_CHAIR, scope="project"),
        await published(app, XBL_CHAIR, scope="project", expires_days="1"),
    ]
    later = datetime.now(UTC) + timedelta(days=2)
    for member_id in (steel.id, wood.id, elsewhere.id):
        member = await Member.get(id=member_id).select_related("project", "team", "liaison")
        for notice in made:
            row = await Notice.get(id=notice.id)
            for now in (datetime.now(UTC), later):
                by_filter = await Notice.filter(notices.for_member(member, now),
                                                id=notice.id).exists()
                assert notices.reaches(row, member, now) == by_filter, (
                    member.id, notice.scope, now)


async def test_member_lookup_matches_the_orm(app: Any) -> None:
    plain = await make_member(app, "chuangxingang")
    teamed = await make_member(app, team="钢筋班组")
    for member in (plain, teamed):
        orm = await Member.get(id=member.id).select_related("project", "team", "liaison")
        fast = await get_with_related(Member, member.id, "project", "team", "liaison")
        assert fast is not None
        for name in Member._meta.fields_db_projection:
            assert getattr(fast, name) == getattr(orm, name), name
        for attr in ("project", "team", "liaison"):
            mine, theirs = getattr(fast, attr), getattr(orm, attr)
            assert (mine is None) == (theirs is None)
            if theirs is not None:
                assert dict(mine) == dict(theirs), attr
    assert await get_with_related(Member, 2**31 - 1, "project") is None
