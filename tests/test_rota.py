"""The duty rota (值日): the chair's week saved whole, today's duty shown to workers in China
time, and requests filed in the day's duty category marked for the department on duty."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from server.errors import DomainError
from server.models import (
    Anonymity,
    AuditEntry,
    Category,
    DutyDay,
    Officer,
    ServiceRequest,
    UnionNode,
    Urgency,
)
from server.services import demo, rota
from server.services import requests as svc
from tests.conftest import CXG_CHAIR, XBL_CADRE, XBL_CHAIR, csrf_of
from tests.factories import make_member, member_client, officer_client

MONDAY = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00 in China
TUESDAY = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
FRIDAY = datetime(2026, 3, 6, 3, 0, tzinfo=UTC)
# 17:00 UTC on Sunday is already 01:00 on Monday in China.
SUNDAY_UTC_MONDAY_CHINA = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)


async def xbl() -> UnionNode:
    return await UnionNode.get(code="xibailiang")


async def seed_week(project: UnionNode) -> None:
    await rota.set_week(project, demo.ROTAS["xibailiang"])


def week_form(token: str, **overrides: str) -> dict[str, str]:
    form = {"csrf_token": token}
    for n, row in enumerate(demo.ROTAS["xibailiang"]):
        form.update({f"theme_{n}": row.theme, f"department_{n}": row.department,
                     f"officer_{n}": "", f"category_{n}": row.category or "",
                     f"line_{n}": row.line})
    form.update(overrides)
    return form


async def test_today_is_the_weekday_in_china(app: Any) -> None:
    project = await xbl()
    await seed_week(project)
    assert (await rota.today(project, MONDAY)).department == "益康医药"  # type: ignore[union-attr]
    assert (await rota.today(project, TUESDAY)).department == "安全部"  # type: ignore[union-attr]
    monday = await rota.today(project, SUNDAY_UTC_MONDAY_CHINA)
    assert monday is not None and monday.weekday == 0
    assert await rota.today(project, datetime(2026, 3, 7, 3, 0, tzinfo=UTC)) is None  # Saturday
    assert rota.invites_suggestions(await rota.today(project, FRIDAY))
    assert not rota.invites_suggestions(await rota.today(project, TUESDAY))


async def test_demo_week_is_loaded_once(app: Any) -> None:
    project = await xbl()
    await seed_week(project)
    await DutyDay.filter(project=project, weekday=2).update(department="质量安全部")
    await demo.load_demo()
    assert await DutyDay.filter(project=project).count() == 5
    assert (await DutyDay.get(project=project, weekday=2)).department == "质量安全部"


async def test_set_week_is_all_or_nothing(app: Any) -> None:
    project = await xbl()
    await seed_week(project)
    other = await Officer.get(phone=CXG_CHAIR)  # another project's chair
    rows = list(demo.ROTAS["xibailiang"])
    rows[0] = rota.DutyRow("医疗", "别的药房", None, Category.HEALTH, "")
    rows[3] = rota.DutyRow("党群", "党群口", other.id, None, "")
    with pytest.raises(DomainError) as bad_officer:
        await rota.set_week(project, rows)
    assert bad_officer.value.field == "officer_3"
    rows[3] = rota.DutyRow(line="只有一句话")
    with pytest.raises(DomainError) as no_theme:
        await rota.set_week(project, rows)
    assert no_theme.value.field == "theme_3"
    with pytest.raises(DomainError):
        await rota.set_week(project, rows[:6])
    assert (await DutyDay.get(project=project, weekday=0)).department == "益康医药"
    with pytest.raises(DomainError) as too_long:
        rota.rows_from_form({"theme_5": "长" * (rota.THEME_MAX + 1)})
    assert too_long.value.field == "theme_5"
    with pytest.raises(DomainError) as bad_category:
        rota.rows_from_form({"theme_1": "安全", "category_1": "nonsense"})
    assert bad_category.value.field == "category_1"
    # Emptying a day removes it; a project officer may be named.
    chair = await Officer.get(phone=XBL_CHAIR)
    rows = list(demo.ROTAS["xibailiang"])
    rows[1] = rota.DutyRow("安全", "安全部", chair.id, Category.SAFETY, "")
    rows[4] = rota.DutyRow()
    await rota.set_week(project, rows)
    assert (await DutyDay.get(project=project, weekday=1)).officer_id == chair.id  # type: ignore[attr-defined]
    assert not await DutyDay.exists(project=project, weekday=4)


async def test_only_the_chair_edits_the_rota(app: Any) -> None:
    project = await xbl()
    await seed_week(project)
    async with officer_client(app, XBL_CADRE) as c:
        assert (await c.get("/officer/rota")).status_code == 403
        assert "/officer/rota" not in (await c.get("/officer/requests")).text
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get("/officer/rota")
        assert page.status_code == 200 and 'value="安全部"' in page.text
        assert 'href="/officer/rota"' in page.text
        token = csrf_of(page.text)
        before = await AuditEntry.filter(action="rota.update").count()
        bad = await c.post("/officer/rota", data=week_form(
            token, department_0="换了", theme_2="长" * (rota.THEME_MAX + 1)))
        assert bad.status_code == 422
        assert (await DutyDay.get(project=project, weekday=0)).department == "益康医药"
        ok = await c.post("/officer/rota", data=week_form(token, department_2="质检部"))
        assert ok.status_code == 303 and ok.headers["location"] == "/officer/rota?saved=1"
        assert (await DutyDay.get(project=project, weekday=2)).department == "质检部"
        assert await AuditEntry.filter(action="rota.update").count() == before + 1
    async with officer_client(app, CXG_CHAIR) as c:
        token = csrf_of((await c.get("/officer/rota")).text)
        await c.post("/officer/rota", data=week_form(token, department_2="别人的"))
    assert (await DutyDay.get(project=project, weekday=2)).department == "质检部"


async def test_todays_duty_on_home_and_inbox(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    await seed_week(await xbl())
    member = await make_member(app)
    async with member_client(app, member) as c:
        monkeypatch.setattr(rota, "clock", lambda: TUESDAY)
        for path in ("/me", "/inbox"):
            text = (await c.get(path)).text
            assert "今日值日：安全部 · 安全" in text, path
            assert "/requests/new?category=suggestion" not in text
        monkeypatch.setattr(rota, "clock", lambda: FRIDAY)
        for path in ("/me", "/inbox"):
            text = (await c.get(path)).text
            assert "今日值日：大家谈" in text, path
            assert 'href="/requests/new?category=suggestion"' in text and "提建议" in text
        monkeypatch.setattr(rota, "clock", lambda: datetime(2026, 3, 8, 3, 0, tzinfo=UTC))
        assert "今日值日" not in (await c.get("/me")).text  # Sunday: nobody on duty


async def test_requests_in_the_duty_category_are_marked(app: Any) -> None:
    await seed_week(await xbl())
    member = await make_member(app)

    def new(category: Category) -> svc.NewRequest:
        return svc.NewRequest(uuid.uuid4(), category, "脚手架松了", Urgency.NORMAL,
                              Anonymity.MANAGEMENT)

    safety, wages, monday = new(Category.SAFETY), new(Category.WAGES), new(Category.SAFETY)
    await svc.file_request(member, safety, [], now=TUESDAY)
    await svc.file_request(member, wages, [], now=TUESDAY)
    await svc.file_request(member, monday, [], now=MONDAY)
    b_safety, b_living = new(Category.SAFETY), new(Category.LIVING)
    await svc.file_requests(member, [b_living, b_safety], now=TUESDAY)
    duty = {r.client_id: r.duty for r in await ServiceRequest.filter(member=member)}
    assert duty == {safety.client_id: "安全部", wages.client_id: None, monday.client_id: None,
                    b_safety.client_id: "安全部", b_living.client_id: None}
    item = await ServiceRequest.get(client_id=safety.client_id)
    async with officer_client(app, XBL_CHAIR) as c:
        assert "值日：安全部" in (await c.get(f"/officer/requests/{item.id}")).text
        other = await ServiceRequest.get(client_id=wages.client_id)
        assert "值日：" not in (await c.get(f"/officer/requests/{other.id}")).text
