"""Nothing shown to management or the upper union points to a person: every role against
every page, fragment and export that shows requests or figures, on a small project whose
wage requests number 3, so that a cell is under k = 5."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from server import privacy
from server.models import (
    Anonymity,
    Category,
    Member,
    NodeKind,
    Officer,
    ServiceRequest,
    Team,
)
from server.passwords import hash_password
from server.services import exports
from server.services.demo import ensure_node
from server.services.lifecycle import ActionInput, apply_officer_action
from server.validation import mask_phone
from tests.conftest import ADMIN, UPPER, csrf_of, login, new_client
from tests.factories import make_member, make_request, member_client

PASSWORD = "privacy-password-1"
CODE = "privk"
TEAM = "保密测试班组"
LIAISON = "联络干部甲某"
NAMES = ("欧阳甲秘", "司马乙秘", "诸葛丙秘")
REFERRED_TEXT = "转给项目部的工资诉求"
UNREFERRED_TEXT = "没有转出的工资诉求"
ALL_TEXT = "谁也不让知道的安全诉求"
REFER_NOTE = "请项目部核对考勤"
INTERNAL_NOTE = "内部备注不外传"
REPLY_TEXT = "给工友的回复不外传"
ESCALATE_NOTE = "上报上级工会的说明"
CHAIR_NOTE = "上报主席的说明不给上级看"
# The period the project's requests are filed in: nothing else in the suite is filed then.
DAY = datetime(2021, 3, 3, 4, 0, tzinfo=UTC)
PERIOD = {"start": "2021-03-01", "end": "2021-03-10"}


@dataclass
class World:
    members: list[Member]
    referred: ServiceRequest
    unreferred: ServiceRequest
    hidden: ServiceRequest  # anonymous to everyone, referred
    phones: dict[str, str]  # role -> officer phone


@pytest.fixture(scope="module")
async def world(app: Any) -> World:
    project = await ensure_node(CODE, "保密测试项目", NodeKind.PROJECT, "cscec1-xibei", True)
    await Team.get_or_create(project=project, name=TEAM)
    phones = {"chair": "13700000051", "cadre": "13700000052", "manager": "13700000059"}
    for role, name in (("chair", "保密项目主席"), ("cadre", LIAISON), ("manager", "保密项目经理")):
        await Officer.get_or_create(phone=phones[role], defaults={
            "name": name, "role": role, "union": project,
            "password_hash": hash_password(PASSWORD)})
    members = [await make_member(app, CODE, name=name, team=TEAM) for name in NAMES]
    a, b, c = members
    chair = await Officer.get(phone=phones["chair"]).select_related("union")
    cadre = await Officer.get(phone=phones["cadre"]).select_related("union")
    A = ActionInput

    async def act(item: ServiceRequest, action: str, note: str = "",
                  by: Officer | None = None) -> None:
        fresh = await ServiceRequest.get(id=item.id)
        await apply_officer_action(by or chair, fresh, action, A(note=note), now=DAY)

    # Wages: 3 (under k); living: 5; safety: 6 (with the anonymous one); 14 in all.
    referred = await make_request(a, Category.WAGES, text=REFERRED_TEXT, now=DAY)
    unreferred = await make_request(a, Category.WAGES, text=UNREFERRED_TEXT, now=DAY)
    await make_request(c, Category.WAGES, text="第三条工资诉求", now=DAY)
    for i in range(5):
        await make_request(c, Category.LIVING, text=f"住宿诉求 {i}", now=DAY)
    for i in range(5):
        await make_request(c, Category.SAFETY, text=f"安全诉求 {i}", now=DAY)
    hidden = await make_request(b, Category.SAFETY, Anonymity.ALL, text=ALL_TEXT, now=DAY)
    for item in (referred, unreferred, hidden):
        await act(item, "note", INTERNAL_NOTE)
        await act(item, "reply", REPLY_TEXT)
    for item in (referred, hidden):
        await act(item, "refer", REFER_NOTE)
    await act(referred, "escalate", CHAIR_NOTE, by=cadre)  # cadre level → chair
    await act(referred, "escalate", ESCALATE_NOTE)  # chair → upper union
    members = [await Member.get(id=m.id) for m in members]
    return World(members, referred, unreferred, hidden, phones)


ROLES = ["admin", "upper", "chair", "cadre", "manager", "worker"]
OUTSIDE = {"upper", "manager"}
FIGURE_ROLES = {"admin", "upper", "chair", "manager"}


@asynccontextmanager
async def signed_in(app: Any, world: World, role: str) -> AsyncIterator[httpx.AsyncClient]:
    if role == "worker":
        async with member_client(app, world.members[0]) as c:
            yield c
        return
    async with new_client(app) as c:
        phone = {"admin": ADMIN, "upper": UPPER}.get(role) or world.phones[role]
        await login(c, phone, PASSWORD if role in world.phones else
                    "lianxin-demo-2026")
        yield c


HX = {"HX-Request": "true"}
# page name -> (path, query, headers); ids filled in from the world.
PAGES = {
    "dashboard": ("/officer", {}, {}),
    "badges": ("/officer/badges", {}, HX),
    "queue": ("/officer/requests", {"status": "all"}, {}),
    "queue-fragment": ("/officer/requests", {"status": "all"}, HX),
    "request-referred": ("/officer/requests/{referred}", {}, {}),
    "request-referred-fragment": ("/officer/requests/{referred}", {}, HX),
    "request-unreferred": ("/officer/requests/{unreferred}", {}, {}),
    "request-anonymous": ("/officer/requests/{hidden}", {}, {}),
    "request-anonymous-fragment": ("/officer/requests/{hidden}", {}, HX),
    "figures": ("/officer/figures", PERIOD, {}),
    "digest": ("/officer/digest", PERIOD, {}),
    "digest.xlsx": ("/officer/digest.xlsx", PERIOD, {}),
    "worker-request": ("/requests/{referred}", {}, {}),
}
# Who may open what at all (anything else must be refused: 303, 403 or 404).
OPENS = {
    "admin": set(PAGES) - {"worker-request"},
    "upper": set(PAGES) - {"worker-request"},
    "chair": set(PAGES) - {"worker-request"},
    "cadre": {"dashboard", "badges", "queue", "queue-fragment", "request-referred",
              "request-referred-fragment", "request-unreferred", "request-anonymous",
              "request-anonymous-fragment"},
    "manager": {"dashboard", "badges", "queue", "queue-fragment", "request-referred",
                "request-referred-fragment", "request-anonymous", "request-anonymous-fragment",
                "figures", "digest", "digest.xlsx"},
    "worker": {"worker-request"},
}


def text_of(response: httpx.Response) -> str:
    if response.headers.get("content-type", "").startswith("application/vnd.openxml"):
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        return "\n".join(" | ".join("" if c.value is None else str(c.value) for c in row)
                         for sheet in book for row in sheet.iter_rows())
    return response.text


def person_markers(world: World) -> list[str]:
    """Everything that points to one of the project's workers."""
    markers = [LIAISON, TEAM]
    for m in world.members:
        markers += [m.name, m.phone, mask_phone(m.phone)]
        if m.member_no:
            markers.append(m.member_no)
    return markers


