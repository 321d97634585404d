"""Member lists for the union office's spreadsheets: CSV (Excel-friendly) or XLSX.

Phone and ID numbers leave only in masked form; ID ciphertext is never decrypted here.
"""

from __future__ import annotations

import asyncio
import csv
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from server import privacy
from server.i18n import N_, gettext
from server.labels import (
    CATEGORY_LABELS,
    CHINA,
    LEVEL_LABELS,
    REQUEST_STATUS_LABELS,
    localtime,
    status_label,
)
from server.models import Member, ServiceRequest
from server.services.offload import run_heavy
from server.validation import TRADES, mask_phone

PAGE_SIZE = 1000
FORMATS = ("csv", "xlsx")

COLUMNS: tuple[str, ...] = (
    N_("会员编号"), N_("姓名"), N_("手机号（隐去中间四位）"), N_("工种"), N_("班组"),
    N_("用工单位"), N_("籍贯"), N_("身份证号（已隐去）"), N_("状态"), N_("所属项目"),
    N_("联系干部"), N_("入会日期"), N_("登记日期"),
)
# Roughly one CJK character per 2 width units; keeps the XLSX readable without resizing.
XLSX_WIDTHS = (12, 10, 14, 10, 12, 20, 14, 22, 10, 28, 12, 12, 12)

# A spreadsheet treats a cell starting with these as a formula (or DDE call) to run.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """Neutralise spreadsheet formula injection: workers type their own names and employers."""
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def _date(value: datetime | None) -> str:
    return value.astimezone(CHINA).strftime("%Y-%m-%d") if value else ""


def _trade(value: str) -> str:
    # Listed trades are stored as their message ids; free-text trades are shown as typed.
    return gettext(value) if value in TRADES else value


def member_row(member: Member) -> list[str]:
    """One row, in COLUMNS order; `project`, `team` and `liaison` must already be fetched."""
    return [
        member.member_no or "",
        member.name,
        mask_phone(member.phone),
        _trade(member.trade),
        member.team.name if member.team else "",
        member.employer,
        member.hometown,
        member.id_number_masked,
        status_label(member.status),
        member.project.name,
        member.liaison.name if member.liaison else "",
        _date(member.joined_at),
        _date(member.created_at),
    ]


async def member_rows(page_size: int = PAGE_SIZE) -> AsyncIterator[list[list[str]]]:
    """Pages of rows in id order; keyset paging so each page is one indexed query."""
    last_id = 0
    while True:
        page = await (Member.filter(id__gt=last_id).order_by("id").limit(page_size)
                      .select_related("project", "team", "liaison"))
        if not page:
            return
        yield [member_row(member) for member in page]
        last_id = page[-1].id
        if len(page) < page_size:
            return


def headers() -> list[str]:
    return [gettext(column) for column in COLUMNS]


def _temp_beside(path: Path) -> Path:
    # Written beside the target and renamed over it: nobody opens a half-written export, and
    # mkstemp's 0600 mode keeps the personal data from other local users meanwhile.
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(name)


Pages = Callable[[], AsyncIterator[list[list[str]]]]


async def _export_csv(tmp: Path, header: list[str], pages: Pages) -> int:
    # utf-8-sig: without the BOM, Excel on Chinese Windows reads the file as GBK and garbles it.
    handle: IO[str] = await asyncio.to_thread(tmp.open, "w", encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(handle)
        writer.writerow(header)
        count = 0
        async for rows in pages():
            safe = [[csv_safe(value) for value in row] for row in rows]
            await asyncio.to_thread(writer.writerows, safe)
            count += len(rows)
    finally:
        await asyncio.to_thread(handle.close)
    return count


async def _export_xlsx(tmp: Path, header: list[str], pages: Pages, sheet_name: str,
                       widths: tuple[int, ...]) -> int:
    # constant_memory flushes each row to disk as it goes, so big exports stay small in RAM.
    workbook = xlsxwriter.Workbook(str(tmp), {"constant_memory": True})
    try:
        sheet = workbook.add_worksheet(sheet_name)
        bold = workbook.add_format({"bold": True})
        for column, width in enumerate(widths):
            sheet.set_column(column, column, width)
        sheet.freeze_panes(1, 0)
        for column, title in enumerate(header):
            sheet.write_string(0, column, title, bold)
        count = 0
        async for rows in pages():
            # Each page's cells are written (and flushed to disk) in a worker thread.
            await run_heavy(_write_rows, sheet, count, rows)
            count += len(rows)
    finally:
        await run_heavy(workbook.close)
    return count


def _write_rows(sheet: Worksheet, after: int, rows: list[list[str]]) -> None:
    for number, row in enumerate(rows, start=after + 1):
        # write_string, never write(): text like "=1+1" must stay text, not a formula.
        for column, value in enumerate(row):
            sheet.write_string(number, column, value)


async def _export(path: Path, fmt: str, header: list[str], pages: Pages, sheet_name: str,
                  widths: tuple[int, ...]) -> int:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use csv or xlsx")
    tmp = _temp_beside(path)
    try:
        count = await (_export_csv(tmp, header, pages) if fmt == "csv"
                       else _export_xlsx(tmp, header, pages, sheet_name, widths))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return count


async def export_members(path: Path, fmt: str) -> int:
    """Write every member to `path` as `fmt` ("csv" or "xlsx"); returns the rows written."""
    return await _export(path, fmt, headers(), member_rows, gettext("会员名单"), XLSX_WIDTHS)


REQUEST_COLUMNS: tuple[str, ...] = (
    N_("编号"), N_("类别"), N_("状态"), N_("当前层级"), N_("提交时间"), N_("办结时间"),
    N_("提出人"), N_("会员编号"), N_("所属项目"), N_("诉求内容"), N_("办理结果"), N_("评价"),
)
REQUEST_WIDTHS = (8, 10, 10, 10, 16, 16, 10, 14, 28, 50, 50, 6)


def request_row(request: ServiceRequest, viewer: privacy.Viewer) -> list[str]:
    """One request as `viewer` may read it (`member` and `project` fetched): the filer is
    named only where privacy allows it."""
    view = privacy.request_view(viewer, request)
    return [
        str(request.id), gettext(CATEGORY_LABELS[request.category]),
        gettext(REQUEST_STATUS_LABELS[request.status]), gettext(LEVEL_LABELS[request.level]),
        localtime(request.created_at), localtime(request.resolved_at) if request.resolved_at
        else "", view.who, view.filer.member_no if view.filer else "", request.project.name,
        view.description, view.resolution, str(request.rating) if request.rating else "",
    ]


async def export_requests(path: Path, fmt: str, *, identities: bool = True) -> int:
    """Every request the reader may read: `identities=False` makes management's copy (only
    what was referred to management, naming nobody); otherwise the union office's."""
    viewer = privacy.UNION_OFFICE if identities else privacy.MANAGEMENT_COPY
    readable = privacy.readable_requests(viewer)

    async def pages() -> AsyncIterator[list[list[str]]]:
        last_id = 0
        while True:
            page = await (ServiceRequest.filter(readable, id__gt=last_id).order_by("id")
                          .limit(PAGE_SIZE).select_related("member", "project"))
            if not page:
                return
            yield [request_row(r, viewer) for r in page]
            last_id = page[-1].id

    header = [gettext(column) for column in REQUEST_COLUMNS]
    return await _export(path, fmt, header, pages, gettext("诉求"), REQUEST_WIDTHS)
