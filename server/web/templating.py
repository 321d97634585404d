"""Jinja2 with gettext, and the one `render` every handler uses.

A page that has an htmx fragment includes the fragment's template; an htmx request for the
same URL gets the fragment alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.templating import Jinja2Templates

from server import i18n, labels, privacy
from server.web.forms import csrf_token

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates"


def make_templates(asset_url: Any) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
        # Templates ship with the release: no stat() of every template on every render.
        auto_reload=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    env.globals["static"] = asset_url
    env.globals["LANGUAGES"] = i18n.LANGUAGES
    env.globals["js_strings"] = js_strings
    env.globals["outbox_names"] = outbox_names
    env.globals["labels"] = TEMPLATE_LABELS
    env.globals["limits"] = text_limits()
    # The nav shows "干部账号" to whoever may manage accounts: server.access decides who.
    from server.access import can_manage_officers

    env.globals["can_manage_officers"] = can_manage_officers
    env.filters["t"] = i18n.gettext
    env.filters["role_label"] = labels.role_label
    env.filters["status_label"] = labels.status_label
    env.filters["card_reason"] = labels.card_reason
    env.filters["localdate"] = labels.localdate
    env.filters["localtime"] = labels.localtime
    env.filters["pageparams"] = page_params
    env.filters["tel"] = tel_href
    env.filters["yuan"] = labels.yuan
    return Jinja2Templates(env=env)


def js_strings() -> dict[str, str | dict[str, str]]:
    """Words the page scripts show (outbox, update banner), in the page's language. A count
    comes as its two forms ({"one", "other"}): the scripts pick one (Chinese has one form,
    English two; no third language yet)."""
    _, ngettext = i18n.gettext, i18n.ngettext

    def forms(one: str, other: str) -> dict[str, str]:
        return {"one": one, "other": other}

    # Each text written out twice (for 1 and for more), so extraction finds it.
    return {
        "pending": forms(ngettext("%(n)d 条待发送", "%(n)d 条待发送", 1),
                         ngettext("%(n)d 条待发送", "%(n)d 条待发送", 2)),
        "attention": forms(ngettext("%(n)d 条需要处理", "%(n)d 条需要处理", 1),
                           ngettext("%(n)d 条需要处理", "%(n)d 条需要处理", 2)),
        "lastSync": _("上次同步"), "never": _("还没有"),
        "saved": _("已保存，有网络时自动发送"), "sent": _("已发送"),
        "viewQueue": _("查看待发送"),
        "attempts": forms(ngettext("已尝试 %(n)d 次", "已尝试 %(n)d 次", 1),
                          ngettext("已尝试 %(n)d 次", "已尝试 %(n)d 次", 2)),
        "needsAttention": _("需要处理："),
        "sendNow": _("立即发送"), "edit": _("修改"), "resend": _("修改后重新发送"),
        "discard": _("删除"), "confirmDiscard": _("确定删除这一条吗？删除后不会发送。"),
        "queued": _("待发送"), "savedAt": _("保存于"),
        "reasonWaiting": _("等待发送"),
        "reasonNetwork": _("现在没有网络，有信号时会自动发送，不用重填。"),
        "reasonBusy": _("提交得太快了，过一会儿会自动再发。"),
        "reasonServer": _("服务器暂时出了问题，过一会儿会自动再发，内容不会丢。"),
        "photo": _("照片"), "removePhoto": _("删掉这张"),
        "photoLimit": _("最多 %(max)d 张照片：已选 %(have)d 张，这次又选了 %(n)d 张，没有加上。"
                        "请少选几张，或先删掉一张。"),
        "youQueued": _("你排队要做的"), "requestNow": _("诉求现在"),
        "reapply": _("看过了，仍然执行"), "openRequest": _("打开诉求"),
        "logoutPending": forms(
            ngettext("还有 %(n)d 条操作没有发出去。退出后会从这部手机上删掉，不会再发送。"
                     "确定退出吗？",
                     "还有 %(n)d 条操作没有发出去。退出后会从这部手机上删掉，不会再发送。"
                     "确定退出吗？", 1),
            ngettext("还有 %(n)d 条操作没有发出去。退出后会从这部手机上删掉，不会再发送。"
                     "确定退出吗？",
                     "还有 %(n)d 条操作没有发出去。退出后会从这部手机上删掉，不会再发送。"
                     "确定退出吗？", 2)),
        "micDenied": _(
            "没有用上麦克风。可以在浏览器设置里允许录音，或者点下面选择手机录好的音频。"),
    }

def outbox_names() -> dict[str, str]:
    """An outbox item's name by its form's kind, in the page's language, for the outbox page
    only (static/js/outbox-page.js): an item is named in the language of the page showing it,
    which can differ from the one it was queued in. Not in `js_strings`, which every page
    carries."""
    _ = i18n.gettext
    return {
        "request": _("提交诉求"), "on_behalf": _("代提交诉求"), "enrol": _("入会"),
        "notice": _("发布通知"), "ack": _("确认通知"), "contact": _("记一次联系"),
        "contact-visit": _("记走访"), "contact-call": _("记电话"),
        "shared-join": _("我也遇到"), "shared-new": _("发布共性问题"),
        "wage_join": _("登记欠薪"), "confirm": _("确认解决"), "reopen": _("没有解决"),
        "rate": _("评价"), "reply": _("补充情况"),
        "action-acknowledge": _("受理"), "action-reply": _("回复工友"),
        "action-management_reply": _("答复"), "action-resolve": _("办结"),
        "action-note": _("内部备注"), "action-escalate": _("上报"),
        "action-refer": _("转项目管理人员"),
    }



# The enumerations' display names, as templates read them (`labels.CATEGORY_LABELS[...]`).
TEMPLATE_LABELS = SimpleNamespace(
    CATEGORY_LABELS=labels.CATEGORY_LABELS, STATUS_LABELS=labels.REQUEST_STATUS_LABELS,
    LEVEL_LABELS=labels.LEVEL_LABELS, EVENT_LABELS=labels.EVENT_LABELS,
    WORKER_READABLE_NOTES=privacy.WORKER_READABLE_NOTES,
    WAGE_STAGE_LABELS=labels.WAGE_STAGE_LABELS)


def text_limits() -> dict[str, int | str]:
    """Every limit a page states or enforces (`maxlength`, "24 小时内有效", "最大 1.5 MB"),
    read from the constant the server checks, so changing one changes the words too."""
    from server.passwords import MIN_LENGTH
    from server.services import (
        contacts,
        lifecycle,
        membership,
        notices,
        officers,
        photos,
        rebind,
        voice,
    )
    from server.services import requests as filing

    return {
        "description": filing.MAX_DESCRIPTION, "note": lifecycle.MAX_NOTE,
        "rating_comment": lifecycle.MAX_RATING_COMMENT, "max_photos": photos.MAX_PHOTOS,
        "photo_mb": f"{photos.MAX_UPLOAD_BYTES / 1_000_000:g}",
        "rebind_digits": rebind.CODE_DIGITS,
        "rebind_hours": int(rebind.CODE_LIFETIME.total_seconds() // 3600),
        "liaison_load": membership.LIAISON_LIMIT,
        "notice_title": notices.MAX_TITLE, "notice_body": notices.MAX_BODY,
        "password_min": MIN_LENGTH, "password_code_hours": int(
            officers.CODE_LIFETIME.total_seconds() // 3600),
        "voice_seconds": voice.MAX_SECONDS,
        "voice_mb": f"{voice.MAX_BYTES / 1_000_000:g}",
        "office_address": contacts.MAX_OFFICE_ADDRESS,
    }


def tel_href(phone: str) -> str:
    """A `tel:` link for a number as people write it (029-8888 6666): digits and + only."""
    return "tel:" + "".join(ch for ch in phone if ch.isascii() and (ch.isdigit() or ch == "+"))


def page_params(params: Mapping[str, str], page: int) -> str:
    """The current query string with another page number."""
    items = [(k, v) for k, v in params.items() if k != "page"]
    return urlencode([*items, ("page", str(page))])


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def form_errors_json(context: Mapping[str, Any], status_code: int) -> JSONResponse:
    """A refused form as the outbox reads it: the message per field, and all of them joined
    for the one line it shows (no HTML to scrape)."""
    errors = context.get("errors")
    fields = {str(k): str(v) for k, v in errors.items()} if isinstance(errors, Mapping) else {}
    single = context.get("error")
    if isinstance(single, str) and single:
        fields.setdefault("form", single)
    return JSONResponse({"message": "；".join(fields.values()), "errors": fields},
                        status_code=status_code)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    fragment: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if status_code >= 400 and wants_json(request):
        return form_errors_json(context or {}, status_code)
    templates: Jinja2Templates = request.app.state.templates
    ctx = _base_context(request, csrf_token(request))
    ctx.update(context or {})
    name = fragment if fragment and is_htmx(request) else template
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code,
                                          headers=headers)
    response.headers.append("Vary", "HX-Request")
    return response


def _base_context(request: Request, csrf: str) -> dict[str, Any]:
    language = request.scope.get("language", i18n.DEFAULT_LANGUAGE)
    return {
        "lang": language,
        "html_lang": i18n.html_lang(language),
        "csrf_token": csrf,
        "officer": request.scope.get("officer"),
        "member": request.scope.get("member"),
        "path": request.url.path,
        "query": request.url.query,
    }


def render_part(request: Request, template: str, context: dict[str, Any]) -> str:
    """A part of a page shared by several readers, as text, in the request's language.
    Nothing of the reader is in its context (no CSRF token, officer or member: the
    templates' strict undefined turns any use of them into an error, not a leak)."""
    language = request.scope.get("language", i18n.DEFAULT_LANGUAGE)
    templates: Jinja2Templates = request.app.state.templates
    return templates.get_template(template).render(
        {"lang": language, "html_lang": i18n.html_lang(language), **context})


# Stands for the visitor's CSRF token in a page rendered once for every visitor.
CSRF_SLOT = "lianxin-csrf-slot-7f3a"


def render_with_slot(request: Request, template: str, context: dict[str, Any]) -> str:
    """A whole page as text with `CSRF_SLOT` for the token, to be kept and served to other
    readers whose page is the same but for their token (`fill_slot`)."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.get_template(template).render(
        {**_base_context(request, CSRF_SLOT), **context})


def fill_slot(request: Request, html: str, headers: Mapping[str, str] | None = None
              ) -> HTMLResponse:
    response = HTMLResponse(html.replace(CSRF_SLOT, csrf_token(request)), headers=headers)
    response.headers.append("Vary", "HX-Request")
    return response


def render_shared(request: Request, cache: dict[tuple[str, bool, str], str], template: str,
                  context: dict[str, Any], *, fragment: str | None = None) -> HTMLResponse:
    """`render` for a page that is the same for every anonymous visitor but for the CSRF
    token: the poster's join form, opened by hundreds of workers on a mass-enrolment day.
    Rendered once per language and variant into `cache` (owned by the caller, which decides
    how long it lives), with the token filled in per request. Callers must not use it for
    a visitor who is signed in: the page would not show it."""
    htmx = is_htmx(request)
    key = (str(request.scope.get("language", i18n.DEFAULT_LANGUAGE)), htmx, request.url.query)
    html = cache.get(key)
    if html is None:
        templates: Jinja2Templates = request.app.state.templates
        ctx = {**_base_context(request, CSRF_SLOT), **context, "officer": None, "member": None}
        html = templates.get_template(fragment if fragment and htmx else template).render(ctx)
        if len(cache) < 16:  # languages × htmx × a few query strings; a made-up one is not kept
            cache[key] = html
    response = HTMLResponse(html.replace(CSRF_SLOT, csrf_token(request)))
    response.headers.append("Vary", "HX-Request")
    return response