@pytest.mark.parametrize("page", list(PAGES))
@pytest.mark.parametrize("role", ROLES)
async def test_nothing_points_to_a_person(app: Any, world: World, role: str,
                                          page: str) -> None:
    path, query, headers = PAGES[page]
    path = path.format(referred=world.referred.id, unreferred=world.unreferred.id,
                       hidden=world.hidden.id)
    async with signed_in(app, world, role) as c:
        response = await c.get(path, params=query, headers=headers)
    if page not in OPENS[role]:
        assert response.status_code in {303, 403, 404}, (role, page, response.status_code)
        return
    assert response.status_code == 200, (role, page, response.status_code)
    text = text_of(response)
    # Nobody but the filer ever reads the name of a worker anonymous to everyone.
    assert world.members[1].name not in text
    if role in OUTSIDE:
        for marker in person_markers(world):
            assert marker not in text, (role, page, marker)
        assert INTERNAL_NOTE not in text and REPLY_TEXT not in text
        assert CHAIR_NOTE not in text
    if role == "manager":
        assert UNREFERRED_TEXT not in text and ESCALATE_NOTE not in text
    if role == "worker":
        assert INTERNAL_NOTE not in text and ESCALATE_NOTE not in text
    # What each reader is there to read is there (so the checks above are not vacuous).
    if page == "request-referred":
        assert REFERRED_TEXT in text
        assert (world.members[0].name in text) == (role in {"admin", "chair", "cadre",
                                                             "worker"})
        assert (LIAISON in text) == (role not in OUTSIDE)
        assert (INTERNAL_NOTE in text) == (role in {"admin", "chair", "cadre"})
        if role in OUTSIDE:
            assert REFER_NOTE in text
            assert (ESCALATE_NOTE in text) == (role == "upper")
            assert "工会主席" in text  # who acted, by role, not by name
    if page == "request-anonymous-fragment" and role not in OUTSIDE:
        assert ALL_TEXT in text and "匿名工友" in text and TEAM not in text
    if page in {"digest", "digest.xlsx"}:
        assert REFERRED_TEXT in text and ALL_TEXT in text
        assert (UNREFERRED_TEXT in text) == (role != "manager")


