"""Display names for enumerations, marked for translation and translated where shown."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from server.i18n import N_, gettext

CHINA = ZoneInfo("Asia/Shanghai")

ROLE_LABELS = {
    "admin": N_("系统管理员"), "upper": N_("上级工会"), "chair": N_("工会主席"),
    "cadre": N_("工会干部"), "manager": N_("项目管理人员"),
}
STATUS_LABELS = {
    "pending": N_("待审核"), "active": N_("正式会员"), "rejected": N_("未通过"),
    "left": N_("已退会"),
}
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


def status_label(value: object) -> str:
    return _label(STATUS_LABELS, value)


def card_reason(value: object) -> str:
    return _label(CARD_REASONS, value)


def localdate(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d") if value else "—"


def localtime(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if value else "—"
