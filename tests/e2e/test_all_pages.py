"""Every page each role can reach, on two phone screens, in both languages, with badges up.

The pages come from the app's own URL map: every GET route is visited by every role (a
visitor without an account, an applicant still waiting, a worker, a cadre, a chair, a
manager, the upper union and a partner), with its ids filled from data this module makes
first (requests in every state, unread replies, an escalation, a referral, notices,
applicants and a claim waiting, so every badge is up; a partner with one referral open and
one closed), so a page added later is covered without touching
this file, and a route with a parameter this file cannot fill fails it until someone says
how (or lists it in SKIPPED / NOT_PAGES with the reason). A page fails when the document is
wider than the screen, when the header wraps or loses a link (the language switch) off the
screen, when a button's words stand a character or two per line, when it answers 5xx, or
when the browser reports a Content-Security-Policy violation (console message or
`securitypolicyviolation` event).

One browser; one context per role, switched between languages by the language cookie; each
page is laid out at 360×640 and then at 390×844. Redirects to a page already seen and a
second error page of the same status are not laid out again. Screenshots of the main
pages at 360 px, the problems found and the time per page go to test-artifacts/phone-screens.
"""

from __future__ import annotations

import io
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.async_api import APIRequestContext, Browser, BrowserContext, Page
from starlette.routing import Route

from server.routes import routes as APP_ROUTES
from server.services.demo import DEMO_PASSWORD
from server.web.middleware import LANGUAGE_COOKIE
from tests.conftest import ARTIFACTS, CXG_CADRE, CXG_CHAIR, CXG_MANAGER, UPPER, fresh_phone
from tests.e2e.conftest import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.browser_on_postgres]

SCREENS = ({"width": 360, "height": 640}, {"width": 390, "height": 844})
LANGUAGES = ("zh_Hans", "en")
SHOTS = ARTIFACTS / "phone-screens"

# GET routes that are not pages a person reads: asked for by every role all the same (a
# 5xx fails the test), never laid out.
NOT_PAGES: dict[str, str] = {
    "/healthz": "JSON for the load balancer",
    "/favicon.ico": "a redirect to the icon",
    "/manifest.webmanifest": "the PWA manifest (JSON)",
    "/sw.js": "the service worker script",
    "/push/key": "the VAPID public key (text)",
    "/lang": "sets the language cookie and redirects back",
    "/me/badges": "htmx fragment inside the header (laid out with every worker page)",
    "/officer/badges": "htmx fragment inside the header (laid out with every officer page)",
    "/officer/digest.xlsx": "a spreadsheet download",
    "/requests/{request_id}/photos/{photo_id}": "a JPEG",
    "/officer/posters/poster.{fmt}": "a PDF / PNG poster",
    "/notices/{notice_id}/photo": "a JPEG",
    "/officer/notices/{notice_id}/photo": "a JPEG",
    "/push/csrf": "the CSRF token for the service worker (JSON)",
    "/officer/figures.xlsx": "a spreadsheet download",
    "/requests/{request_id}/voices/{voice_id}": "an audio clip (the seed has none: a 404)",
    "/officer/requests/{request_id}/inspector.xlsx": "a spreadsheet download",
}
# GET routes not asked for at all.
SKIPPED: dict[str, str] = {
    "/static/{path}": "hashed static files (CSS, JS, icons), loaded by every page",
    "/pwa/{path}": "PWA icons, loaded by every page",
    "/sw/{path}": "outbox script, loaded by every page",
}
# Query strings worth a page of their own (other lists have the same rows as the default).
EXTRA_PAGES = ("/officer/members?status=pending",)


@dataclass
class Seed:
    """Ids of what this module made, by the name of the route parameter they fill."""
    ids: dict[str, str] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)


@dataclass
class Role:
    name: str
    context: BrowserContext
    page: Page


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    visited: int = 0
    layouts: int = 0
    timings: list[tuple[str, float, float, float]] = field(default_factory=list)

    def add(self, role: str, language: str, url: str, what: str) -> None:
        self.problems.append(f"[{role} {language}] {url}: {what}")


