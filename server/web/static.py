"""Static files under content-hashed names, pre-compressed, cached for a year.

A changed file gets a new URL, so browsers and the service worker never serve a stale copy
and nothing has to be revalidated over a slow link.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

COMPRESSIBLE = {".js", ".css", ".svg", ".json", ".webmanifest", ".html", ".txt"}
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    path: str  # logical path, e.g. "css/app.css"
    url: str  # hashed URL, e.g. "/static/css/app.3f2a9c1b0d.css"
    body: bytes
    gzipped: bytes | None
    media_type: str
    digest: str


class AssetStore:
    def __init__(self, roots: dict[str, Path], release: str = "",
                 exclude: frozenset[str] = frozenset({"LICENSE", "VERSION", "sw.js"})) -> None:
        """`roots` maps a URL prefix ("static", "pwa/icons") to a folder; `release` is mixed
        into the version so that a deployment can make every phone refresh its app shell."""
        self.release = release
        self.by_path: dict[str, Asset] = {}
        self.by_url: dict[str, Asset] = {}
        for prefix, root in roots.items():
            for file in sorted(root.rglob("*")):
                if not file.is_file() or file.name in exclude:
                    continue
                relative = file.relative_to(root).as_posix()
                key = relative if prefix == "static" else f"{prefix}/{relative}"
                self.add(key, f"/{prefix}/{relative}", shipped(key, file.read_bytes()))

    def add(self, path: str, public_path: str, body: bytes) -> Asset:
        digest = hashlib.sha256(body).hexdigest()[:12]
        stem, dot, suffix = public_path.rpartition(".")
        url = f"{stem}.{digest}.{suffix}" if dot else f"{public_path}.{digest}"
        asset = make_asset(path, url, body)
        self.by_path[path] = asset
        self.by_url[url] = asset
        return asset

    def url(self, path: str) -> str:
        return self.by_path[path].url

    @property
    def version(self) -> str:
        """One digest over every asset: the service worker's cache version."""
        joined = self.release + "".join(
            a.digest for a in sorted(self.by_path.values(), key=lambda a: a.path))
        return hashlib.sha256(joined.encode()).hexdigest()[:12]


CSS_COMMENT = re.compile(rb"/\*.*?\*/\n?", re.S)
JS_COMMENT_LINE = re.compile(rb"^[ \t]*//[^\n]*\n", re.M)


def shipped(path: str, body: bytes) -> bytes:
    """What a phone downloads of our own CSS and scripts: without the comments written for
    the people reading the source (a fifth of the gzipped bytes of the first visit's
    budget). Only whole comment lines in scripts go: a `//` after code, or inside a
    string, is left alone. Vendored files are served as they came."""
    if path.startswith("vendor/"):
        return body
    if path.endswith(".css"):
        return CSS_COMMENT.sub(b"", body)
    if path.endswith(".js"):
        return JS_COMMENT_LINE.sub(b"", body)
    return body


def make_asset(path: str, url: str, body: bytes) -> Asset:
    suffix = path.rpartition(".")[2]
    ext = "." + suffix if "." in path else ""
    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if ext == ".webmanifest":
        media_type = "application/manifest+json"
    if media_type.startswith("text/") or ext in {".js", ".json", ".webmanifest"}:
        media_type += "; charset=utf-8"
    gz = gzip.compress(body, 9, mtime=0) if ext in COMPRESSIBLE else None
    digest = hashlib.sha256(body).hexdigest()[:12]
    return Asset(path, url, body, gz if gz and len(gz) < len(body) else None, media_type, digest)


def asset_response(request: Request, asset: Asset, cache_control: str = IMMUTABLE) -> Response:
    headers = {"Cache-Control": cache_control, "ETag": f'"{asset.digest}"'}
    if asset.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
