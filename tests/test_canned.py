"""Canned replies (常用回复, issue 11): kept by the project's chair, read by its cadres, picked
next to the reply box; and the rating that starts with no star chosen."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

from server.models import AuditEntry, CannedReply, Officer, ServiceRequest, UnionNode
from server.services import canned
from server.services.demo import DEMO_CANNED, load_demo_canned
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import (
    CXG_CHAIR,
    UPPER,
    XBL_CADRE,
    XBL_CHAIR,
    XBL_MANAGER,
    csrf_of,
    login,
    new_client,
)
from tests.factories import make_member, make_request, member_client


async def xbl() -> UnionNode:
    return await UnionNode.get(code="xibailiang")


async def texts(project: UnionNode) -> list[str]:
    return [r.text for r in await canned.replies_for(project.id)]


async def test_the_chair_keeps_the_list_and_every_change_is_audited(app: Any) -> None:
    project = await xbl()
    await CannedReply.filter(project_id=project.id).delete()
    # The module's other tests may have run first (random order): only this test's entries.
    since = await AuditEntry.all().order_by("-id").first()
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get("/officer/canned")
        assert page.status_code == 200 and 'href="/officer/canned"' in page.text
        token = csrf_of(page.text)
        added = ["收到，我们马上去现场看。", "已经转给项目部，有结果告诉你。",
                 "工资的事\n已经报给主席"]
        for text in added:
            answer = await c.post("/officer/canned", data={"csrf_token": token, "text": text})
            assert answer.status_code == 303
        assert await texts(project) == added
        first, second, third = await canned.replies_for(project.id)
        assert (await c.post(f"/officer/canned/{third.id}/up",
                             data={"csrf_token": token})).status_code == 303
        assert (await c.post(f"/officer/canned/{first.id}/down",
                             data={"csrf_token": token})).status_code == 303
        assert [r.id for r in await canned.replies_for(project.id)] == [
            third.id, first.id, second.id]
        # Moving the last one down changes nothing.
        await c.post(f"/officer/canned/{second.id}/down", data={"csrf_token": token})
        assert [r.id for r in await canned.replies_for(project.id)] == [
            third.id, first.id, second.id]
        edited = await c.post(f"/officer/canned/{first.id}/edit",
                              data={"csrf_token": token, "text": "收到，今天下午去现场。"})
        assert edited.status_code == 303
        # Deleting asks first: the delete form sits behind 删除, with its own 确定删除.
        page = await c.get("/officer/canned")
        confirm = re.search(r'<details class="canned-delete">.*?</details>', page.text, re.S)
        assert confirm and f'action="/officer/canned/{second.id}/delete"' in page.text
        assert "确定删除" in confirm.group(0) and "删掉这条常用回复？" in confirm.group(0)
        deleted = await c.post(f"/officer/canned/{second.id}/delete",
                               data={"csrf_token": token})
        assert deleted.status_code == 303
        assert await texts(project) == ["工资的事\n已经报给主席", "收到，今天下午去现场。"]
        # Too long, or empty: refused with a message, the text kept.
        long = "字" * (canned.MAX_TEXT + 1)
        refused = await c.post("/officer/canned", data={"csrf_token": token, "text": long})
        assert refused.status_code == 422 and 'id="text-error"' in refused.text
        assert long[:canned.MAX_TEXT] in refused.text
        empty = await c.post(f"/officer/canned/{first.id}/edit",
                             data={"csrf_token": token, "text": "  "})
        assert empty.status_code == 422 and 'id="text-error"' in empty.text
    chair = await Officer.get(phone=XBL_CHAIR)
    actions = await AuditEntry.filter(
        actor_id=chair.id, action__startswith="canned.", id__gt=since.id if since else 0,
    ).order_by("id").values_list("action", flat=True)
    assert actions == ["canned.add"] * 3 + ["canned.up", "canned.down", "canned.edit",
                                            "canned.delete"]
    assert await texts(project) == ["工资的事\n已经报给主席", "收到，今天下午去现场。"]


async def test_cadres_read_it_others_cannot_touch_it(app: Any) -> None:
    project = await xbl()
    await CannedReply.filter(project_id=project.id).delete()
    chair = await Officer.get(phone=XBL_CHAIR)
    reply = await canned.add(chair, project, "收到，马上处理。")
    async with new_client(app) as c:
        await login(c, XBL_CADRE)
        page = await c.get("/officer/canned")
        assert page.status_code == 200 and "收到，马上处理。" in page.text
        assert 'action="/officer/canned"' not in page.text
        assert f'action="/officer/canned/{reply.id}/delete"' not in page.text
        token = csrf_of(page.text)
        assert (await c.post("/officer/canned", data={"csrf_token": token,
                                                      "text": "干部加的"})).status_code == 403
        assert (await c.post(f"/officer/canned/{reply.id}/delete",
                             data={"csrf_token": token})).status_code == 403
    for phone, status in ((XBL_MANAGER, 403), (UPPER, 403)):
        async with new_client(app) as c:
            await login(c, phone)
            assert (await c.get("/officer/canned")).status_code == status
    async with new_client(app) as c:
        await login(c, CXG_CHAIR)  # another project's chair: not theirs, as if it were not
        page = await c.get("/officer/canned")
        assert "收到，马上处理。" not in page.text
        answer = await c.post(f"/officer/canned/{reply.id}/edit",
                              data={"csrf_token": csrf_of(page.text), "text": "改掉"})
        assert answer.status_code == 404
    assert await texts(project) == ["收到，马上处理。"]


async def test_forty_adds_at_once_stop_at_the_limit(app: Any) -> None:
    project = await xbl()
    await CannedReply.filter(project_id=project.id).delete()
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        token = csrf_of((await c.get("/officer/canned")).text)
        answers = await asyncio.gather(*(
            c.post("/officer/canned", data={"csrf_token": token, "text": f"第 {n} 条"})
            for n in range(40)))
        statuses = [a.status_code for a in answers]
        assert statuses.count(303) == canned.MAX_REPLIES and statuses.count(409) == 10
        full = await c.get("/officer/canned")
    assert await CannedReply.filter(project_id=project.id).count() == canned.MAX_REPLIES
    positions = await CannedReply.filter(project_id=project.id).values_list("position",
                                                                          flat=True)
    assert len(set(positions)) == canned.MAX_REPLIES
    assert 'action="/officer/canned" ' not in full.text and "先删掉用不着的" in full.text


async def test_the_picker_sits_by_the_reply_box_and_works_without_scripts(app: Any) -> None:
    project = await xbl()
    await CannedReply.filter(project_id=project.id).delete()
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id)  # type: ignore[attr-defined]
    async with new_client(app) as c:
        await login(c, cadre.phone)
        bare = await c.get(f"/officer/requests/{item.id}")
        assert "canned-picker" not in bare.text  # nothing to pick: no picker
        chair = await Officer.get(phone=XBL_CHAIR)
        await canned.add(chair, project, "收到，<今天>去现场看。")
        await canned.add(chair, project, "已经报给主席。")
        page = await c.get(f"/officer/requests/{item.id}")
    assert page.text.count('class="canned-picker"') == 1
    reply_form = page.text[page.text.index(f'action="/officer/requests/{item.id}/act"'):]
    reply_form = reply_form[:reply_form.index("</form>")]
    # In the action panel's form, after its text box, aimed at it; escaped; the buttons only
    # for scripts (the list alone is there to copy from); the script is a file (CSP).
    assert 'value="reply"' in reply_form
    assert reply_form.index('id="f-text"') < reply_form.index('data-canned-for="f-text"')
    assert "收到，&lt;今天&gt;去现场看。" in reply_form and "已经报给主席。" in reply_form
    assert reply_form.count('class="btn btn-quiet canned-use" type="button" hidden') == 2
    assert re.search(r'<script src="/static/[^"]*canned[^"]*\.js" defer></script>', reply_form)
    assert "<script>" not in page.text and " style=" not in page.text
    # Management answers with its own words: no union canned replies for it.
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    await apply_officer_action(chair, item, "refer", ActionInput(note="请项目部处理"))
    async with new_client(app) as c:
        await login(c, XBL_MANAGER)
        managed = await c.get(f"/officer/requests/{item.id}")
    assert managed.status_code == 200 and "canned-picker" not in managed.text


# --- the rating starts unselected -----------------------------------------------------------

async def test_rating_has_no_star_chosen_and_asks_for_one_keeping_the_comment(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]
    await apply_officer_action(cadre, item, "resolve", ActionInput(note="已解决"))
    async with member_client(app, member) as c:
        page = await c.get(f"/requests/{item.id}")
        stars = re.findall(r'<input type="radio" name="rating"[^>]*>', page.text)
        assert [re.search(r'value="(\d)"', s).group(1) for s in stars] == [  # type: ignore[union-attr]
            "5", "4", "3", "2", "1"]
        assert not any("checked" in s for s in stars)
        # Closed without a rating (the time-out): the rating form alone, also unselected.
        await ServiceRequest.filter(id=item.id).update(status="closed")
        page = await c.get(f"/requests/{item.id}")
        rate_form = page.text[page.text.index(f'action="/requests/{item.id}/rate"'):]
        rate_form = rate_form[:rate_form.index("</form>")]
        stars = re.findall(r'<input type="radio" name="rating"[^>]*>', rate_form)
        assert len(stars) == 5 and not any("checked" in s for s in stars)
        refused = await c.post(f"/requests/{item.id}/rate", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
            "note": "态度很好"})
        assert refused.status_code == 422
        rate_form = refused.text[refused.text.index(f'action="/requests/{item.id}/rate"'):]
        rate_form = rate_form[:rate_form.index("</form>")]
        assert 'id="rating-error" role="alert"' in rate_form
        assert "请先点星星给工会的办理打分（1 到 5 星），再提交" in rate_form
        assert 'value="态度很好"' in rate_form
        assert (await ServiceRequest.get(id=item.id)).rating is None
        rated = await c.post(f"/requests/{item.id}/rate", data={
            "csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
            "note": "态度很好", "rating": "3"})
        assert rated.status_code == 303
    assert (await ServiceRequest.get(id=item.id)).rating == 3


async def test_demo_loads_canned_replies_once_and_keeps_the_chairs_edits(app: Any) -> None:
    project = await UnionNode.get(code="xibailiang")
    await CannedReply.filter(project_id=project.id).delete()
    await load_demo_canned()
    assert await texts(project) == list(DEMO_CANNED)
    chair = await Officer.get(phone=XBL_CHAIR)
    first = (await canned.replies_for(project.id))[0]
    await canned.edit(chair, first, "收到。")
    await load_demo_canned()  # a second `lianxin demo` changes nothing
    assert await texts(project) == ["收到。", *DEMO_CANNED[1:]]
    await CannedReply.filter(project_id=project.id).delete()
