"""The installable-app files: web manifest and service worker, both at fixed root URLs."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.web.static import Asset, AssetStore, asset_response, make_asset

ROOT = Path(__file__).resolve().parents[2]
# Revalidate on every visit: these two fixed URLs are how a new version is discovered.
REVALIDATE = "no-cache"


@cache
def _manifest(assets: AssetStore) -> Asset:
    data = json.loads((ROOT / "pwa" / "manifest.webmanifest").read_text(encoding="utf-8"))
    for icon in data["icons"]:
        icon["src"] = assets.url(icon["src"])
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return make_asset("manifest.webmanifest", "/manifest.webmanifest", body)


# The app shell a phone needs with no signal. The large install icons stay out: the browser
# fetches those itself when installing, and the first visit must stay within its byte budget.
SHELL_ASSETS = ("css/app.css", "js/app.js", "js/photos.js", "js/outbox-page.js",
                "js/my-requests.js",
                "vendor/htmx/htmx.min.js", "icons.svg", "pwa/icons/icon-192.png", "sw/outbox.js")
SHELL_PAGES = ("/offline", "/outbox")


def precache_urls(assets: AssetStore) -> list[str]:
    return [assets.url(path) for path in SHELL_ASSETS] + list(SHELL_PAGES)


@cache
def _service_worker(assets: AssetStore) -> Asset:
    """sw/sw.js with the build version and the precache list filled in."""
    source = (ROOT / "sw" / "sw.js").read_text(encoding="utf-8")
    body = (source.replace("__VERSION__", assets.version)
            .replace("__PRECACHE__", json.dumps(precache_urls(assets)))
            .replace("__OUTBOX__", assets.url("sw/outbox.js")))
    return make_asset("sw.js", "/sw.js", body.encode("utf-8"))


async def manifest(request: Request) -> Response:
    return asset_response(request, _manifest(request.app.state.assets), REVALIDATE)


async def service_worker(request: Request) -> Response:
    response = asset_response(request, _service_worker(request.app.state.assets), REVALIDATE)
    response.headers["Service-Worker-Allowed"] = "/"
    return response


routes = [
    Route("/manifest.webmanifest", manifest),
    Route("/sw.js", service_worker),
]
