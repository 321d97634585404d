"""Display names for enumerations, marked for translation and translated where shown."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.i18n import N_, gettext
from server.models.requests import Category, EventKind, Level, Status

CHINA = ZoneInfo("Asia/Shanghai")

ROLE_LABELS = {
    "admin": N_("系统管理员"), "upper": N_("上级工会"), "chair": N_("工会主席"),
    "cadre": N_("工会干部"), "manager": N_("项目管理人员"), "partner": N_("外部协办"),
}
MEMBER_STATUS_LABELS = {
    "pending": N_("待审核"), "active": N_("正式会员"), "rejected": N_("未通过"),
    "left": N_("已离场"),
}
CATEGORY_LABELS: dict[str, str] = {
    Category.WAGES: N_("工资"), Category.SAFETY: N_("安全"), Category.LIVING: N_("生活住宿"),
    Category.FAMILY_VISIT: N_("探亲"), Category.TRAVEL_HOME: N_("返乡"),
    Category.LEGAL: N_("法律"), Category.HEALTH: N_("医疗健康"),
    Category.COUNSELLING: N_("心理疏导"), Category.TRAINING: N_("技能培训"),
    Category.SUGGESTION: N_("五小建议"), Category.OTHER: N_("其他"),
}
REQUEST_STATUS_LABELS: dict[str, str] = {
    Status.SUBMITTED: N_("待受理"), Status.ACKNOWLEDGED: N_("已受理"),
    Status.IN_PROGRESS: N_("办理中"), Status.RESOLVED: N_("已办结"),
    Status.CLOSED: N_("已确认"), Status.DECLINED: N_("不予受理"),
}
LEVEL_LABELS: dict[str, str] = {
    Level.CADRE: N_("工会干部"), Level.CHAIR: N_("工会主席"), Level.UPPER: N_("上级工会"),
}
EVENT_LABELS: dict[str, str] = {
    EventKind.SUBMITTED: N_("提交了诉求"), EventKind.ACKNOWLEDGED: N_("已受理"),
    EventKind.REPLY: N_("工会回复"), EventKind.WORKER_REPLY: N_("工友补充"),
    EventKind.NOTE: N_("内部备注"), EventKind.ESCALATED: N_("已上报"),
    EventKind.AUTO_ESCALATED: N_("超时未办，自动上报"),
    EventKind.REFERRED: N_("已转项目管理人员"),
    EventKind.MANAGEMENT_REPLY: N_("项目管理人员答复"), EventKind.RESOLVED: N_("已办结"),
    EventKind.DECLINED: N_("不予受理"), EventKind.DUPLICATE: N_("与其他工友反映的同一问题合并办理"),
    EventKind.CONFIRMED: N_("工友确认已解决"), EventKind.AUTO_CLOSED: N_("超时自动确认"),
    EventKind.REOPENED: N_("工友表示没有解决"), EventKind.RATED: N_("工友评价"),
    EventKind.REASSIGNED: N_("更换负责干部"),
    EventKind.HANDED_OVER: N_("原负责干部账号停用，已移交"),
    EventKind.DUE_SOON: N_("快到期了，已提醒负责干部"),
    EventKind.MERGED: N_("有一条同样的诉求合并到这里"),
    EventKind.UNLINKED: N_("取消合并，单独办理"),
    EventKind.WAGE_VERIFIED: N_("欠薪已核实"), EventKind.WAGE_PROMISED: N_("已承诺支付日期"),
    EventKind.WAGE_PARTIAL: N_("已部分支付"), EventKind.WAGE_PAID: N_("欠薪已支付"),
    EventKind.WAGE_CLAIM: N_("登记了一位工友的欠薪"),
    EventKind.VIEWED: N_("干部已查看"),
    EventKind.PARTNER_REFERRED: N_("已转外部协办单位"),
    EventKind.PARTNER_REPLY: N_("协办单位回复"),
    EventKind.PARTNER_NOTE: N_("协办单位备注"),
    EventKind.PARTNER_OUTCOME: N_("协办单位记录了结果"),
    EventKind.CONSENT: N_("工友答复是否告知身份"),
}
HEARD_BY_LABELS = {"in_person": N_("当面"), "phone": N_("电话")}
# The officer actions by name, as the panel's choice and the outbox's "needs attention"
# entry say them.
OFFICER_ACTION_LABELS: dict[str, str] = {
    "acknowledge": N_("受理"), "reply": N_("回复工友"), "management_reply": N_("答复"),
    "note": N_("内部备注"), "resolve": N_("办结"), "escalate": N_("上报"),
    "refer": N_("转项目管理人员"), "decline": N_("不予受理"), "duplicate": N_("标记重复"),
    "reassign": N_("换负责干部"), "wage_verify": N_("欠薪已核实"),
    "wage_promise": N_("已承诺支付日期"), "wage_partial": N_("已部分支付"),
    "wage_paid": N_("欠薪已支付"),
}
WAGE_STAGE_LABELS: dict[str, str] = {
    "verified": N_("已核实"), "promised": N_("已承诺支付日期"), "partial": N_("已部分支付"),
    "paid": N_("已支付"),
}


def yuan(value: object) -> str:
    """Whole yuan with thousands separators (12,000): how amounts are written on pages."""
    return f"{int(value):,}" if isinstance(value, int) else "—"


CARD_REASONS = {
    "bad_signature": N_("无法识别的会员卡"), "unknown": N_("找不到这位会员"),
    "replaced": N_("这张卡已作废（会员换了手机）"), "inactive": N_("不是有效会员"),
    "out_of_scope": N_("不是你所在工会的会员"),
    "expired": N_("会员卡已过期：请会员在有网络时打开“会员卡”页面，自动换新卡"),
}


def _label(table: dict[str, str], value: object) -> str:
    key = getattr(value, "value", value)
    return gettext(table[key]) if isinstance(key, str) and key in table else str(key)


def role_label(value: object) -> str:
    return _label(ROLE_LABELS, value)


def request_status_label(value: object) -> str:
    return _label(REQUEST_STATUS_LABELS, value)


def status_label(value: object) -> str:
    return _label(MEMBER_STATUS_LABELS, value)


def heard_by_label(value: object) -> str:
    return _label(HEARD_BY_LABELS, value)


def card_reason(value: object) -> str:
    return _label(CARD_REASONS, value)


def localdate(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d") if value else "—"


def localtime(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else "—"
