"""Demo union tree from the Shaanxi "1+X+100" reports. Loading it twice changes nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from server.crypto import Keyring
from server.models import (
    Anonymity,
    CannedReply,
    Category,
    DutyDay,
    Member,
    NodeKind,
    Officer,
    Role,
    ServiceRequest,
    Team,
    UnionNode,
    Urgency,
)
from server.services import canned, enrolment, lifecycle, membership, rota, wages
from server.services import requests as filing
from server.services.officers import add_officer
from server.services.unions import add_union

DEMO_PASSWORD = "lianxin-demo-2026"  # noqa: S105 - published demo login, printed by `lianxin demo`

# (code, name, kind, parent code, auto-approve)
NODES: tuple[tuple[str, str, NodeKind, str | None, bool], ...] = (
    ("shaanxi", "陕西省总工会", NodeKind.PROVINCE, None, False),
    ("shaanxi-jianshe", "陕西省建设工会", NodeKind.INDUSTRY, "shaanxi", False),
    ("cscec1", "中建一局", NodeKind.COMPANY, "shaanxi-jianshe", False),
    ("cscec1-xibei", "中建一局西北公司", NodeKind.BRANCH, "cscec1", False),
    ("xibailiang", "中建一局西柏梁项目工会联合会", NodeKind.PROJECT, "cscec1-xibei", True),
    ("chuangxingang", "陕建创新港项目工会", NodeKind.PROJECT, "cscec1-xibei", False),
)
TEAMS = {
    "xibailiang": ("钢筋班组", "木工班组", "混凝土班组", "架子班组"),
    "chuangxingang": ("钢筋班组", "机电安装班组", "砌筑班组"),
}
# (phone, name, role, union code, team)
OFFICERS: tuple[tuple[str, str, Role, str, str | None], ...] = (
    ("13900000001", "系统管理员", Role.ADMIN, "shaanxi", None),
    ("13900000002", "省建设工会 李明", Role.UPPER, "shaanxi-jianshe", None),
    ("13900000010", "西柏梁 工会主席 张卫东", Role.CHAIR, "xibailiang", None),
    ("13900000011", "西柏梁 干部 刘芳", Role.CADRE, "xibailiang", "钢筋班组"),
    ("13900000012", "西柏梁 干部 赵强", Role.CADRE, "xibailiang", "木工班组"),
    ("13900000013", "西柏梁 干部 孙丽", Role.CADRE, "xibailiang", None),
    ("13900000019", "西柏梁 项目经理 周涛", Role.MANAGER, "xibailiang", None),
    ("13900000020", "创新港 工会主席 马建军", Role.CHAIR, "chuangxingang", None),
    ("13900000021", "创新港 干部 陈静", Role.CADRE, "chuangxingang", "钢筋班组"),
    ("13900000022", "创新港 干部 杨波", Role.CADRE, "chuangxingang", None),
    ("13900000029", "创新港 项目经理 吴刚", Role.MANAGER, "chuangxingang", None),
)

# "周一益康医药值日，周二安全部值日，周三质量部值日，周四党群口值日，周五大家谈"
ROTAS: dict[str, list[rota.DutyRow]] = {
    "xibailiang": [
        rota.DutyRow("医疗健康", "益康医药", None, Category.HEALTH, "身体不舒服，今天找益康医药"),
        rota.DutyRow("安全", "安全部", None, Category.SAFETY, "看到安全隐患，今天直接报安全部"),
        rota.DutyRow("质量", "质量部", None, None, "质量部今天在现场"),
        rota.DutyRow("党群", "党群口", None, None, "工会、党群的事，今天找党群口"),
        rota.DutyRow(rota.OPEN_FORUM, "", None, Category.SUGGESTION, "你有什么好点子？说出来"),
        rota.DutyRow(), rota.DutyRow(),
    ],
}


@dataclass
class DemoLogin:
    phone: str
    name: str
    role: Role
    union: str
    created: bool


async def ensure_node(code: str, name: str, kind: NodeKind, parent_code: str | None,
                      auto_approve: bool = False) -> UnionNode:
    node = await UnionNode.get_or_none(code=code)
    if node is not None:
        return node
    return await add_union(code=code, name=name, kind=kind, parent_code=parent_code,
                           auto_approve=auto_approve)


async def load_demo() -> list[DemoLogin]:
    for code, name, kind, parent, auto in NODES:
        await ensure_node(code, name, kind, parent, auto)
    for code, teams in TEAMS.items():
        project = await UnionNode.get(code=code)
        for team in teams:
            await Team.get_or_create(project=project, name=team)
    for code, week in ROTAS.items():
        project = await UnionNode.get(code=code)
        # Once only: a chair who has edited the demo week keeps the edit.
        if not await DutyDay.exists(project=project):
            await rota.set_week(project, week)
    logins = []
    for phone, name, role, union, team_name in OFFICERS:
        created = not await Officer.exists(phone=phone)
        if created:
            await add_officer(phone=phone, name=name, role=role, union_code=union,
                              password=DEMO_PASSWORD, team=team_name)
        logins.append(DemoLogin(phone, name, role, union, created))
    return logins


# --- demo wage cases (欠薪) ---------------------------------------------------------------------
# A few wage cases with amounts, so the demo union's figures show wage arrears (five filers
# in each project, so the upper union's table shows them too: fewer read "< 5"). Loaded by
# `lianxin demo` (not by the test suite's template, whose tests count requests from zero).
# Fixed keys (uuid5) make a second run find what the first one made and change nothing.
_DEMO_KEYS = uuid.uuid5(uuid.NAMESPACE_URL, "https://lianxin.invalid/demo-wages")
# (phone, name, project, team, employer, hometown)
DEMO_WORKERS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("13700000101", "王建军", "xibailiang", "钢筋班组", "演示劳务分包队", "陕西渭南"),
    ("13700000102", "李永强", "xibailiang", "钢筋班组", "演示劳务分包队", "陕西商洛"),
    ("13700000103", "张海涛", "xibailiang", "钢筋班组", "演示劳务分包队", "甘肃天水"),
    ("13700000104", "刘德明", "xibailiang", "木工班组", "演示木工队", "河南南阳"),
    ("13700000105", "陈志刚", "xibailiang", "混凝土班组", "演示混凝土队", "陕西安康"),
    ("13700000106", "周平安", "xibailiang", "架子班组", "演示架子队", "陕西汉中"),
    ("13700000107", "吴春生", "xibailiang", "混凝土班组", "演示混凝土队", "河南周口"),
    ("13700000201", "赵小兵", "chuangxingang", "机电安装班组", "演示机电分包", "四川广元"),
    ("13700000202", "钱大勇", "chuangxingang", "钢筋班组", "演示钢筋队", "陕西宝鸡"),
    ("13700000203", "郑红梅", "chuangxingang", "砌筑班组", "演示砌筑队", "甘肃陇南"),
    ("13700000204", "冯国庆", "chuangxingang", "机电安装班组", "演示机电分包", "陕西咸阳"),
    ("13700000205", "韩立新", "chuangxingang", "钢筋班组", "演示钢筋队", "山西运城"),
)


@dataclass(frozen=True)
class DemoCase:
    key: str
    filer: str  # phone
    amount_owed: int
    workers: int
    employer: str
    period: str
    text: str
    # (action, amount, promised) taken by the project's chair, in order
    milestones: tuple[tuple[str, int | None, date | None], ...] = ()
    # (phone, amount, consent)
    claims: tuple[tuple[str, int, bool], ...] = ()


DEMO_CASES: tuple[DemoCase, ...] = (
    DemoCase("rebar", "13700000101", 96_000, 8, "演示劳务分包队", "2026 年 9 月—11 月",
             "钢筋班组 8 个人三个月工资没发，班组长说分包队没拿到钱。",
             (("wage_verify", 96_000, None), ("wage_promise", None, date(2026, 12, 20)),
              ("wage_partial", 30_000, None)),
             (("13700000101", 12_000, True), ("13700000102", 12_000, True),
              ("13700000103", 12_000, False))),
    DemoCase("carpenter", "13700000104", 8_500, 1, "演示木工队", "2026 年 10 月",
             "十月份的工资还差 8500 元。", (("wage_verify", 8_500, None),
                                             ("wage_paid", None, None))),
    DemoCase("concrete", "13700000105", 15_000, 2, "演示混凝土队", "2026 年 11 月",
             "我们两个人十一月的工资没结。"),
    DemoCase("scaffold", "13700000106", 6_200, 1, "演示架子队", "2026 年 11 月",
             "架子班组十一月工资还没发。", (("wage_verify", 6_200, None),)),
    DemoCase("concrete2", "13700000107", 4_800, 1, "演示混凝土队", "2026 年 10 月",
             "十月份加班费 4800 元没给。"),
    DemoCase("mep", "13700000201", 42_000, 6, "演示机电分包", "2026 年 8 月—10 月",
             "机电安装班组 6 个人的工资拖了三个月。"),
    DemoCase("rebar-cxg", "13700000202", 12_000, 2, "演示钢筋队", "2026 年 11 月",
             "我们两个人十一月的工资没发。", (("wage_verify", 12_000, None),
                                             ("wage_partial", 4_000, None))),
    DemoCase("masonry", "13700000203", 7_500, 1, "演示砌筑队", "2026 年 10 月",
             "砌筑班组欠我十月份的工资。", (("wage_promise", None, date(2026, 12, 31)),)),
    DemoCase("mep2", "13700000204", 5_600, 1, "演示机电分包", "2026 年 11 月",
             "十一月工资少发了 5600 元。", (("wage_paid", 5_600, None),)),
    DemoCase("rebar-cxg2", "13700000205", 9_000, 1, "演示钢筋队", "2026 年 9 月",
             "九月份的工资一直拖着。"),
)


def demo_id_number(phone: str) -> str:
    """A well-formed (checksummed) but made-up ID number for a demo worker."""
    body = "610502198" + phone[-8:]
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


async def _demo_worker(keyring: Keyring, phone: str, name: str, code: str, team: str,
                       employer: str, hometown: str) -> Member:
    project = await UnionNode.get(code=code)
    existing = await Member.get_or_none(phone=phone, project_id=project.id)
    if existing is None:
        data = enrolment.EnrolmentData(uuid.uuid5(_DEMO_KEYS, f"member:{phone}"), name, phone,
                                       "钢筋工", await Team.get(project=project, name=team),
                                       employer, hometown, demo_id_number(phone))
        existing = (await enrolment.enrol(project, data, keyring)).member
    if existing.status != "active":
        await membership.approve(existing, None)
    return await Member.get(id=existing.id).select_related("project", "team", "liaison")


async def load_demo_cases(keyring: Keyring) -> list[ServiceRequest]:
    """The demo's wage cases (idempotent): workers, their cases, the chair's milestones and
    the collective case's claims."""
    members: dict[str, Member] = {}
    for phone, name, code, team, employer, hometown in DEMO_WORKERS:
        members[phone] = await _demo_worker(keyring, phone, name, code, team, employer,
                                            hometown)
    cases = []
    for case in DEMO_CASES:
        filer = members[case.filer]
        new = filing.NewRequest(
            uuid.uuid5(_DEMO_KEYS, f"case:{case.key}"), Category.WAGES, case.text,
            Urgency.NORMAL, Anonymity.MANAGEMENT,
            wage=wages.WageFacts(case.amount_owed, case.workers, case.employer, case.period))
        filed = await filing.file_request(filer, new, [])
        request = filed.request
        if filed.created:
            chair = await Officer.get(role=Role.CHAIR, union_id=filer.project.id, active=True)
            for action, amount, promised in case.milestones:
                fresh = await ServiceRequest.get(id=request.id)
                await lifecycle.apply_officer_action(chair, fresh, action, lifecycle.ActionInput(
                    wage=wages.MilestoneInput(amount, promised)))
            for phone, amount, consent in case.claims:
                fresh = await ServiceRequest.get(id=request.id)
                await wages.add_claim(fresh, members[phone], wages.ClaimInput(
                    amount, consent, uuid.uuid5(_DEMO_KEYS, f"claim:{case.key}:{phone}")),
                    officer=chair)
        cases.append(await ServiceRequest.get(id=request.id))
    return cases


# --- demo canned replies (常用回复) -------------------------------------------------------------
# What a project's chair would keep for the cadres to pick; loaded by `lianxin demo` only
# (the tests count canned replies from zero).
DEMO_CANNED: tuple[str, ...] = (
    "收到，我们今天就去现场看一下，有进展马上告诉你。",
    "工资的事已经报给项目部和劳务分包，我们盯着，发了告诉你。",
    "已经找到负责的人，这两天会处理。处理完请你看一下，没解决就点“没有解决”。",
    "这件事需要你提供一下照片（工资条、考勤或聊天记录都行），补充在这条诉求里。",
)


async def load_demo_canned() -> int:
    """Each demo project's canned replies, once: a chair who has edited the list keeps it.
    The number added."""
    added = 0
    for code, *_rest in NODES:
        project = await UnionNode.get(code=code)
        if not project.is_project or await CannedReply.exists(project_id=project.id):
            continue
        chair = await Officer.get_or_none(role=Role.CHAIR, union_id=project.id, active=True)
        if chair is None:
            continue
        for text in DEMO_CANNED:
            await canned.add(chair, project, text)
            added += 1
    return added
