"""Answering a media element: stored bytes, whole or one byte range.

Safari (and so every browser on an iPhone, WeChat's included) plays `<audio>` only from a
server that answers `Range: bytes=…` with 206; Chromium seeks with it. One range is all a
media element asks for; anything else gets the whole body.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response

RANGE_RE = re.compile(r"^bytes=(\d{0,12})-(\d{0,12})$")


def bytes_response(request: Request, data: bytes, media_type: str,
                   headers: dict[str, str] | None = None) -> Response:
    base = {"Accept-Ranges": "bytes", **(headers or {})}
    match = RANGE_RE.match(request.headers.get("range", "").strip())
    if match is None or not data or not (match.group(1) or match.group(2)):
        return Response(data, media_type=media_type, headers=base)
    first, last = match.group(1), match.group(2)
    size = len(data)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    else:  # "bytes=-N": the last N bytes
        start = max(0, size - int(last))
        end = size - 1
    if start >= size or end < start:
        return Response(status_code=416, headers={**base, "Content-Range": f"bytes */{size}"})
    return Response(data[start:end + 1], status_code=206, media_type=media_type,
                    headers={**base, "Content-Range": f"bytes {start}-{end}/{size}"})
