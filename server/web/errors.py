"""The one place errors are turned into responses: a friendly page, or JSON for API clients."""

from __future__ import annotations

import logging
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from server.access import NotJoined
from server.errors import DomainError
from server.i18n import N_, gettext
from server.web.middleware import add_security_headers
from server.web.templating import render, wants_json

log = logging.getLogger("lianxin")

MESSAGES: dict[int, tuple[str, str]] = {
    400: (N_("请求有误"), N_("提交的内容无法识别，请返回重新填写。")),
    401: (N_("需要登录"), N_("登录已过期，请重新登录。")),
    403: (N_("没有权限"), N_("你没有权限做这件事。如果页面停留太久，请刷新后再试。")),
    404: (N_("找不到页面"), N_("这个页面不存在，或者你没有权限查看。")),
    405: (N_("操作不支持"), N_("这个页面不支持这种操作。")),
    413: (N_("内容太大"), N_("提交的内容或照片太大了，请删减后再试。")),
    429: (N_("操作太频繁"), N_("尝试次数太多，请过一会儿再试。")),
    500: (N_("系统出错了"), N_("服务器出了问题，你填写的内容没有丢失，请稍后再试。")),
}


def error_response(request: Request, status: int, detail: str | None = None) -> Response:
    title, message = MESSAGES.get(status, MESSAGES[500 if status >= 500 else 400])
    if detail and status in {400, 401, 403, 409, 422, 429} and detail not in {"csrf"}:
        message = detail
    if wants_json(request):
        return JSONResponse({"error": gettext(title), "message": gettext(message)},
                            status_code=status)
    return render(request, "errors/error.html",
                  {"status": status, "title": gettext(title), "message": gettext(message)},
                  status_code=status, headers={"Cache-Control": "no-store"})


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code in {301, 302, 303, 307, 308} and exc.headers:
        return Response(status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, NotJoined) and not wants_json(request):
        return render(request, "errors/not_joined.html", {}, status_code=exc.status_code,
                      headers={"Cache-Control": "no-store"})
    detail = exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else None
    response = error_response(request, exc.status_code, detail)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def domain_error(request: Request, exc: Exception) -> Response:
    """A service's refusal that no route turned into a form: its message on an error page
    (or JSON for the outbox), with the status the service chose."""
    assert isinstance(exc, DomainError)
    return error_response(request, exc.status, exc.message)


async def server_error(request: Request, exc: Exception) -> Response:
    """The 500 page. Starlette sends it from outside every middleware, so the security
    headers are added here; and if even the page fails to render, plain text goes out."""
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    try:
        response = error_response(request, 500)
    except Exception:
        log.exception("the error page itself failed")
        title, message = MESSAGES[500]
        response = PlainTextResponse(f"{gettext(title)}\n{gettext(message)}", status_code=500,
                                     headers={"Cache-Control": "no-store"})
    settings = getattr(request.app.state, "settings", None)
    add_security_headers(response.headers, hsts=bool(settings and settings.production))
    return response
