"""我也遇到 (issue 12): a shared problem the union publishes in its own words, joined once per
worker however many taps, offline replays answered like the first tap; management sees only a
suppressed count; another project's worker gets 404."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from server.models import AuditEntry, InboxItem, SharedJoin, SharedProblem, SharedStatus
from tests.conftest import CXG_CADRE, XBL_CADRE, XBL_CHAIR, XBL_MANAGER, csrf_of
from tests.factories import make_member, make_request, member_client, officer_client

REQUEST_TEXT = "我们三号楼的电动车没地方停，我是班长王五"


async def _publish(app: Any, title: str = "工地需要电动车棚",
                   request_id: int | None = None) -> SharedProblem:
    key = str(uuid.uuid4())
    async with officer_client(app, XBL_CHAIR) as c:
        url = "/officer/shared" + (f"?from_request={request_id}" if request_id else "")
        page = await c.get(url)
        assert page.status_code == 200
        if request_id:
            assert REQUEST_TEXT not in page.text  # the worker's words are not offered
        form = {"csrf_token": csrf_of(page.text), "title": title, "client_id": key,
                "summary": "下雨天车淋湿，充电不安全。"}
        if request_id:
            form["request_id"] = str(request_id)
        first = await c.post("/officer/shared", data=form)
        again = await c.post("/officer/shared", data=form)  # the outbox replaying it
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
    return await SharedProblem.get(client_id=key)


async def _tap(c: Any, problem_id: int, csrf: str, key: str | None = None) -> Any:
    return await c.post(f"/shared/{problem_id}/join", data={
        "csrf_token": csrf, "client_id": key or str(uuid.uuid4())})


async def test_publish_from_a_request_links_it_without_its_words(app: Any) -> None:
    filer = await make_member(app)
    item = await make_request(filer, text=REQUEST_TEXT)
    problem = await _publish(app, request_id=item.id)
    assert problem.source_request_id == item.id  # type: ignore[attr-defined]
    assert REQUEST_TEXT not in problem.summary and REQUEST_TEXT != problem.title
    assert await SharedProblem.filter(title=problem.title, source_request_id=item.id
                                      ).count() == 1
    assert await AuditEntry.exists(action="shared.publish", target_id=problem.id)
    async with officer_client(app, XBL_CHAIR) as c:
        panel = await c.get(f"/officer/requests/{item.id}")
        assert f"/officer/shared?from_request={item.id}" in panel.text


async def test_forty_taps_count_once_and_replays_answer_alike(app: Any) -> None:
    problem = await _publish(app)
    worker = await make_member(app)
    async with member_client(app, worker) as c:
        listing = await c.get("/requests")
        assert f'action="/shared/{problem.id}/join"' in listing.text
        home = await c.get("/me")  # and on the page a worker opens first
        assert f'action="/shared/{problem.id}/join"' in home.text
        csrf = csrf_of(listing.text)
        answers = await asyncio.gather(*(_tap(c, problem.id, csrf) for _ in range(40)))
        assert {a.status_code for a in answers} == {303}
        assert await SharedJoin.filter(problem_id=problem.id).count() == 1
        # Offline: the outbox sends the same tap (same client_id) again, later.
        key = str(uuid.uuid4())
        other = await _publish(app, "宿舍热水不够")
        first = await _tap(c, other.id, csrf, key)
        replay = await _tap(c, other.id, csrf, key)
        assert first.status_code == replay.status_code == 303
        assert await SharedJoin.filter(problem_id=other.id).count() == 1
        after = await c.get("/requests")
        assert f'action="/shared/{other.id}/join"' not in after.text
        assert "已加入" in after.text
    # The key is not a credential: another worker reusing it is refused.
    someone = await make_member(app)
    async with member_client(app, someone) as c:
        page = await c.get(f"/shared/{other.id}")
        stolen = await _tap(c, other.id, csrf_of(page.text), key)
        assert stolen.status_code == 409
    assert await SharedJoin.filter(problem_id=other.id).count() == 1


async def test_management_sees_only_a_suppressed_count(app: Any) -> None:
    problem = await _publish(app, "两个月没发工资")
    workers = [await make_member(app, name=f"工友{i}") for i in range(5)]
    for n, worker in enumerate(workers, start=1):
        async with member_client(app, worker) as c:
            page = await c.get(f"/shared/{problem.id}")
            assert (await _tap(c, problem.id, csrf_of(page.text))).status_code == 303
        async with officer_client(app, XBL_MANAGER) as m:
            seen = await m.get(f"/officer/shared/{problem.id}")
            assert seen.status_code == 200
            shown = re.search(r'id="affected">([^<]*)<', seen.text)
            assert shown is not None
            expected = "5" if n >= 5 else "&lt; 5"
            assert shown.group(1).endswith(expected), (n, shown.group(1))
            for worker_seen in workers:
                assert worker_seen.name not in seen.text
    async with officer_client(app, XBL_CHAIR) as c:
        page = await c.get(f"/officer/shared/{problem.id}")
        assert "工友0" in page.text and "工友4" in page.text
        assert re.search(r'id="affected">[^<]*5<', page.text)


async def test_closing_reaches_those_who_joined(app: Any) -> None:
    problem = await _publish(app, "电动车棚")
    joined, bystander = await make_member(app), await make_member(app)
    async with member_client(app, joined) as c:
        page = await c.get(f"/shared/{problem.id}")
        assert (await _tap(c, problem.id, csrf_of(page.text))).status_code == 303
    async with officer_client(app, XBL_CADRE) as c:
        page = await c.get(f"/officer/shared/{problem.id}")
        r = await c.post(f"/officer/shared/{problem.id}/update", data={
            "csrf_token": csrf_of(page.text), "note": "已经选好地方"})
        assert r.status_code == 303
        r = await c.post(f"/officer/shared/{problem.id}/close", data={
            "csrf_token": csrf_of(page.text), "note": "车棚建好了，在北门"})
        assert r.status_code == 303
    async with officer_client(app, XBL_MANAGER) as m:  # management reads, never acts
        page = await m.get(f"/officer/shared/{problem.id}")
        assert 'action="/officer/shared/' not in page.text
    closed = await SharedProblem.get(id=problem.id)
    assert closed.status == SharedStatus.CLOSED and closed.outcome == "车棚建好了，在北门"
    reasons = await InboxItem.filter(member_id=joined.id).values_list("reason", flat=True)
    assert sorted(reasons) == ["shared_closed", "shared_update"]
    assert not await InboxItem.exists(member_id=bystander.id, shared_update_id__isnull=False)
    async with member_client(app, joined) as c:
        inbox = await c.get("/inbox")
        assert f'href="/shared/{problem.id}"' in inbox.text
        page = await c.get(f"/shared/{problem.id}")
        assert "车棚建好了，在北门" in page.text
        form = await c.get("/requests/new")
        late = await _tap(c, problem.id, csrf_of(form.text))
        assert late.status_code == 303  # joined already: answered like the first tap
    assert await InboxItem.filter(member_id=joined.id, read_at__isnull=True,
                                  shared_update_id__isnull=False).count() == 0
    async with member_client(app, bystander) as c:
        page = await c.get("/requests/new")
        assert (await _tap(c, problem.id, csrf_of(page.text))).status_code == 409


async def test_another_projects_people_get_404(app: Any) -> None:
    problem = await _publish(app, "食堂太贵")
    outsider = await make_member(app, "chuangxingang")
    async with member_client(app, outsider) as c:
        assert (await c.get(f"/shared/{problem.id}")).status_code == 404
        listing = await c.get("/requests")
        assert "食堂太贵" not in listing.text
        form = await c.get("/requests/new")
        assert (await _tap(c, problem.id, csrf_of(form.text))).status_code == 404
    assert await SharedJoin.filter(problem_id=problem.id).count() == 0
    async with officer_client(app, CXG_CADRE) as c:
        assert (await c.get(f"/officer/shared/{problem.id}")).status_code == 404
        page = await c.get("/officer/shared")
        assert "食堂太贵" not in page.text
