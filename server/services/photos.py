"""Photos attached to requests and notices: checked, stripped of metadata (GPS!) and re-encoded.

Everything that costs little is checked first, on the event loop: how many photos, how many
bytes, and what the file's header says (format and width × height). Only a photo that passes
is decoded, shrunk and re-encoded, in a worker thread through `run_heavy`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image, ImageFile, UnidentifiedImageError

from server.errors import DomainError
from server.i18n import gettext, ngettext
from server.services.offload import run_heavy

MAX_PHOTOS = 3
MAX_UPLOAD_BYTES = 1_500_000  # the page downscales to ~300 KB; this is the server's own limit
MAX_SIDE = 1600
MAX_PIXELS = 40_000_000
ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

# Pillow's own bomb check uses this at Image.open: set it here rather than trust the default.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
ImageFile.LOAD_TRUNCATED_IMAGES = False


class PhotoError(DomainError):
    """A photo refused, with the field it belongs to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="photo")


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    width: int
    height: int
    sha256: str
    upload_sha256: str


@dataclass(frozen=True)
class CleanedPhotos:
    """A form's photos after cleaning: the photos, or the message that refused them."""

    photos: list[CleanPhoto] = field(default_factory=list)
    error: str = ""


NO_PHOTOS = CleanedPhotos()


def _label(filename: str) -> str:
    return filename[:40] or gettext("照片")


def _incomplete(label: str) -> PhotoError:
    return PhotoError(gettext("%(name)s 不是完整的照片，可能没传完，请重新选择") % {"name": label})


def check_photo(raw: bytes, filename: str = "") -> None:
    """The cheap checks, without decoding a pixel: size, format and declared dimensions.

    `Image.open` reads only the header; a file that claims 20000 × 20000 pixels is refused
    here, before anything would allocate memory for them.
    """
    label = _label(filename)
    if len(raw) > MAX_UPLOAD_BYTES:
        raise PhotoError(gettext("%(name)s 太大了（最大 %(mb)s MB），请重新拍一张") % {
            "name": label, "mb": f"{MAX_UPLOAD_BYTES / 1_000_000:g}"})
    if not raw:
        raise PhotoError(gettext("%(name)s 是空文件") % {"name": label})
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            kind = probe.format or ""
            width, height = probe.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(gettext("%(name)s 尺寸太大") % {"name": label}) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _incomplete(label) from exc
    if kind not in ALLOWED:
        raise PhotoError(gettext("%(name)s 不是照片，只能上传 JPG、PNG 或 WebP 图片")
                         % {"name": label})
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise PhotoError(gettext("%(name)s 尺寸太大") % {"name": label})


# EXIF orientation → the transposition that makes the photo upright (as ImageOps does).
ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a garbled EXIF block: keep the pixels as they are
        return 1
    return value if isinstance(value, int) else 1


def clean_photo(raw: bytes, filename: str = "") -> CleanPhoto:
    """Verify an upload is a whole JPEG/PNG/WebP image and re-encode it as a bare JPEG.

    Only pixels survive: EXIF (with the GPS position that would say where a worker stood
    when they photographed their employer's site), XMP, ICC profiles, comments and every
    other APPn segment are left behind. EXIF orientation is applied first, so the photo
    stays upright without it. Synchronous and CPU-heavy: from the server, use
    `clean_photos`, which runs it off the event loop.
    """
    check_photo(raw, filename)
    label = _label(filename)
    try:
        with Image.open(io.BytesIO(raw)) as probe:
            orientation = _orientation(probe)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: a big photo costs less.
            probe.draft("RGB", (MAX_SIDE, MAX_SIDE))
            probe.load()  # decodes every byte: a truncated file fails here
            image = probe if probe.mode in {"RGB", "L"} else probe.convert("RGB")
            # Shrunk before anything else touches the pixels (it also detaches from `probe`).
            image.thumbnail((MAX_SIDE, MAX_SIDE))
            image = image.convert("RGB")
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PhotoError(gettext("%(name)s 尺寸太大") % {"name": label}) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise _incomplete(label) from exc
    if orientation in ORIENTATIONS:
        image = image.transpose(ORIENTATIONS[orientation])
    # A fresh image from the bare pixels: `info` (comment, icc_profile, exif, dpi …) would
    # otherwise be written back by the JPEG encoder.
    bare = Image.frombytes("RGB", image.size, image.tobytes())
    out = io.BytesIO()
    bare.save(out, "JPEG", quality=80, optimize=True)
    data = out.getvalue()
    return CleanPhoto(data, "image/jpeg", bare.width, bare.height,
                      hashlib.sha256(data).hexdigest(), hashlib.sha256(raw).hexdigest())


async def clean_photos(uploads: Sequence[tuple[bytes, str]],
                       limit: int = MAX_PHOTOS) -> CleanedPhotos:
    """A form's uploads, cleaned off the event loop; the first refusal stops the rest.

    Count, sizes and headers of all of them are checked before any is decoded.
    """
    if len(uploads) > limit:
        return CleanedPhotos(error=ngettext(
            "最多 %(n)d 张照片，这次选了 %(m)d 张：请去掉 %(extra)d 张再提交，写的内容都还在。",
            "最多 %(n)d 张照片，这次选了 %(m)d 张：请去掉 %(extra)d 张再提交，写的内容都还在。",
            len(uploads) - limit) % {"n": limit, "m": len(uploads),
                                     "extra": len(uploads) - limit})
    try:
        for raw, name in uploads:
            check_photo(raw, name)
        return CleanedPhotos([await run_heavy(clean_photo, raw, name) for raw, name in uploads])
    except PhotoError as exc:
        return CleanedPhotos(error=str(exc))
