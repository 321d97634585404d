"""Demo union tree from the Shaanxi "1+X+100" reports. Loading it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from server.models import Category, DutyDay, NodeKind, Officer, Role, Team, UnionNode
from server.services import rota
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
