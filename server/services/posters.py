"""The enrolment poster: an A4 sheet with the join QR code, printed and put up on site.

One layout (in millimetres, origin at the top left) is computed once and drawn either as a
PDF, as a PNG rendered from that PDF, or as a hand-built SVG, so the three never drift apart.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import segno
from reportlab.lib.colors import HexColor
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from server.i18n import N_, gettext

PAGE_W = 210.0
PAGE_H = 297.0
MARGIN = 14.0
TEXT_W = PAGE_W - 2 * MARGIN
# The symbol alone, quiet zone excluded. Big enough to scan from a couple of metres away on a
# dusty site fence; it shrinks towards the minimum only when long names need the room.
QR_MAX_MM = 140.0
QR_MIN_MM = 120.0
QUIET_MODULES = 4  # what ISO/IEC 18004 asks for; phone scanners fail sooner without it
PNG_DPI = 150
PT = 25.4 / 72  # millimetres per point

# Built into every PDF reader, so nothing is embedded and the file stays small.
PDF_FONT = "STSong-Light"
SVG_FONTS = "Noto Sans CJK SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
RED = "#b5121b"
INK = "#111111"
GREY = "#555555"

SUFFIXES = (".pdf", ".svg", ".png")

CALL_TO_ACTION = N_("扫码加入工会")
TEAM_LINE = N_("班组：%(team)s")
STEPS = (
    N_("① 用微信或手机相机扫上面的二维码"),
    N_("② 填写姓名、手机号和工种"),
    N_("③ 点击提交，工会确认后你就是会员了"),
)
PRIVACY = N_("你的个人信息由工会保管，不会外传。你反映问题时，用工单位和项目上看不到是谁提的。")
DOC_TITLE = N_("%(project)s 入会二维码")

# Characters XML 1.0 forbids outright: a stray one would make the whole SVG unreadable.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True)
class TextLine:
    text: str
    baseline: float  # mm from the top of the page
    size: float  # points
    colour: str


@dataclass(frozen=True)
class PosterLayout:
    lines: tuple[TextLine, ...]
    matrix: tuple[tuple[bool, ...], ...]  # True is a dark module; quiet zone not included
    qr_x: float  # top-left corner of the symbol, mm
    qr_y: float
    module: float  # mm per module
    title: str

    @property
    def qr_size(self) -> float:
        return self.module * len(self.matrix)


def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    # make_qr, not make: a short URL must never come out as a Micro QR, which WeChat can't read.
    # Level Q survives mud, tape and scratches better than M at a size that is still easy to scan.
    code = segno.make_qr(url, error="q")
    return tuple(tuple(bool(cell) for cell in row) for row in code.matrix)


@cache
def _pdf_font() -> str:
    pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def _width_mm(text: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, _pdf_font(), size) * PT


def _fit(text: str, size: float, min_size: float, max_lines: int) -> tuple[float, list[str]]:
    """Shrink `text` until it fits the width; past `min_size`, break it (CJK has no spaces)."""
    text = " ".join(_XML_INVALID.sub("", text).split())
    while size > min_size and _width_mm(text, size) > TEXT_W:
        size -= 1
    lines: list[str] = []
    current = ""
    for char in text:
        if current and _width_mm(current + char, size) > TEXT_W:
            lines.append(current)
            current = char
        else:
            current += char
    lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        while last and _width_mm(last + "…", size) > TEXT_W:
            last = last[:-1]
        lines[-1] = last + "…"
    return size, lines


def poster_layout(*, url: str, union_name: str, project_name: str,
                  team_name: str | None) -> PosterLayout:
    matrix = qr_matrix(url)
    header: list[tuple[str, float, str]] = []  # (text, size, colour), laid out top-down

    def block(text: str, size: float, min_size: float, max_lines: int, colour: str) -> None:
        fitted, lines = _fit(text, size, min_size, max_lines)
        header.extend((line, fitted, colour) for line in lines)

    # The CLI may pass the project union as both; printing the same name twice looks broken.
    if union_name.strip() and union_name.strip() != project_name.strip():
        block(union_name, 20, 12, 1, INK)
    block(project_name, 30, 16, 2, RED)
    if team_name:
        block(gettext(TEAM_LINE) % {"team": team_name}, 18, 12, 1, INK)
    block(gettext(CALL_TO_ACTION), 26, 26, 1, INK)

    header_height = sum(size * PT * 1.35 for _, size, _ in header)

    fitted, url_lines = _fit(url, 10, 7, 3)
    # (text, size, colour, extra space above)
    footer: list[tuple[str, float, str, float]] = [(line, fitted, GREY, 0.0) for line in url_lines]
    for index, step in enumerate(STEPS):
        fitted, step_lines = _fit(gettext(step), 15, 11, 2)
        footer.extend((line, fitted, INK, 5.0 if index == 0 and n == 0 else 0.0)
                      for n, line in enumerate(step_lines))
    fitted, privacy_lines = _fit(gettext(PRIVACY), 11, 9, 3)
    footer.extend((line, fitted, GREY, 4.0 if n == 0 else 0.0)
                  for n, line in enumerate(privacy_lines))
    footer_height = sum(size * PT * 1.45 + extra for _, size, _, extra in footer)

    count = len(matrix)
    room = PAGE_H - 2 * MARGIN - header_height - footer_height
    # The quiet zone is blank paper, so it is part of the room the code needs.
    symbol = room * count / (count + 2 * QUIET_MODULES)
    symbol = max(QR_MIN_MM, min(QR_MAX_MM, symbol))
    module = symbol / count
    quiet = QUIET_MODULES * module
    # Short names leave paper over once the code is at its largest: centre the whole block
    # rather than leave a blank strip at the foot of the page.
    slack = max(0.0, room - symbol - 2 * quiet)

    lines: list[TextLine] = []
    y = MARGIN + slack / 2
    for text, size, colour in header:
        y += size * PT
        lines.append(TextLine(text, y, size, colour))
        y += size * PT * 0.35
    qr_x = (PAGE_W - symbol) / 2
    qr_y = y + quiet

    y = qr_y + symbol + quiet
    for text, size, colour, extra in footer:
        y += extra + size * PT
        lines.append(TextLine(text, y, size, colour))
        y += size * PT * 0.45
    title = gettext(DOC_TITLE) % {"project": project_name}
    return PosterLayout(tuple(lines), matrix, qr_x, qr_y, module, title)


def _runs(row: Sequence[bool]) -> list[tuple[int, int]]:
    """(start, length) of each stretch of dark modules: far fewer shapes than one per module."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for x, dark in enumerate((*row, False)):
        if dark and start is None:
            start = x
        elif not dark and start is not None:
            runs.append((start, x - start))
            start = None
    return runs