async def test_answer_fragment_for_management(app: Any, world: World) -> None:
    """The panel an action answers with goes through the same rule as the page."""
    async with signed_in(app, world, "manager") as c:
        page = await c.get(f"/officer/requests/{world.hidden.id}")
        response = await c.post(f"/officer/requests/{world.hidden.id}/management_reply",
                                data={"note": "项目部已安排", "csrf_token": csrf_of(page.text)},
                                headers=HX)
    assert response.status_code == 200 and "项目部已安排" in response.text
    assert ALL_TEXT in response.text and REFER_NOTE in response.text
    for marker in [*person_markers(world), INTERNAL_NOTE, REPLY_TEXT, CHAIR_NOTE,
                   ESCALATE_NOTE]:
        assert marker not in response.text, marker


def cell(html: str, table_id: str, label: str) -> str:
    table = re.search(rf'id="{table_id}".*?</table>', html, re.S)
    assert table, table_id
    match = re.search(rf"<td>{label}</td><td>([^<]*)</td>", table.group(0))
    assert match, (table_id, label)
    return match.group(1)


@pytest.mark.parametrize("role", sorted(FIGURE_ROLES))
async def test_small_cells_read_under_five(app: Any, world: World, role: str) -> None:
    async with signed_in(app, world, role) as c:
        # (The breakdown by status and category; an upper union's /officer/figures is its
        # project table, tested in test_upper_figures.)
        figures = (await c.get("/officer/figures/requests", params=PERIOD)).text
        digest = (await c.get("/officer/digest", params=PERIOD)).text
        xlsx = await c.get("/officer/digest.xlsx", params=PERIOD)
    outside = role in OUTSIDE
    # Wages is 3: "< 5". Living (5) is the smallest other cell, hidden too, or the total
    # (14) minus the visible cells would give the wage count back. Safety (6) stays.
    expected = {"工资": "&lt; 5" if outside else "3", "生活住宿": "≥ 5" if outside else "5",
                "安全": "6"}
    for label, value in expected.items():
        assert cell(figures, "by-category", label) == value, (role, label)
        assert cell(digest, "digest-by-category", label) == value, (role, label)
    assert cell(figures, "by-category", "法律") == "0"  # nobody: points to no one
    assert 'id="fig-total">14<' in figures
    # The 3 replied to are in progress, the other 11 submitted.
    assert cell(figures, "by-status", "办理中") == ("&lt; 5" if outside else "3")
    assert (LIAISON in figures) == (not outside)  # the cadres' load table
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    summary = {row[0].value: row[1].value for row in book.worksheets[0].iter_rows()
               if len(row) > 1}
    assert summary["工资"] == ("< 5" if outside else 3)
    assert summary["生活住宿"] == ("≥ 5" if outside else 5)
    assert summary["安全"] == 6
    if role == "manager":
        # The 12 requests not referred: only as a count.
        assert summary["未转项目管理人员的诉求（只计数）"] == 12
        assert 'id="digest-rest">' in digest
    else:
        assert "未转项目管理人员的诉求（只计数）" not in summary


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_management_export_lists_referred_only(world: World, tmp_path: Path,
                                                     fmt: str) -> None:
    union_copy, management_copy = tmp_path / f"union.{fmt}", tmp_path / f"management.{fmt}"
    await exports.export_requests(union_copy, fmt)
    await exports.export_requests(management_copy, fmt, identities=False)
    union_text, management_text = read_export(union_copy), read_export(management_copy)
    assert world.members[0].name in union_text and UNREFERRED_TEXT in union_text
    assert world.members[1].name not in union_text
    assert REFERRED_TEXT in management_text and ALL_TEXT in management_text
    assert UNREFERRED_TEXT not in management_text
    for marker in person_markers(world):
        assert marker not in management_text, marker


def read_export(path: Path) -> str:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return "\n".join(" | ".join(row) for row in csv.reader(handle))
    book = openpyxl.load_workbook(path)
    return "\n".join(" | ".join(str(c.value or "") for c in row)
                     for sheet in book for row in sheet.iter_rows())


