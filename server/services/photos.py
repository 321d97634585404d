"""Photos attached to requests: checked, stripped of metadata (GPS!) and re-encoded."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from server.i18n import gettext

MAX_PHOTOS = 3
MAX_UPLOAD_BYTES = 1_500_000  # the page downscales to ~300 KB; this is the server's own limit
MAX_SIDE = 1600
MAX_PIXELS = 40_000_000
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


class PhotoError(ValueError):
    pass


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str
    upload_sha256: str


def clean_photo(raw: bytes, filename: str = "") -> CleanPhoto:
    """Verify an upload is a whole JPEG/PNG/WebP image and re-encode it as JPEG.

    Re-encoding drops EXIF, including the GPS position that would say where a worker was
    standing when they photographed their employer's site.
    """
    label = filename[:40] or gettext("照片")
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PhotoError(gettext("%(name)s 太大了（最大 1.5 MB），请重新拍一张") % {"name": label})
    if not raw:
        raise PhotoError(gettext("%(name)s 是空文件") % {"name": label})
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format or ""
            if kind not in ALLOWED:
                raise PhotoError(gettext("%(name)s 不是照片，只能上传 JPG、PNG 或 WebP 图片")
                                 % {"name": label})
            if probe.width * probe.height > MAX_PIXELS:
                raise PhotoError(gettext("%(name)s 尺寸太大") % {"name": label})
            probe.load()  # decodes every byte: a truncated file fails here
            image = probe.convert("RGB")
    except PhotoError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise PhotoError(gettext("%(name)s 不是完整的照片，可能没传完，请重新选择")
                         % {"name": label}) from exc
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, optimize=True)
    data = out.getvalue()
    return CleanPhoto(data, "image/jpeg", image.width, image.height,
                      hashlib.sha256(data).hexdigest(), hashlib.sha256(raw).hexdigest())
