"""Cleaning and checking of what people type. Messages are in the user's language."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from starlette.convertors import IntegerConvertor, register_url_convertor

from server.errors import invalid_form_key_message
from server.i18n import N_, gettext

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
ID_RE = re.compile(r"^\d{17}[\dX]$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

# Shown in the enrolment form's list; "其他" opens a free-text box.
TRADES: tuple[str, ...] = (
    N_("钢筋工"), N_("木工"), N_("混凝土工"), N_("架子工"), N_("瓦工"), N_("电工"),
    N_("焊工"), N_("水暖工"), N_("油漆工"), N_("塔吊司机"), N_("信号工"), N_("普工"),
)
OTHER_TRADE = "other"
MULTILINE_CONTROLS = frozenset("\n\t")


@dataclass
class Cleaner:
    """Collects field errors while cleaning a submitted form."""

    data: Mapping[str, object]
    errors: dict[str, str] = field(default_factory=dict)

    def raw(self, name: str) -> str:
        value = self.data.get(name, "")
        if not isinstance(value, str):
            self.errors[name] = gettext("这一项应当是文字")
            return ""
        return value

    def text(self, name: str, *, required: bool, max_length: int, label: str,
             form: Literal["NFC", "NFKC"] = "NFC", multiline: bool = False) -> str:
        """One field's text. `multiline` lets line breaks and tabs through (descriptions,
        replies), with CRLF and lone CR made LF; every other control character is refused."""
        # NFC keeps full-width Chinese punctuation as typed; numbers use NFKC so that
        # full-width digits from a Chinese keyboard become ASCII.
        value = unicodedata.normalize(form, self.raw(name)).strip()
        allowed = MULTILINE_CONTROLS if multiline else frozenset()
        if multiline:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co"} and ch not in allowed
               for ch in value):
            self.errors[name] = gettext("“%(label)s”里有无法识别的字符，请删掉后重填") % {
                "label": gettext(label)}
            return value
        if required and not value:
            self.errors.setdefault(name, gettext("请填写“%(label)s”") % {"label": gettext(label)})
        elif len(value) > max_length:
            self.errors[name] = gettext("“%(label)s”最多 %(max)d 个字") % {
                "label": gettext(label), "max": max_length}
        return value

    def phone(self, name: str = "phone") -> str:
        value = re.sub(r"[\s-]", "", self.text(name, required=True, max_length=20,
                                                 label=N_("手机号"), form="NFKC"))
        value = value.removeprefix("+86")
        if value and name not in self.errors and not PHONE_RE.match(value):
            self.errors[name] = gettext("手机号应为 11 位数字，以 1 开头")
        return value

    def id_number(self, name: str = "id_number") -> str:
        value = self.text(name, required=False, max_length=25, label=N_("身份证号"),
                          form="NFKC").upper()
        value = value.replace(" ", "")
        if value and name not in self.errors:
            problem = id_number_problem(value)
            if problem:
                self.errors[name] = problem
        return value

    def checked(self, name: str, message: str) -> bool:
        value = self.raw(name).strip().lower()
        ok = value in {"on", "1", "yes", "true", "agree"}
        if not ok:
            self.errors[name] = message
        return ok

    def client_id(self, name: str = "client_id") -> uuid.UUID:
        """The device-made idempotency key; made here when the form was sent without JS."""
        value = self.raw(name).strip()
        if not value:
            return uuid.uuid4()
        try:
            return uuid.UUID(value)
        except ValueError:
            self.errors[name] = invalid_form_key_message()
            return uuid.uuid4()

    def choice(self, name: str, allowed: Mapping[str, object], *, required: bool,
               label: str) -> str:
        value = self.raw(name).strip()
        if not value:
            if required:
                self.errors[name] = gettext("请选择“%(label)s”") % {"label": gettext(label)}
            return ""
        if value not in allowed:
            self.errors[name] = gettext("“%(label)s”的选项无效，请重新选择") % {
                "label": gettext(label)}
            return ""
        return value


class DatabaseIdConvertor(IntegerConvertor):
    """`{name:int}` in a route path: at most 9 digits, so always within the INT columns' range.

    A longer number matches no route (404) instead of reaching the database, where
    SQLite cannot bind it and PostgreSQL refuses it: both would be a 500.
    """

    regex = "[0-9]{1,9}"


# Route paths are compiled when the route modules are imported: server.routes imports this
# module first (see server/routes/__init__.py), so every `{…:int}` uses the bounded one.
register_url_convertor("int", DatabaseIdConvertor())


def small_int(raw: object) -> int | None:
    """A database id from a query or form value: ASCII digits only, within INT range."""
    if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9:
        return int(raw)
    return None


def id_number_problem(value: str) -> str | None:
    """None when `value` is a well-formed 18-digit resident ID number, else the message."""
    if not ID_RE.match(value):
        return gettext("身份证号应为 18 位，最后一位可以是 X")
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return gettext("身份证号里的出生日期不对，请核对")
    total = sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != value[17]:
        return gettext("身份证号校验位不对，请逐位核对")
    return None


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) == 11 else "****"


def mask_id_number(value: str) -> str:
    return value[:3] + "*" * 11 + value[-4:] if len(value) == 18 else ""
