"""Pages and files anyone may fetch: home, health, language switch, static, PWA files."""

from __future__ import annotations

from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from tortoise import connections

from server.access import current_member, current_officer
from server.i18n import LANGUAGES
from server.web.middleware import LANGUAGE_COOKIE
from server.web.static import asset_response
from server.web.templating import render

ROOT = Path(__file__).resolve().parents[2]


async def home(request: Request) -> Response:
    if await current_officer(request):
        return RedirectResponse("/officer", status_code=303)
    member = await current_member(request)
    if member:
        return RedirectResponse("/me", status_code=303)
    return render(request, "home.html")


async def healthz(request: Request) -> Response:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means "not healthy", reported as such
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"},
                        headers={"Cache-Control": "no-store"})


def safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site paths: never an open redirect."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


async def switch_language(request: Request) -> Response:
    language = request.query_params.get("to", "")
    if language not in LANGUAGES:
        raise HTTPException(400)
    response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, samesite="lax",
                        secure=request.app.state.settings.secure_cookies, httponly=True)
    return response


async def static_file(request: Request) -> Response:
    asset = request.app.state.assets.by_url.get(request.url.path)
    if asset is None:
        raise HTTPException(404)
    return asset_response(request, asset)


async def favicon(request: Request) -> Response:
    """Browsers ask for /favicon.ico whatever the page says; answer with the app icon."""
    return RedirectResponse(request.app.state.assets.url("pwa/icons/icon-192.png"),
                            status_code=301)


async def offline(request: Request) -> Response:
    return render(request, "offline.html")


async def outbox(request: Request) -> Response:
    """The queue page: its list lives in the phone (IndexedDB); the server sends the shell."""
    return render(request, "outbox.html")


routes = [
    Route("/", home),
    Route("/healthz", healthz),
    Route("/lang", switch_language),
    Route("/favicon.ico", favicon),
    Route("/offline", offline),
    Route("/outbox", outbox),
    Route("/static/{path:path}", static_file),
    Route("/pwa/{path:path}", static_file),
    Route("/sw/{path:path}", static_file),
]
