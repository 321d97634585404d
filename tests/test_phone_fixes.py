"""Defects found on the phone (issue 11) that the server decides: where 上报 goes and says
it goes, what counts as a new reply, the rating nobody gave, errors by their button, the
digest's period, the pending count, the words for one and for many. (What only a browser
shows is in tests/e2e/test_phone_fixes.py and tests/e2e/test_all_pages.py.)"""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from server.models import InboxItem, Level, Member, Officer, ServiceRequest
from server.services.lifecycle import ActionInput, apply_officer_action
from tests.conftest import (
    CXG_CADRE,
    UPPER,
    XBL_CHAIR,
    csrf_of,
    enrol,
    login,
    new_client,
)
from tests.factories import make_member, make_request, member_client

ROOT = Path(__file__).resolve().parent.parent


async def liaison(member: Member) -> Officer:
    return await Officer.get(id=member.liaison_id).select_related("union")  # type: ignore[attr-defined]


async def test_escalate_says_where_and_a_chair_never_escalates_to_himself(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await liaison(member)
    chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
    upper = await Officer.get(phone=UPPER)
    async with new_client(app) as c:
        await login(c, cadre.phone)
        page = await c.get(f"/officer/requests/{item.id}")
    assert f"上报给主席 {chair.name}" in page.text
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get(f"/officer/requests/{item.id}")
        # Still at cadre level, the chair's 上报 names the upper union, not the chair.
        assert "上报给上级工会：陕西省建设工会" in page.text
        assert f"上报给主席 {chair.name}" not in page.text
        answer = await c.post(f"/officer/requests/{item.id}/escalate", data={
            "csrf_token": csrf_of(page.text), "note": "需要上级出面"})
    assert answer.status_code == 303
    item = await ServiceRequest.get(id=item.id)
    assert item.level == Level.UPPER
    told = await InboxItem.filter(request_id=item.id, reason="escalated_to_me").values_list(
        "officer_id", flat=True)
    assert upper.id in told and chair.id not in told


async def test_cadre_escalation_goes_to_the_chair(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    await apply_officer_action(await liaison(member), item, "escalate", ActionInput())
    assert (await ServiceRequest.get(id=item.id)).level == Level.CHAIR


async def test_an_escalation_alone_is_no_new_reply(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await liaison(member)
    async with member_client(app, member) as c:
        await apply_officer_action(cadre, item, "reply", ActionInput(note="收到，在问"))
        listing = await c.get("/requests")
        assert "新回复" in listing.text  # a reply is news
        await c.get(f"/requests/{item.id}")  # read
        assert "新回复" not in (await c.get("/requests")).text
        await apply_officer_action(cadre, await ServiceRequest.get(id=item.id), "escalate",
                                   ActionInput(note="上报主席"))
        listing = await c.get("/requests")
        assert "新回复" not in listing.text  # nothing new to read
        assert "count" not in (await c.get("/me/badges")).text
        chair = await Officer.get(phone=XBL_CHAIR).select_related("union")
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "refer",
                                   ActionInput(note="请项目部核实"))
        assert "新回复" not in (await c.get("/requests")).text
        await apply_officer_action(chair, await ServiceRequest.get(id=item.id), "reply",
                                   ActionInput(note="主席已过问"))
        listing = await c.get("/requests")
        assert "新回复" in listing.text
        # The list says when it was filed and when the union last answered.
        assert "提交于" in listing.text and "最近回复" in listing.text
        await c.get(f"/requests/{item.id}")
        assert "新回复" not in (await c.get("/requests")).text


async def test_rating_starts_unselected_and_confirming_asks_for_stars(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    await apply_officer_action(await liaison(member), item, "resolve",
                               ActionInput(note="已解决"))
    async with member_client(app, member) as c:
        page = await c.get(f"/requests/{item.id}")
        stars = re.findall(r'<input type="radio" name="rating"[^>]*>', page.text)
        assert len(stars) == 5 and not any("checked" in s for s in stars)
        form = {"csrf_token": csrf_of(page.text), "client_id": str(uuid.uuid4()),
                "rating_comment": "谢谢工会"}
        refused = await c.post(f"/requests/{item.id}/confirm", data=form)
        assert refused.status_code == 422
        # The message sits in the form that was sent, by the stars; the comment is kept.
        confirm_form = refused.text[refused.text.index(f'action="/requests/{item.id}/confirm"'):]
        confirm_form = confirm_form[:confirm_form.index("</form>")]
        assert 'id="rating-error"' in confirm_form and "点星星" in confirm_form
        assert 'value="谢谢工会"' in confirm_form
        assert (await ServiceRequest.get(id=item.id)).status == "resolved"
        done = await c.post(f"/requests/{item.id}/confirm", data={**form, "rating": "4"})
        assert done.status_code == 303
    item = await ServiceRequest.get(id=item.id)
    assert item.status == "closed" and item.rating == 4


async def test_officer_error_shows_by_its_button_and_keeps_the_text(app: Any) -> None:
    member = await make_member(app)
    item = await make_request(member)
    cadre = await liaison(member)
    async with new_client(app) as c:
        await login(c, cadre.phone)
        page = await c.get(f"/officer/requests/{item.id}")
        answer = await c.post(f"/officer/requests/{item.id}/duplicate", headers={
            "HX-Request": "true"}, data={"csrf_token": csrf_of(page.text), "duplicate_of": "0"})
    assert answer.status_code == 422
    form = answer.text[answer.text.index(f'action="/officer/requests/{item.id}/duplicate"'):]
    form = form[:form.index("</form>")]
    assert 'id="duplicate-error" role="alert"' in form
    top = answer.text[:answer.text.index('<ol class="timeline">')]
    assert 'role="alert"' not in top  # not above the timeline, far from the button


async def test_digest_page_and_spreadsheet_state_the_same_period(app: Any) -> None:
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        query = "?start=2026-03-01&end=2026-03-31"
        page = await c.get("/officer/digest" + query)
        sheet = await c.get("/officer/digest.xlsx" + query)
    period = re.search(r'<span id="digest-period">([^<]+)</span>', page.text)
    assert period and period.group(1) == "2026-03-01 — 2026-03-31"
    book = load_workbook(io.BytesIO(sheet.content))
    assert book.worksheets[0]["A2"].value == period.group(1)
    assert "2026-03-01-2026-03-31" in sheet.headers["content-disposition"]


async def test_pending_entry_has_team_employer_time_and_the_count_follows(app: Any) -> None:
    async with new_client(app) as applicant:
        response, _ = await enrol(applicant, "chuangxingang", employer="秦川劳务")
        assert response.status_code == 303
    async with new_client(app) as c:
        await login(c, CXG_CADRE)
        page = await c.get("/officer/pending")
        total = int(re.search(r'id="pending-count"[^>]*>(\d+)<', page.text).group(1))  # type: ignore[union-attr]
        row = page.text[page.text.index("秦川劳务") - 600:page.text.index("秦川劳务") + 200]
        assert "班组：" in row and "用工单位：秦川劳务" in row and "申请于" in row
        member = await Member.filter(employer="秦川劳务").first()
        assert member is not None
        approved = await c.post(f"/officer/members/{member.id}/approve", headers={
            "HX-Request": "true"}, data={"csrf_token": csrf_of(page.text)})
    assert approved.status_code == 200
    oob = re.search(r'<span id="pending-count"[^>]*hx-swap-oob="true"[^>]*>(\d+)<', approved.text)
    assert oob and int(oob.group(1)) == total - 1


async def test_english_counts_have_singular_and_plural(app: Any) -> None:
    member = await make_member(app, name="独一无二甲")
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        c.cookies.set("lx_lang", "en")
        one = await c.get("/officer/members?q=独一无二甲")
        assert "1 person" in one.text and "1 people" not in one.text
        await make_member(app, name="独一无二乙")
        two = await c.get("/officer/members?q=独一无二")
        assert "2 people" in two.text
    async with member_client(app, member) as c:
        await make_request(member)
        c.cookies.set("lx_lang", "en")
        page = await c.get("/requests")
        strings = re.search(r'id="lx-i18n">([^<]+)<', page.text)
        assert strings and '"one": "%(n)d needs attention"' in strings.group(1)
        assert '"other": "%(n)d need attention"' in strings.group(1)


async def test_me_on_a_phone_that_rejoined_links_to_the_re_bind_form(app: Any) -> None:
    """The same phone on the join form again signs nobody in; where that leads says how to
    get the membership back, with the re-bind form one tap away."""
    async with new_client(app) as first:
        response, form = await enrol(first)
        assert response.status_code == 303
    async with new_client(app) as again:
        second, _ = await enrol(again, phone=form["phone"])
        landing = await again.get(second.headers["location"])
    assert landing.status_code == 403
    assert 'href="/me/rebind"' in landing.text and "换机码" in landing.text


def test_no_template_or_script_writes_inline_styles_or_handlers() -> None:
    """The CSP allows styles and scripts from files only: an inline `style=`, a <style>
    block or an `on…=` attribute in a template would be refused by the browser."""
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"\sstyle\s*=|<style|\son[a-z]+\s*=", text):
            offenders.append(path.name)
    for path in (ROOT / "static" / "js").glob("*.js"):
        text = path.read_text(encoding="utf-8")
        if re.search(r"setAttribute\(\s*[\"'](style|on[a-z]+)|innerHTML\s*=\s*[\"'`][^\"'`]*<",
                     text):
            offenders.append(path.name)
    assert offenders == []


def test_shipped_css_and_scripts_leave_the_comments_behind() -> None:
    """The first visit's bytes: comments for readers of the source are not downloaded;
    code, strings and vendored files are untouched."""
    from server.web.static import shipped

    css = b"/* why */\n.a{content:\"\\2713\"}\n/* two\n lines */.b{x:y}"
    assert shipped("css/app.css", css) == b".a{content:\"\\2713\"}\n.b{x:y}"
    js = b"// why\nvar u = 'http://x'; // keep\n  // indented why\nf();\n"
    assert shipped("js/app.js", js) == b"var u = 'http://x'; // keep\nf();\n"
    assert shipped("vendor/htmx/htmx.min.js", js) == js
