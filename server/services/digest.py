"""The periodic digest (定期汇总) for project leadership: requests of a period by category,
with status and resolution, and no identities at all."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

import xlsxwriter

from server.i18n import gettext
from server.labels import localtime
from server.services import figures
from server.services.offload import run_heavy
from server.services.requests import CATEGORY_LABELS, LEVEL_LABELS, STATUS_LABELS

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def digest_header() -> list[str]:
    return [gettext("编号"), gettext("类别"), gettext("提交时间"), gettext("状态"),
            gettext("当前层级"), gettext("转项目管理人员"), gettext("办结时间"),
            gettext("按时办结"), gettext("评价"), gettext("诉求内容"), gettext("办理结果")]


def digest_row(r: dict[str, Any]) -> list[object]:
    yes, no = gettext("是"), gettext("否")
    return [
        r["id"], gettext(CATEGORY_LABELS[r["category"]]), localtime(r["created_at"]),
        gettext(STATUS_LABELS[r["status"]]), gettext(LEVEL_LABELS[r["level"]]),
        yes if r["referred"] else no, localtime(r["resolved_at"]) if r["resolved_at"] else "",
        "" if r["resolved_on_time"] is None else (yes if r["resolved_on_time"] else no),
        r["rating"] or "", r["description"], r["resolution"],
    ]


async def digest_workbook(scope_path: str, union_name: str, start: datetime,
                          end: datetime) -> bytes:
    rows, total = await figures.digest_rows(scope_path, start, end, figures.DIGEST_XLSX_LIMIT)
    summary = await figures.compute(scope_path, start, end, datetime.now(start.tzinfo))
    # Building the workbook is CPU work (thousands of cells, then zip): off the event loop.
    return await run_heavy(_workbook, union_name, start, end, rows, total, summary)


def _workbook(union_name: str, start: datetime, end: datetime, rows: list[dict[str, Any]],
              total: int, summary: figures.Figures) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_formulas": False,
                                        "strings_to_urls": False})
    bold = book.add_format({"bold": True})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    sheet = book.add_worksheet(gettext("汇总"))
    sheet.write(0, 0, f"{union_name} · {gettext('诉求定期汇总')}", bold)
    sheet.write(1, 0, f"{start:%Y-%m-%d} — {end:%Y-%m-%d}")
    lines: list[tuple[str, float | int | None]] = [
        (gettext("诉求总数"), summary.total),
        (gettext("办结率"), summary.resolved_share),
        (gettext("按时办结率"), summary.on_time_share),
        (gettext("满意率"), summary.satisfaction),
    ]
    percent = book.add_format({"num_format": "0.0%"})
    for i, (label, value) in enumerate(lines, start=3):
        sheet.write(i, 0, label)
        if isinstance(value, float):
            sheet.write_number(i, 1, value, percent)
        else:
            sheet.write(i, 1, "—" if value is None else value)
    row = len(lines) + 4
    sheet.write(row, 0, gettext("类别"), bold)
    sheet.write(row, 1, gettext("件数"), bold)
    for category, n in sorted(summary.by_category.items(), key=lambda kv: -kv[1]):
        row += 1
        sheet.write(row, 0, gettext(CATEGORY_LABELS.get(category, category)))
        sheet.write_number(row, 1, n)
    sheet.set_column(0, 0, 24)
    detail = book.add_worksheet(gettext("明细"))
    for col, title in enumerate(digest_header()):
        detail.write(0, col, title, bold)
    for i, r in enumerate(rows, start=1):
        for col, cell in enumerate(digest_row(r)):
            if isinstance(cell, int):
                detail.write_number(i, col, cell)
            else:
                detail.write_string(i, col, str(cell), wrap if col >= 9 else None)
    if total > len(rows):
        detail.write(len(rows) + 2, 0, gettext("只列出前 %(n)d 条") % {"n": len(rows)})
    detail.set_column(9, 10, 50)
    book.close()
    return buffer.getvalue()