async def test_cli_export_without_identities(world: World, db_url: str,
                                             tmp_path: Path) -> None:
    out = tmp_path / "requests.csv"
    env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_SECRET_FILE": str(
        tmp_path / "secret")}
    # In a thread: the app under test shares this event loop and the database.
    await asyncio.to_thread(
        subprocess.run, [str(Path(sys.executable).parent / "lianxin"), "export", "requests",
                         "--no-identities", "--out", str(out)], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=120, check=True)
    text = read_export(out)
    assert REFERRED_TEXT in text and UNREFERRED_TEXT not in text
    for marker in person_markers(world):
        assert marker not in text, marker


# --- the rule itself ----------------------------------------------------------------------

def test_suppress_single_counts() -> None:
    assert [privacy.suppress(n) for n in (0, 1, 4, 5, 120)] == [0, "< 5", "< 5", 5, 120]


@pytest.mark.parametrize(("cells", "shown"), [
    # Nothing small: all shown.
    ({"a": 5, "b": 9, "c": 0}, {"a": 5, "b": 9, "c": 0}),
    # One small cell beside a total: the next smallest is hidden too.
    ({"a": 3, "b": 5, "c": 6}, {"a": "< 5", "b": "≥ 5", "c": 6}),
    # Two small cells that together hold K or more: nothing more to hide.
    ({"a": 3, "b": 2, "c": 9}, {"a": "< 5", "b": "< 5", "c": 9}),
    # Two small ones holding 2: one more.
    ({"a": 1, "b": 1, "c": 7, "d": 30}, {"a": "< 5", "b": "< 5", "c": "≥ 5", "d": 30}),
    # Everything small: all hidden (and the total, under K, is hidden by `suppress`).
    ({"a": 1, "b": 2}, {"a": "< 5", "b": "< 5"}),
])
def test_complementary_suppression(cells: dict[str, int], shown: dict[str, Any]) -> None:
    assert privacy.suppress_table(cells) == shown
    # Whatever is hidden holds K or more, or the total itself is under K.
    hidden = sum(n for k, n in cells.items() if isinstance(shown[k], str))
    assert hidden == 0 or hidden >= privacy.K or sum(cells.values()) < privacy.K


def test_rates_over_small_parts_are_left_out() -> None:
    manager = privacy.MANAGEMENT_COPY
    assert privacy.share_for(manager, 9, 10) is None  # 1 not done: one request
    assert privacy.share_for(manager, 1, 10) is None
    assert privacy.share_for(manager, 5, 10) == 0.5
    assert privacy.share_for(manager, 4, 4) is None  # the whole is under K
    assert privacy.share_for(privacy.UNION_OFFICE, 1, 10) == 0.1
    assert privacy.median_for(manager, 3600, 4) is None
    assert privacy.median_for(manager, 3600, 5) == 3600


async def test_timeline_per_role(app: Any, world: World) -> None:
    from server.models import RequestEvent

    events = await RequestEvent.filter(request_id=world.referred.id).order_by(
        "id").select_related("actor")
    readers = {role: await Officer.get(phone=phone) for role, phone in (
        ("upper", UPPER), ("manager", world.phones["manager"]),
        ("chair", world.phones["chair"]))}
    seen = {role: privacy.timeline(officer, events, None) for role, officer in readers.items()}
    kinds = {role: {e.kind for e in views} for role, views in seen.items()}
    assert "note" in kinds["chair"] and "note" not in kinds["manager"] | kinds["upper"]
    notes = {role: {e.note for e in views} for role, views in seen.items()}
    assert {INTERNAL_NOTE, REPLY_TEXT, ESCALATE_NOTE, REFER_NOTE} <= notes["chair"]
    assert notes["manager"] & {INTERNAL_NOTE, REPLY_TEXT, ESCALATE_NOTE} == set()
    assert REFER_NOTE in notes["manager"]
    assert ESCALATE_NOTE in notes["upper"] and REPLY_TEXT not in notes["upper"]
    assert CHAIR_NOTE not in notes["upper"] and CHAIR_NOTE in notes["chair"]
    assert "保密项目主席" in {e.who for e in seen["chair"]}
    for role in OUTSIDE:
        assert "保密项目主席" not in {e.who for e in seen[role]}


async def test_dates_of_the_world_are_in_the_period(world: World) -> None:
    # The figures above count on the project's requests being the only ones of the period.
    start = datetime(2021, 3, 1, tzinfo=UTC) - timedelta(hours=8)
    count = await ServiceRequest.filter(created_at__gte=start,
                                        created_at__lt=start + timedelta(days=10)).count()
    assert count == 14