def jpeg(width: int = 1200, height: int = 900) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(out, "JPEG", quality=80)
    return out.getvalue()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


async def csrf(api: APIRequestContext, url: str) -> str:
    response = await api.get(url)
    assert response.status < 400, (url, response.status)
    return csrf_from(await response.text())


async def post(api: APIRequestContext, page_url: str, action: str, **form: Any) -> Any:
    """Post a form the way its page would (that page's CSRF token), expecting success."""
    token = await csrf(api, page_url)
    multipart = form.pop("multipart", None)
    if multipart is not None:
        response = await api.post(action, multipart={"csrf_token": token, **multipart},
                                  max_redirects=0)
    else:
        response = await api.post(action, form={"csrf_token": token, **form},
                                  max_redirects=0)
    assert response.status in (200, 303), (action, response.status,
                                           (await response.text())[:400])
    return response


async def new_role(browser: Browser, server: LiveServer, name: str,
                   officer_phone: str | None = None, landing: str = "/officer") -> Role:
    context = await browser.new_context(
        viewport=SCREENS[0], device_scale_factor=2, is_mobile=True, has_touch=True,
        locale="zh-CN", service_workers="block", base_url=server.url)
    # Violations reported to the page, kept where the test reads them after each load.
    await context.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation', e => "
        "window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + "
        "(e.sample || '') + ' line ' + e.lineNumber));")
    page = await context.new_page()
    if officer_phone:
        await page.goto(server.url + "/officer/login")
        await page.fill("#f-phone", officer_phone)
        await page.fill("#f-password", DEMO_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(server.url + landing)
    return Role(name, context, page)


async def join(api: APIRequestContext, join_url: str, team_id: str, phone: str,
               name: str) -> Any:
    return await post(api, join_url, join_url, name=name, phone=phone, trade="钢筋工",
                      team=team_id, employer="陕西某劳务公司", hometown="陕西商洛", id_number="",
                      consent="on", client_id=str(uuid.uuid4()))


async def file_request(api: APIRequestContext, category: str, text: str,
                       photo: bool = False) -> int:
    fields: dict[str, Any] = {"category": category, "description": text,
                              "anonymous": "management", "client_id": str(uuid.uuid4())}
    if photo:
        fields["photo"] = {"name": "wages.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}
    if category == "wages":  # a wage case's amounts (欠薪)
        fields.update(amount_owed="96000", workers_affected="12",
                      employer_owing="陕西某劳务公司", wage_period="2026 年 10 月")
    response = await post(api, "/requests/new", "/requests/new", multipart=fields)
    location = response.headers["location"]
    return int(location.rsplit("/", 1)[1])


async def act(api: APIRequestContext, request_id: int, action: str, note: str = "") -> None:
    await post(api, f"/officer/requests/{request_id}", f"/officer/requests/{request_id}/{action}",
               note=note)


async def seed(server: LiveServer, worker: Role, cadre: Role, chair: Role, manager: Role,
               applicant: Role) -> Seed:
    """A worker in 创新港 (enrolments wait for a cadre) with requests in every state the
    pages show, unread answers, notices, a second applicant still pending and a second join
    form with the worker's phone (a claim)."""
    s = Seed()
    join_url = server.cli("invite", "chuangxingang").strip()
    s.ids["token"] = join_url.rsplit("/", 1)[1]
    team = await server.query(
        "SELECT t.id FROM team t JOIN union_node u ON u.id = t.project_id "
        "WHERE u.code = 'chuangxingang' AND t.name = '钢筋班组'")
    team_id = str(team[0][0])
    phone = fresh_phone()
    await join(worker.context.request, join_url, team_id, phone, "田大壮")
    member_id = await server.count("SELECT id FROM member WHERE phone = $1", phone)
    s.ids["member_id"] = str(member_id)
    await post(cadre.context.request, "/officer/pending",
               f"/officer/members/{member_id}/approve")
    # Still waiting: another applicant, and the worker's phone again on another join form.
    await join(applicant.context.request, join_url, team_id, fresh_phone(), "欧阳建国")
    assert worker.context.browser is not None
    other = await worker.context.browser.new_context(base_url=server.url)
    await join(other.request, join_url, team_id, phone, "田大壮")
    await other.close()

    w = worker.context.request
    s.requests["open"] = await file_request(
        w, "wages", "十月份工资到现在还没发，班组长说老板没给钱，一共欠了我们班组十二个人的工资",
        photo=True)
    s.requests["new"] = await file_request(w, "safety", "三号楼脚手架的扣件松了，晚上没有照明")
    s.requests["resolved"] = await file_request(w, "living", "宿舍热水器坏了一个星期")
    s.requests["upper"] = await file_request(w, "legal", "劳务公司不签劳动合同")
    photo = await server.count("SELECT id FROM request_photo WHERE request_id = $1",
                               s.requests["open"])
    s.ids.update(request_id=str(s.requests["open"]), photo_id=str(photo), fmt="png")

    c, ch = cadre.context.request, chair.context.request
    opened = s.requests["open"]
    await act(c, opened, "acknowledge")
    await act(c, opened, "reply", "收到，我今天去找班组长问清楚\n明天给你回话")
    await act(c, opened, "note", "班组长电话 139…，说下周发")
    # A wage milestone with its amount, and a worker's own claim (the wage case's pages).
    await post(c, f"/officer/requests/{opened}", f"/officer/requests/{opened}/wage_partial",
               amount="20000", note="劳务公司先付了一部分")
    await post(c, f"/officer/requests/{opened}", f"/officer/requests/{opened}/claims",
               member=phone, amount="8000", consent="on")
    await act(c, opened, "escalate", "劳务公司拖欠，需要主席出面")
    await act(ch, opened, "refer", "请项目部核实十月份工资发放情况")
    await post(manager.context.request, f"/officer/requests/{opened}",
               f"/officer/requests/{opened}/management_reply", note="已督促劳务公司，本周五前发放")
    await act(c, s.requests["resolved"], "resolve", "热水器已经换了新的")
    await act(c, s.requests["upper"], "escalate")
    await act(ch, s.requests["upper"], "escalate", "需要上级工会法律援助")
    # Overdue where the deadline job leaves it alone (nothing is above the upper union).
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    await server.query("UPDATE service_request SET level_due_at = $1 WHERE id = $2",
                       long_ago.isoformat(sep=" ") if server.db_url.startswith("sqlite")
                       else long_ago, s.requests["upper"])

    # Canned replies (the chair's list, and the picker by the reply box), and a request the
    # cadre filed for the worker after a phone call.
    for text in ("收到，我们这两天去现场看一下，有进展马上告诉你。",
                 "这件事已经报给工会主席，主席会找项目部协调，请耐心等几天。"):
        await post(ch, "/officer/canned", "/officer/canned", text=text)
    behalf = f"/officer/members/{member_id}/requests/new"
    await post(c, behalf, behalf, category="living", description="宿舍的空调坏了，晚上热得睡不着",
               anonymous="management", heard_by="phone", consent="yes",
               client_id=str(uuid.uuid4()))

    # Notices: one from the chair to the project (needs acknowledging), one from the cadre.
    notice = await post(ch, "/officer/notices/new", "/officer/notices/new",
                        title="十月份工资发放安排：15 日前发到每个人的工资卡",
                        body="请大家查收。\n有问题找班组的工会干部。", scope="project",
                        kind="wages", needs_ack="1", client_id=str(uuid.uuid4()))
    s.ids["notice_id"] = notice.headers["location"].rsplit("/", 1)[1]
    await post(c, "/officer/notices/new", "/officer/notices/new", title="安全帽每天戴好",
               body="进场必须戴安全帽。", scope="mine", kind="safety",
               client_id=str(uuid.uuid4()))
    # The week's duty rota, so the worker's pages show today's duty.
    rota = {}
    for n in range(7):
        rota.update({f"theme_{n}": "党群", f"department_{n}": "党群口", f"officer_{n}": "",
                     f"category_{n}": "", f"line_{n}": "工会、党群的事，今天找党群口"})
    await post(ch, "/officer/rota", "/officer/rota", **rota)
    # A duplicate following a resolved master (the worker's "handled together" box), and
    # shared problems of the project: one the worker joined, one still to join (issue 12).
    s.requests["follower"] = await file_request(w, "living", "热水器还是没人修")
    await post(c, f"/officer/requests/{s.requests['follower']}",
               f"/officer/requests/{s.requests['follower']}/duplicate",
               duplicate_of=str(s.requests["resolved"]))
    shared = await post(ch, "/officer/shared", "/officer/shared",
                        title="工地需要电动车棚，充电要安全",
                        summary="下雨天车淋湿，楼道里充电不安全。", client_id=str(uuid.uuid4()))
    s.ids["problem_id"] = shared.headers["location"].rsplit("/", 1)[1]
    await post(w, "/requests", f"/shared/{s.ids['problem_id']}/join",
               client_id=str(uuid.uuid4()))
    await post(ch, "/officer/shared", "/officer/shared", title="十二个人两个月工资没发",
               summary="钢筋班组十二个人，九月、十月工资都没发。", client_id=str(uuid.uuid4()))
    # The deadline job writes the chair's daily summary (from 07:00 Beijing time; earlier in
    # the day the summary page of today is a 404, which the sweep lays out as an error page).
    server.cli("deadlines")
    s.ids["day"] = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    # The upper union's drill-down opens the worker's project.
    project = await server.query("SELECT id FROM union_node WHERE code = 'chuangxingang'")
    s.ids["project_id"] = str(project[0][0])
    s.ids["voice_id"] = "1"
    return s


# A partner (外部协办: legal aid) under the branch above the worker's project.
PARTNER_PHONE = "13700077001"


async def seed_partner(server: LiveServer, chair: Role, s: Seed) -> None:
    """The partner's account, the wage request referred to it with the worker's consent
    recorded aloud, and the escalated one referred anonymised and closed with an outcome:
    its list then has an open and a closed row, and its request page every form."""
    server.cli("officer", "add", "--phone", PARTNER_PHONE, "--name", "王律师", "--role",
               "partner", "--union", "cscec1-xibei", "--password", DEMO_PASSWORD,
               "--organisation", "西安市碑林区法律援助中心", "--partner-kind", "legal_aid")
    partner_id = str(await server.count("SELECT id FROM officer WHERE phone = $1",
                                        PARTNER_PHONE))
    ch = chair.context.request
    for key, consent in (("open", "verbal"), ("upper", "none")):
        rid = s.requests[key]
        await post(ch, f"/officer/requests/{rid}", f"/officer/requests/{rid}/partner",
                   partner=partner_id, consent=consent, note="请法律援助中心协助讨薪",
                   client_id=str(uuid.uuid4()))


def get_routes() -> list[str]:
    """Every GET path of the app, in the order they are registered."""
    paths = []
    for route in APP_ROUTES:
        if isinstance(route, Route) and route.methods and "GET" in route.methods:
            # Starlette writes `{name:convertor}`; keep the name only.
            paths.append(re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
    return list(dict.fromkeys(paths))


def fill(path: str, ids: dict[str, str]) -> str:
    missing = [name for name in re.findall(r"\{(\w+)\}", path) if name not in ids]
    if missing:
        raise AssertionError(
            f"route {path} has parameters {missing} this test cannot fill: add them to the "
            "seed (or to SKIPPED with the reason)")
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


# `screen` is the width the test set: a phone in Chromium's mobile mode widens its layout
# viewport to fit a page that is too wide (then `innerWidth` grows with the page), so both
# are compared with the screen.
LAYOUT_CHECK = "\n".join(
    line for line in (Path(__file__).parent / "layout_check.js").read_text(
        encoding="utf-8").splitlines() if not line.startswith("//"))


async def settle(page: Page) -> None:
    """Until the header badges (an htmx `load` request) are in."""
    await page.wait_for_function(
        "() => !document.querySelector('[hx-trigger=load]') && document.readyState === 'complete'",
        timeout=10_000)


async def sweep(role: Role, server: LiveServer, s: Seed, findings: Findings,
                screenshots: dict[str, str], before_each_language: Any = None) -> None:
    page, api = role.page, role.context.request
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text)
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None)
    # What the first language found to be a page of its own; the others visit only those
    # (a route that redirects to a page already seen, or a second 404, adds nothing).
    pages_found: list[str] | None = None
    for language in LANGUAGES:
        if before_each_language is not None:
            await before_each_language()
        await role.context.add_cookies([{"name": LANGUAGE_COOKIE, "value": language,
                                         "url": server.url}])
        laid_out: set[str] = set()
        # Opening a request or a notice marks it read: those come last, so the badges are
        # up on every other page.
        urls: list[tuple[str, str]] = []
        for path in sorted([*get_routes(), *EXTRA_PAGES], key=lambda p: "{" in p):
            if path in SKIPPED:
                continue
            url = fill(path, s.ids)
            if path == "/lang":
                url += f"?to={language}&next=/"
            if pages_found is None or path in NOT_PAGES or url in pages_found:
                urls.append((path, url))
        found: list[str] = []
        for path, url in urls:
            if path in NOT_PAGES:
                response = await api.get(url, max_redirects=0)
                if response.status >= 500:
                    findings.add(role.name, language, url, f"answered {response.status}")
                continue
            console.clear()
            await page.set_viewport_size(SCREENS[0])
            t0 = time.monotonic()
            try:
                answer = await page.goto(url)
            except Exception as exc:  # a download, say: a new route that is not a page
                findings.add(role.name, language, url,
                             f"not a page ({exc}): add it to NOT_PAGES with the reason")
                continue
            assert answer is not None
            if answer.status >= 500:
                findings.add(role.name, language, url, f"answered {answer.status}")
                continue
            final = page.url.removeprefix(server.url)
            # Error pages share one template: one of each status per role and language.
            key = final if answer.status < 400 else f"error {answer.status}"
            if key in laid_out:
                continue
            laid_out.add(key)
            found.append(url)
            t1 = time.monotonic()
            await settle(page)
            t2 = time.monotonic()
            findings.visited += 1
            for screen in SCREENS:
                await page.set_viewport_size(screen)
                for problem in await page.evaluate(LAYOUT_CHECK, screen["width"]):
                    findings.add(role.name, language, f"{final} @{screen['width']}", problem)
                findings.layouts += 1
            for message in console:
                findings.add(role.name, language, final, "console: " + message)
            findings.timings.append((final, t1 - t0, t2 - t1, time.monotonic() - t2))
            shot = screenshots.get(final)
            # Chinese for all of them; English where its longer words were the trouble.
            if shot and (language == LANGUAGES[0] or "new-request" in shot):
                await page.set_viewport_size(SCREENS[0])
                await page.screenshot(path=SHOTS / f"{language}-{shot}", full_page=True)
        pages_found = found


# Eight roles × some three hundred pages laid out twice: about 90 s on a quiet machine,
# several minutes (over the suite's per-test limit of 300 s) on one shared by other jobs.
@pytest.mark.timeout(1200)
async def test_every_page_fits_the_phone(live_server: LiveServer, browser: Browser) -> None:
    server = live_server
    started = time.monotonic()
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    visitor = await new_role(browser, server, "visitor")
    applicant = await new_role(browser, server, "applicant")
    worker = await new_role(browser, server, "worker")
    cadre = await new_role(browser, server, "cadre", CXG_CADRE)
    chair = await new_role(browser, server, "chair", CXG_CHAIR)
    manager = await new_role(browser, server, "manager", CXG_MANAGER)
    upper = await new_role(browser, server, "upper", UPPER)
    s = await seed(server, worker, cadre, chair, manager, applicant)
    await seed_partner(server, chair, s)
    partner = await new_role(browser, server, "partner", PARTNER_PHONE, landing="/partner")
    upper_id = s.requests["upper"]
    await post(partner.context.request, f"/partner/requests/{upper_id}",
               f"/partner/requests/{upper_id}/outcome", outcome="mediated",
               amount_recovered="32000", note="调解成功，劳务公司同意本月底前签合同")
    seeded = time.monotonic() - started

    opened = s.requests["open"]
    screenshots = {
        "visitor": {"/": "0-visitor-home.png", "/me": "0-visitor-me-new-phone.png"},
        "applicant": {"/me": "0-applicant-waiting.png"},
        "worker": {"/me": "1-worker-home.png", f"/requests/{opened}": "2-worker-request.png",
                   "/requests": "2-worker-requests.png",
                   "/requests/new": "2-worker-new-request.png"},
        "cadre": {"/officer/requests": "3-cadre-queue.png",
                  f"/officer/requests/{opened}": "4-cadre-request.png",
                  f"/officer/members/{s.ids['member_id']}/requests/new":
                      "6-cadre-on-behalf-new-request.png"},
        "chair": {"/officer/pending": "5-chair-pending.png",
                  "/officer/members": "5-chair-members.png",
                  "/officer/canned": "7-chair-canned.png"},
        "partner": {"/partner": "6-partner-list.png",
                    f"/partner/requests/{opened}": "6-partner-request.png"},
    }
    findings = Findings()
    roles = (visitor, applicant, worker, cadre, chair, manager, upper, partner)
    opened = s.requests["open"]

    async def news_for_the_worker() -> None:
        # Reading a request or a notice clears its badge: each language starts with news.
        await act(cadre.context.request, opened, "reply", "班组长说周五发，我周五再去问")
        await post(chair.context.request, "/officer/notices/new", "/officer/notices/new",
                   title="周日下午在食堂开工友大会", body="欢迎大家来。", scope="project",
                   kind="event", client_id=str(uuid.uuid4()))

    for role in roles:
        await sweep(role, server, s, findings, screenshots.get(role.name, {}),
                    news_for_the_worker if role is worker else None)
    for role in roles:
        await role.context.close()
    took = time.monotonic() - started
    print(f"\n{findings.visited} page loads, {findings.layouts} layouts checked in {took:.0f} s "
          f"(seeding {seeded:.0f} s)")
    (SHOTS / "problems.txt").write_text("\n".join(findings.problems), encoding="utf-8")
    (SHOTS / "timings.txt").write_text("\n".join(
        f"{u} goto {a:.3f} settle {b:.3f} check {c:.3f}" for u, a, b, c in findings.timings),
        encoding="utf-8")
    assert findings.visited > 100, "the sweep reached too few pages to mean anything"
    assert not findings.problems, "\n".join(findings.problems)


def test_every_get_route_is_covered() -> None:
    """A GET route the sweep cannot fill fails here first, with the name of the parameter."""
    ids = {"token": "t", "member_id": "1", "request_id": "1", "photo_id": "1", "notice_id": "1",
           "fmt": "png", "day": "2026-12-07", "project_id": "1", "voice_id": "1",
           "problem_id": "1"}
    for path in get_routes():
        if path not in SKIPPED:
            fill(path, ids)
    assert set(NOT_PAGES) <= set(get_routes()), set(NOT_PAGES) - set(get_routes())
    assert set(SKIPPED) <= set(get_routes()), set(SKIPPED) - set(get_routes())
