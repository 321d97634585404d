"""Building the union tree a deployment starts from: union nodes (province → industry →
company → branch → project) and a project's teams, which come and go with the site."""

from __future__ import annotations

import re

from tortoise.exceptions import IntegrityError

from server.db import transaction
from server.errors import DomainError
from server.i18n import gettext
from server.models import NodeKind, Team, UnionNode

# Codes go into join links, exports and commands: short, lower-case, no spaces.
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
RANK = {kind: rank for rank, kind in enumerate(NodeKind)}
MAX_NAME = 120
MAX_TEAM_NAME = 60


async def node_by_code(code: str) -> UnionNode:
    node = await UnionNode.get_or_none(code=code)
    if node is None:
        raise DomainError(gettext("找不到工会组织代码 %(code)s") % {"code": code})
    return node


async def add_union(*, code: str, name: str, kind: NodeKind | str, parent_code: str | None,
                    auto_approve: bool = False) -> UnionNode:
    if not CODE_RE.match(code):
        raise DomainError(gettext("组织代码只能用小写字母、数字和连字符，2–40 位"))
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise DomainError(gettext("请填写组织名称（最多 %(n)d 个字）") % {"n": MAX_NAME})
    try:
        kind = NodeKind(kind)
    except ValueError as exc:
        raise DomainError(gettext("组织类型应为：") + ", ".join(k.value for k in NodeKind)) \
            from exc
    if auto_approve and kind != NodeKind.PROJECT:
        raise DomainError(gettext("只有项目工会可以自动通过入会申请"))
    parent = None
    if parent_code:
        parent = await node_by_code(parent_code)
        if RANK[NodeKind(parent.kind)] >= RANK[kind]:
            raise DomainError(gettext("%(parent)s 下面不能再建这一级组织") % {
                "parent": parent.name})
    elif kind != NodeKind.PROVINCE:
        raise DomainError(gettext("除省级总工会外，每个组织都要有上级组织"))
    try:
        async with transaction():
            node = await UnionNode.create(code=code, name=name, kind=kind, parent=parent,
                                          auto_approve=auto_approve)
            # The materialised path needs the row's own id, so it is set once it has one.
            node.path = f"{parent.path if parent else '/'}{node.id}/"
            await node.save(update_fields=["path"])
    except IntegrityError as exc:
        raise DomainError(gettext("组织代码 %(code)s 已经有了") % {"code": code}) from exc
    return node


async def add_team(project: UnionNode, name: str) -> Team:
    name = name.strip()
    if not project.is_project:
        raise DomainError(gettext("班组只属于项目工会"))
    if not name or len(name) > MAX_TEAM_NAME:
        raise DomainError(gettext("请填写班组名称（最多 %(n)d 个字）") % {"n": MAX_TEAM_NAME})
    if await Team.exists(project_id=project.id, name=name):
        raise DomainError(gettext("本项目已经有“%(name)s”这个班组") % {"name": name})
    try:
        return await Team.create(project=project, name=name)
    except IntegrityError as exc:  # the same name added at the same moment
        raise DomainError(gettext("本项目已经有“%(name)s”这个班组") % {"name": name}) from exc


async def tree_lines() -> list[str]:
    """The tree as indented lines, for the command line."""
    nodes = await UnionNode.all().order_by("path").values("code", "name", "kind", "path",
                                                           "auto_approve", "id")
    teams: dict[int, int] = {}
    for project_id in await Team.all().values_list("project_id", flat=True):
        teams[int(str(project_id))] = teams.get(int(str(project_id)), 0) + 1
    lines = []
    for node in nodes:
        depth = str(node["path"]).count("/") - 2
        extra = ""
        if node["kind"] == NodeKind.PROJECT:
            extra = f"  teams: {teams.get(node['id'], 0)}"
            extra += ", auto-approve" if node["auto_approve"] else ""
        lines.append(f"{'  ' * depth}{node['code']}  [{node['kind']}]  {node['name']}{extra}")
    return lines
