"""Direct (service-level) builders for tests that need many members or requests quickly."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from PIL import Image

from server.models import (
    Anonymity,
    Category,
    LimitCounter,
    Member,
    Officer,
    Team,
    UnionNode,
    Urgency,
)
from server.services import enrolment, limits, membership, rebind
from server.services import requests as svc
from server.services.photos import clean_photo
from tests.conftest import XBL_CADRE, csrf_of, fresh_phone, new_client


async def make_member(app: Any, project_code: str = "xibailiang", name: str = "李建国",
                      team: str | None = None) -> Member:
    project = await UnionNode.get(code=project_code)
    team_obj = await Team.get(project=project, name=team) if team else None
    data = enrolment.EnrolmentData(uuid.uuid4(), name, fresh_phone(), "钢筋工", team_obj,
                                   "某劳务公司", "陕西渭南", "")
    result = await enrolment.enrol(project, data, app.state.keyring)
    member = result.member
    if member.status != "active":
        await membership.approve(member, None)
    return await Member.get(id=member.id).select_related("project", "team", "liaison")


def image_bytes(kind: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), "blue").save(out, kind)
    return out.getvalue()


def jpeg_bytes(width: int = 800, height: int = 600, color: str = "orange") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG", quality=85)
    return out.getvalue()


async def make_request(member: Member, category: Category = Category.WAGES,
                       anonymity: Anonymity = Anonymity.MANAGEMENT, text: str = "三月工资没发",
                       photos: int = 0, **kwargs: Any) -> Any:
    # A builder of test data filed at any `now`: the worker's hourly quota (tested in
    # test_limits) does not apply to it.
    await LimitCounter.filter(bucket=f"{limits.current().requests.name}:{member.id}").delete()
    new = svc.NewRequest(uuid.uuid4(), category, text, Urgency.NORMAL, anonymity)
    cleaned = [clean_photo(jpeg_bytes(), "p.jpg") for _ in range(photos)]
    filed = await svc.file_request(member, new, cleaned, **kwargs)
    return filed.request


@contextlib.asynccontextmanager
async def member_client(app: Any, member: Member) -> AsyncIterator[httpx.AsyncClient]:
    """A client signed in as `member` (through a re-bind code, as a worker would). Tests
    sign the same worker in many times: the per-phone re-bind limit (tested in test_limits)
    is not what they are about."""
    await LimitCounter.filter(
        bucket=f"{limits.current().rebind_phone.name}:{member.phone}").delete()
    cadre = await Officer.get(phone=XBL_CADRE)
    code = await rebind.issue(member, cadre, app.state.keyring)
    async with new_client(app) as c:
        page = await c.get("/me/rebind")
        r = await c.post("/me/rebind", data={"csrf_token": csrf_of(page.text),
                                             "phone": member.phone, "code": code})
        assert r.status_code == 303
        yield c


@contextlib.asynccontextmanager
async def officer_client(app: Any, phone: str,
                         password: str = "lianxin-demo-2026") -> AsyncIterator[httpx.AsyncClient]:
    async with new_client(app) as c:
        page = await c.get("/officer/login")
        r = await c.post("/officer/login", data={"csrf_token": csrf_of(page.text),
                                                 "phone": phone, "password": password})
        assert r.status_code == 303, r.text[:300]
        yield c
