"""Anonymity in one place, checked everywhere a request is shown: every role against the
queue, the detail page and its htmx fragment, the digest page, the digest XLSX and exports."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from server.models import Anonymity, Officer, ServiceRequest
from server.services import exports
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import ADMIN, UPPER, XBL_CADRE2, XBL_CHAIR, XBL_MANAGER, login, new_client
from tests.factories import make_member, make_request, member_client

WORKER_NAME = "欧阳秘密"
OTHER_NAME = "司马保密"


@pytest.fixture(scope="module")
async def cases(app: Any) -> dict[str, Any]:
    member = await make_member(app, name=WORKER_NAME)
    visible = await make_request(member, anonymity=Anonymity.MANAGEMENT, text="宿舍漏雨")
    hidden_member = await make_member(app, name=OTHER_NAME)
    hidden = await make_request(hidden_member, anonymity=Anonymity.ALL, text="班组长克扣工资")
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    for item in (visible, hidden):
        # Up to the upper union and over to management, so every role has it in scope.
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "refer",
                                       ActionInput(note="请项目部处理"))
        # A chair's 上报 goes straight to the upper union (never to the chair himself).
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "escalate",
                                       ActionInput())
    # Two liaisons (each new member goes to the least-loaded cadre): the first worker's
    # liaison has the second worker out of scope.
    assert hidden_member.liaison_id != member.liaison_id  # type: ignore[attr-defined]
    return {"member": member, "visible": visible, "hidden": hidden,
            "hidden_member": hidden_member}


# (officer phone or "liaison", sees the name on the management-anonymous request)
ROLES = [("liaison", True), (XBL_CHAIR, True), (ADMIN, True), (XBL_MANAGER, False),
         (UPPER, False)]


async def phone_of(role: str, cases: dict[str, Any]) -> str:
    if role == "liaison":
        return (await Officer.get(id=cases["member"].liaison_id)).phone
    return role


@pytest.mark.parametrize(("role", "sees_name"), ROLES)
async def test_pages_per_role(app: Any, cases: dict[str, Any], role: str,
                              sees_name: bool) -> None:
    visible, hidden = cases["visible"], cases["hidden"]
    async with new_client(app) as c:
        await login(c, await phone_of(role, cases))
        pages = [
            await c.get("/officer/requests", params={"status": "all"}),
            await c.get(f"/officer/requests/{visible.id}"),
            await c.get(f"/officer/requests/{visible.id}", headers={"HX-Request": "true"}),
        ]
        hidden_pages = [await c.get(f"/officer/requests/{hidden.id}"),
                        await c.get(f"/officer/requests/{hidden.id}",
                                    headers={"HX-Request": "true"})]
    for page in pages[1:]:
        assert page.status_code == 200
        assert "宿舍漏雨" in page.text
        assert (WORKER_NAME in page.text) == sees_name, (role, page.url)
    assert (WORKER_NAME in pages[0].text) == sees_name
    # The liaison is not the second worker's liaison: outside a cadre's scope is 404.
    in_scope = role != "liaison"
    for page in hidden_pages:
        assert page.status_code == (200 if in_scope else 404)
        assert ("班组长克扣工资" in page.text) == in_scope
        assert ("匿名工友" in page.text) == in_scope
        assert OTHER_NAME not in page.text
    assert OTHER_NAME not in pages[0].text


@pytest.mark.parametrize("role", [XBL_CHAIR, ADMIN, XBL_MANAGER, UPPER])
async def test_digest_per_role(app: Any, cases: dict[str, Any], role: str) -> None:
    async with new_client(app) as c:
        await login(c, role)
        digest = await c.get("/officer/digest")
        xlsx = await c.get("/officer/digest.xlsx")
    assert digest.status_code == xlsx.status_code == 200
    assert "宿舍漏雨" in digest.text and "班组长克扣工资" in digest.text
    assert WORKER_NAME not in digest.text and OTHER_NAME not in digest.text
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    cells = " ".join(str(cell.value) for sheet in book for row in sheet.iter_rows()
                     for cell in row if cell.value is not None)
    assert "宿舍漏雨" in cells and "班组长克扣工资" in cells
    assert WORKER_NAME not in cells and OTHER_NAME not in cells


async def test_liaison_has_no_digest(app: Any, cases: dict[str, Any]) -> None:
    async with new_client(app) as c:
        await login(c, await phone_of("liaison", cases))
        assert (await c.get("/officer/digest")).status_code == 403
        assert (await c.get("/officer/digest.xlsx")).status_code == 403


async def test_other_cadre_does_not_see_it(app: Any, cases: dict[str, Any]) -> None:
    liaison = await Officer.get(id=cases["member"].liaison_id)
    other = XBL_CADRE2 if liaison.phone != XBL_CADRE2 else "13900000013"
    async with new_client(app) as c:
        await login(c, other)
        assert (await c.get(f"/officer/requests/{cases['visible'].id}")).status_code == 404


async def test_worker_sees_own_name_others_nothing(app: Any, cases: dict[str, Any]) -> None:
    async with member_client(app, cases["hidden_member"]) as c:
        own = await c.get(f"/requests/{cases['hidden'].id}")
        assert own.status_code == 200 and "班组长克扣工资" in own.text
        assert (await c.get(f"/requests/{cases['visible'].id}")).status_code == 404


async def test_photos_hidden_from_management(app: Any, cases: dict[str, Any]) -> None:
    member = await make_member(app)
    item = await make_request(member, photos=1)
    from server.models import RequestPhoto

    photo = await RequestPhoto.get(request_id=item.id)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    await apply_officer_action(chair, item, "refer", ActionInput(note="看照片"))
    async with new_client(app) as c:
        await login(c, XBL_MANAGER)
        assert (await c.get(f"/requests/{item.id}/photos/{photo.id}")).status_code == 403
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        assert (await c.get(f"/requests/{item.id}/photos/{photo.id}")).status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_exports_respect_anonymity(app: Any, cases: dict[str, Any], tmp_path: Path,
                                         fmt: str) -> None:
    def text_of(path: Path) -> str:
        if fmt == "csv":
            return path.read_text(encoding="utf-8-sig")
        book = openpyxl.load_workbook(path)
        return " ".join(str(c.value) for s in book for r in s.iter_rows() for c in r
                        if c.value is not None)

    union_copy = tmp_path / f"union.{fmt}"
    await exports.export_requests(union_copy, fmt)
    text = text_of(union_copy)
    assert WORKER_NAME in text and OTHER_NAME not in text and "匿名工友" in text
    management_copy = tmp_path / f"management.{fmt}"
    await exports.export_requests(management_copy, fmt, identities=False)
    text = text_of(management_copy)
    assert WORKER_NAME not in text and OTHER_NAME not in text and "宿舍漏雨" in text
