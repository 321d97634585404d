"""The periodic digest (定期汇总) for project leadership: requests of a period by category,
with status and resolution, and no identities at all. A manager's digest lists only what
was referred to management; the rest appear in the counts, small counts as "< 5"."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import xlsxwriter

from server import privacy
from server.i18n import gettext
from server.labels import CATEGORY_LABELS, LEVEL_LABELS, REQUEST_STATUS_LABELS, localtime
from server.models import Category, Officer
from server.privacy import Count
from server.services import figures
from server.services.offload import run_heavy

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Digest:
    rows: list[dict[str, Any]]  # the first `limit` requests the reader may read
    listed: int  # how many requests of the period the reader may read
    rest: Count | None  # for management: the requests not referred to it, as a count
    figures: figures.FiguresView

    def by_category(self) -> list[tuple[str, Count]]:
        """Largest first where every count is exact; in the categories' own order where
        some are hidden, so the order does not rank the hidden ones."""
        cells = self.figures.by_category
        if all(isinstance(n, int) for n in cells.values()):
            return sorted(cells.items(), key=lambda kv: -int(kv[1]))
        return [(c.value, cells[c.value]) for c in Category if c.value in cells]


async def build(officer: Officer, start: datetime, end: datetime, limit: int) -> Digest:
    scope = figures.scope_of(officer)
    rows, listed = await figures.digest_rows(scope, start, end, limit, officer)
    result = await figures.compute(scope, start, end, datetime.now(UTC), loads=False)
    rest = None
    if privacy.lists_only_referred(officer):
        # Only the count: which of them, and what they say, stays with the union. The rows
        # listed are counted exactly, so where the breakdowns add up to the total the rest
        # can be worked out even when it reads "< 5"; it is then a count of requests the
        # reader knows nothing else of (no category, date or text), which points to no one.
        rest = privacy.count_for(officer, result.total - listed)
    return Digest(rows, listed, rest, figures.view(officer, result))


def digest_header() -> list[str]:
    return [gettext("编号"), gettext("类别"), gettext("提交时间"), gettext("状态"),
            gettext("当前层级"), gettext("转项目管理人员"), gettext("办结时间"),
            gettext("按时办结"), gettext("评价"), gettext("诉求内容"), gettext("办理结果")]


def digest_row(r: dict[str, Any]) -> list[object]:
    yes, no = gettext("是"), gettext("否")
    return [
        r["id"], gettext(CATEGORY_LABELS[r["category"]]), localtime(r["created_at"]),
        gettext(REQUEST_STATUS_LABELS[r["status"]]), gettext(LEVEL_LABELS[r["level"]]),
        yes if r["referred"] else no, localtime(r["resolved_at"]) if r["resolved_at"] else "",
        "" if r["resolved_on_time"] is None else (yes if r["resolved_on_time"] else no),
        r["rating"] or "", r["description"], r["resolution"],
    ]


def period_label(start: datetime, end: datetime) -> str:
    """The period as both the page and the spreadsheet state it: first and last day, both
    included (`end` is the exclusive midnight after the last day)."""
    return f"{start:%Y-%m-%d} — {end - timedelta(days=1):%Y-%m-%d}"


async def digest_workbook(officer: Officer, start: datetime, end: datetime) -> bytes:
    d = await build(officer, start, end, figures.DIGEST_XLSX_LIMIT)
    # Building the workbook is CPU work (thousands of cells, then zip): off the event loop.
    return await run_heavy(_workbook, officer.union.name, start, end, d)


def _workbook(union_name: str, start: datetime, end: datetime, d: Digest) -> bytes:
    summary = d.figures
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet = book.add_worksheet(gettext("汇总"))
    sheet.write(0, 0, f"{union_name} · {gettext('诉求定期汇总')}", bold)
    sheet.write(1, 0, period_label(start, end))
    lines: list[tuple[str, Count | float | None]] = [
        (gettext("诉求总数"), summary.total),
        (gettext("办结率"), summary.resolved_share),
        (gettext("按时办结率"), summary.on_time_share),
        (gettext("满意率"), summary.satisfaction),
    ]
    if d.rest is not None:
        lines.append((gettext("未转项目管理人员的诉求（只计数）"), d.rest))
    percent = book.add_format({"num_format": "0.0%"})
    for i, (label, value) in enumerate(lines, start=3):
        sheet.write(i, 0, label)
        if isinstance(value, float):
            sheet.write_number(i, 1, value, percent)
        elif isinstance(value, int):
            sheet.write_number(i, 1, value)
        else:
            sheet.write_string(i, 1, "—" if value is None else value)
    row = len(lines) + 4
    sheet.write(row, 0, gettext("类别"), bold)
    sheet.write(row, 1, gettext("件数"), bold)
    for category, n in d.by_category():
        row += 1
        sheet.write(row, 0, gettext(CATEGORY_LABELS.get(category, category)))
        if isinstance(n, int):
            sheet.write_number(row, 1, n)
        else:
            sheet.write_string(row, 1, n)
    sheet.set_column(0, 0, 24)
    detail = book.add_worksheet(gettext("明细"))
    for col, title in enumerate(digest_header()):
        detail.write(0, col, title, bold)
    for i, r in enumerate(d.rows, start=1):
        for col, cell in enumerate(digest_row(r)):
            if isinstance(cell, int):
                detail.write_number(i, col, cell)
            else:
                detail.write_string(i, col, str(cell), wrap if col >= 9 else None)
    if d.listed > len(d.rows):
        detail.write(len(d.rows) + 2, 0, gettext("只列出前 %(n)d 条") % {"n": len(d.rows)})
    detail.set_column(9, 10, 50)
    book.close()
    return buffer.getvalue()