def render_pdf(layout: PosterLayout) -> bytes:
    mm = 72 / 25.4
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(PAGE_W * mm, PAGE_H * mm), pageCompression=1)
    canvas.setTitle(layout.title)
    canvas.setCreator("Lianxin")
    font = _pdf_font()
    for line in layout.lines:
        canvas.setFont(font, line.size)
        canvas.setFillColor(HexColor(line.colour))
        canvas.drawCentredString(PAGE_W / 2 * mm, (PAGE_H - line.baseline) * mm, line.text)
    # One path filled once: adjacent modules merge, with no hairline seams between them.
    path = canvas.beginPath()
    size = layout.module * mm
    for row_index, row in enumerate(layout.matrix):
        top = PAGE_H - layout.qr_y - row_index * layout.module
        for start, length in _runs(row):
            path.rect((layout.qr_x + start * layout.module) * mm, top * mm - size,
                      length * size, size)
    canvas.setFillColor(HexColor("#000000"))
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def render_png(layout: PosterLayout, dpi: int = PNG_DPI) -> bytes:
    # pypdfium2 and PIL are imported here so PDF and SVG posters work without them loaded.
    import pypdfium2

    document = pypdfium2.PdfDocument(render_pdf(layout))
    try:
        page = document[0]
        image = page.render(scale=dpi / 72).to_pil()
        page.close()
    finally:
        document.close()
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi), optimize=True)
    return buffer.getvalue()


def qr_path_data(matrix: Sequence[Sequence[bool]]) -> str:
    """SVG path data in module units, one `M x y h w v1 h-w z` rectangle per dark run."""
    parts = [f"M{start} {y}h{length}v1h-{length}z"
             for y, row in enumerate(matrix) for start, length in _runs(row)]
    return "".join(parts)


def _num(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def render_svg(layout: PosterLayout) -> bytes:
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_num(PAGE_W)}mm" '
        f'height="{_num(PAGE_H)}mm" viewBox="0 0 {_num(PAGE_W)} {_num(PAGE_H)}">',
        f"<title>{escape(_XML_INVALID.sub('', layout.title))}</title>",
        f'<rect width="{_num(PAGE_W)}" height="{_num(PAGE_H)}" fill="#ffffff"/>',
        f'<g font-family={quoteattr(SVG_FONTS)} text-anchor="middle">',
    ]
    for line in layout.lines:
        out.append(
            f'<text x="{_num(PAGE_W / 2)}" y="{_num(line.baseline)}" '
            f'font-size="{_num(line.size * PT)}" fill="{line.colour}">'
            f"{escape(_XML_INVALID.sub('', line.text))}</text>")
    out.append("</g>")
    # Module units scaled into place: the path stays short and the grid stays exact.
    out.append(
        f'<path id="qr" transform="translate({_num(layout.qr_x)} {_num(layout.qr_y)}) '
        f'scale({_num(layout.module)})" fill="#000000" shape-rendering="crispEdges" '
        f'd="{qr_path_data(layout.matrix)}"/>')
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode("utf-8")


CONTENT_TYPES = {".pdf": "application/pdf", ".svg": "image/svg+xml", ".png": "image/png"}


def poster_bytes(suffix: str, *, url: str, union_name: str, project_name: str,
                 team_name: str | None) -> bytes:
    layout = poster_layout(url=url, union_name=union_name, project_name=project_name,
                           team_name=team_name)
    renderers = {".pdf": render_pdf, ".svg": render_svg, ".png": render_png}
    return renderers[suffix](layout)


def write_poster(path: Path, *, url: str, union_name: str, project_name: str,
                 team_name: str | None) -> None:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(
            f"cannot tell the poster format from {path.name!r}: the file name must end in "
            ".pdf, .svg or .png")
    path.write_bytes(poster_bytes(suffix, url=url, union_name=union_name,
                                  project_name=project_name, team_name=team_name))
