"""Enrolment posters read back by a QR decoder in every format, SQLite backups of a database in
use, and the export helpers that need no database."""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from PIL import Image, ImageDraw
from tortoise.backends.base.config_generator import expand_db_url

from server.labels import status_label
from server.models import MemberStatus
from server.services.backup import backup_sqlite, sqlite_path_from_url
from server.services.exports import COLUMNS, csv_safe, export_members, headers
from server.services.posters import (
    PAGE_H,
    PAGE_W,
    QUIET_MODULES,
    poster_layout,
    qr_matrix,
    write_poster,
)

URL = "http://127.0.0.1:8000/join/abcDEF123"
UNION = "中建一局西北公司"
PROJECT = "中建一局西柏梁项目工会联合会"
TEAM = "钢筋班组"
SVG = "{http://www.w3.org/2000/svg}"
DPI = 150
LONG = "陕西省西安市高新技术产业开发区某某建设集团有限公司第三工程公司西柏梁超高层综合体项目工会"


def make_poster(tmp_path: Path, suffix: str, **names: str | None) -> Path:
    path = tmp_path / f"poster{suffix}"
    write_poster(path, url=URL, union_name=str(names.get("union_name", UNION)),
                 project_name=str(names.get("project_name", PROJECT)),
                 team_name=names.get("team_name", TEAM))
    return path


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def parse_svg(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 - our own output, the thing under test


def decode_one(image: Image.Image) -> zxingcpp.Result:
    results = zxingcpp.read_barcodes(image)
    assert [r.format for r in results] == [zxingcpp.BarcodeFormat.QRCode]
    return results[0]


def width_mm(result: zxingcpp.Result, px_per_mm: float) -> float:
    return (result.position.top_right.x - result.position.top_left.x) / px_per_mm


def render_pdf(path: Path) -> tuple[str, Image.Image, set[int], tuple[float, float]]:
    document = pypdfium2.PdfDocument(path)
    try:
        page = document[0]
        text = page.get_textpage().get_text_range()
        kinds = {obj.type for obj in page.get_objects()}
        image = page.render(scale=DPI / 72).to_pil()
        size = page.get_size()
        assert len(document) == 1
    finally:
        document.close()
    return text, image, kinds, size


def test_pdf_poster_is_vector_a4_and_decodes(tmp_path: Path) -> None:
    text, image, kinds, (width, height) = render_pdf(make_poster(tmp_path, ".pdf"))
    assert (round(width * 25.4 / 72), round(height * 25.4 / 72)) == (210, 297)
    # The CID font's text comes back out of the PDF, so it is real text, not outlines.
    for expected in (UNION, PROJECT, TEAM, URL, "扫码加入工会", "填写姓名、手机号和工种"):
        assert expected in text
    assert "工会保管" in text
    assert pdfium_c.FPDF_PAGEOBJ_IMAGE not in kinds  # the QR is drawn as paths
    result = decode_one(image)
    assert result.text == URL
    assert width_mm(result, DPI / 25.4) >= 120


def test_png_poster_decodes(tmp_path: Path) -> None:
    with Image.open(make_poster(tmp_path, ".png")) as image:
        assert image.format == "PNG"
        assert abs(image.width - 1240) <= 2 and abs(image.height - 1754) <= 2
        assert round(image.info["dpi"][0]) == DPI
        result = decode_one(image.convert("RGB"))
    assert result.text == URL
    assert width_mm(result, DPI / 25.4) >= 120


def rasterise_svg_qr(root: ET.Element, px_per_mm: float) -> tuple[Image.Image, float]:
    """Draw the poster's QR path onto a white page; no SVG renderer is installed here."""
    path = root.find(f"{SVG}path[@id='qr']")
    assert path is not None
    match = re.fullmatch(r"translate\(([\d.]+) ([\d.]+)\) scale\(([\d.]+)\)",
                         path.get("transform", ""))
    assert match is not None
    left, top, module = (float(v) for v in match.groups())
    data = path.get("d", "")
    runs = re.findall(r"M(\d+) (\d+)h(\d+)v1h-\3z", data)
    assert "".join(f"M{x} {y}h{w}v1h-{w}z" for x, y, w in runs) == data  # nothing unparsed
    image = Image.new("L", (round(PAGE_W * px_per_mm), round(PAGE_H * px_per_mm)), 255)
    draw = ImageDraw.Draw(image)
    for x, y, w in runs:
        x0 = (left + int(x) * module) * px_per_mm
        y0 = (top + int(y) * module) * px_per_mm
        draw.rectangle((round(x0), round(y0), round(x0 + int(w) * module * px_per_mm) - 1,
                        round(y0 + module * px_per_mm) - 1), fill=0)
    return image, module


def test_svg_poster_has_text_and_a_qr_path_that_decodes(tmp_path: Path) -> None:
    root = parse_svg(make_poster(tmp_path, ".svg"))
    assert root.tag == f"{SVG}svg"
    assert (root.get("width"), root.get("height"), root.get("viewBox")) == (
        "210mm", "297mm", "0 0 210 297")
    texts = [el.text for el in root.iter(f"{SVG}text")]
    for expected in (UNION, PROJECT, f"班组：{TEAM}", URL):
        assert expected in texts
    group = root.find(f"{SVG}g")
    assert group is not None and "Noto Sans CJK SC" in group.get("font-family", "")

    image, module = rasterise_svg_qr(root, px_per_mm=6)
    result = decode_one(image)
    assert result.text == URL
    assert module * len(qr_matrix(URL)) >= 120


def test_svg_poster_escapes_names(tmp_path: Path) -> None:
    hostile = '<script>alert("x")</script> & 工会\x07'
    path = make_poster(tmp_path, ".svg", project_name=hostile, team_name=None)
    root = parse_svg(path)  # would raise on broken markup or a control character
    assert '<script>alert("x")</script> & 工会' in [el.text for el in root.iter(f"{SVG}text")]
    assert b"<script>" not in path.read_bytes()
    assert not any("班组" in (el.text or "") for el in root.iter(f"{SVG}text"))


@pytest.mark.parametrize("names", [
    {"union_name": UNION, "project_name": PROJECT, "team_name": TEAM},
    {"union_name": PROJECT, "project_name": PROJECT, "team_name": None},
    {"union_name": LONG * 2, "project_name": LONG * 3, "team_name": TEAM * 20},
])
def test_layout_keeps_the_qr_big_clear_and_on_the_page(names: dict[str, str | None]) -> None:
    layout = poster_layout(url=URL, union_name=str(names["union_name"]),
                           project_name=str(names["project_name"]),
                           team_name=names["team_name"])
    assert layout.matrix == qr_matrix(URL)
    assert 120 <= layout.qr_size <= PAGE_W - 2 * QUIET_MODULES * layout.module
    quiet = QUIET_MODULES * layout.module
    qr_top, qr_bottom = layout.qr_y - quiet, layout.qr_y + layout.qr_size + quiet
    for line in layout.lines:
        size_mm = line.size * 25.4 / 72
        top, bottom = line.baseline - size_mm, line.baseline + 0.3 * size_mm
        assert bottom <= qr_top or top >= qr_bottom, line.text  # nothing in the quiet zone
        assert 5 <= top and bottom <= PAGE_H - 5, line.text
    texts = [line.text for line in layout.lines]
    assert texts.count(PROJECT) <= 1  # union and project the same: printed once


def test_long_names_still_decode(tmp_path: Path) -> None:
    path = make_poster(tmp_path, ".pdf", union_name=LONG, project_name=LONG * 3,
                       team_name=TEAM * 20)
    text, image, _, _ = render_pdf(path)
    assert decode_one(image).text == URL
    assert LONG[:10] in text


@pytest.mark.parametrize("name", ["poster.jpg", "poster", "poster.pdf.txt"])
def test_poster_rejects_unknown_formats(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match=r"\.pdf, \.svg or \.png"):
        write_poster(tmp_path / name, url=URL, union_name=UNION, project_name=PROJECT,
                     team_name=None)
    assert names_in(tmp_path) == []


def test_poster_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "POSTER.PDF"
    write_poster(path, url=URL, union_name=UNION, project_name=PROJECT, team_name=None)
    assert path.read_bytes().startswith(b"%PDF-")


# --- backup -------------------------------------------------------------------------------


def live_database(path: Path, rows: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE worker (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO worker (name) VALUES (?)",
                     [(f"工人{i}",) for i in range(rows)])
    conn.execute("COMMIT")
    return conn


async def test_backup_copies_a_database_in_use(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    writer = live_database(db, 500)
    try:
        # Committed rows still sitting in the WAL, not yet in the main file: they must be copied.
        assert (tmp_path / "live.sqlite3-wal").stat().st_size > 0
        # And a write in progress, which the copy must not see.
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO worker (name) VALUES ('未提交')")
        out = tmp_path / "backup.sqlite3"
        await backup_sqlite(db, out)
        writer.execute("COMMIT")
    finally:
        writer.close()

    copy = sqlite3.connect(out)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM worker").fetchone() == (500,)
        assert copy.execute("SELECT name FROM worker WHERE id = 500").fetchone() == ("工人499",)
        assert copy.execute("SELECT count(*) FROM worker WHERE name = '未提交'").fetchone() == (0,)
    finally:
        copy.close()
    assert out.stat().st_mode & 0o077 == 0  # personal data: owner only
    assert not [name for name in names_in(tmp_path) if name.endswith(".tmp")]


async def test_backup_replaces_an_older_backup(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    live_database(db, 3).close()
    out = tmp_path / "backup.sqlite3"
    out.write_bytes(b"an old backup")
    await backup_sqlite(db, out)
    copy = sqlite3.connect(out)
    try:
        assert copy.execute("SELECT count(*) FROM worker").fetchone() == (3,)
    finally:
        copy.close()


async def test_backup_refuses_to_overwrite_the_source(tmp_path: Path) -> None:
    db = tmp_path / "live.sqlite3"
    live_database(db, 3).close()
    before = db.read_bytes()
    with pytest.raises(ValueError, match="refusing"):
        await backup_sqlite(db, db)
    with pytest.raises(ValueError, match="refusing"):
        await backup_sqlite(db, tmp_path / "." / "live.sqlite3")
    (tmp_path / "alias.sqlite3").hardlink_to(db)
    with pytest.raises(ValueError, match="refusing"):
        await backup_sqlite(db, tmp_path / "alias.sqlite3")
    assert db.read_bytes() == before


async def test_backup_of_a_missing_database_fails_without_creating_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await backup_sqlite(tmp_path / "nope.sqlite3", tmp_path / "out.sqlite3")
    assert names_in(tmp_path) == []


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite://lianxin.sqlite3", Path("lianxin.sqlite3")),
    ("sqlite://data/lianxin.sqlite3", Path("data/lianxin.sqlite3")),
    ("sqlite:///srv/lianxin/db.sqlite3", Path("/srv/lianxin/db.sqlite3")),
    ("sqlite:///srv/db.sqlite3?busy_timeout=5000", Path("/srv/db.sqlite3")),
    ("sqlite://lianxin.sqlite3?journal_mode=WAL&busy_timeout=5000", Path("lianxin.sqlite3")),
])
def test_sqlite_path_from_url(url: str, expected: Path) -> None:
    assert sqlite_path_from_url(url) == expected
    # The same file Tortoise itself opens for this URL.
    assert expand_db_url(url)["credentials"]["file_path"] == str(expected)


@pytest.mark.parametrize("url", [
    "sqlite://:memory:", "postgres://lianxin@127.0.0.1:5432/lianxin",
    "postgresql://lianxin@127.0.0.1/lianxin?sslmode=require",
])
def test_no_sqlite_file_behind_url(url: str) -> None:
    assert sqlite_path_from_url(url) is None


# --- exports (the database-backed export is tested with the app's fixtures) ---------------


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"http://x\",\"点我\")", "'=HYPERLINK(\"http://x\",\"点我\")"),
    ("+8613812345678", "'+8613812345678"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    ("张三", "张三"),
    ("", ""),
    ("a=b", "a=b"),
    ("138****5678", "138****5678"),
    ("'quoted", "'quoted"),
    (" =1", " =1"),
])
def test_csv_safe(value: str, expected: str) -> None:
    assert csv_safe(value) == expected


def test_status_labels() -> None:
    assert {status: status_label(status) for status in MemberStatus} == {
        MemberStatus.PENDING: "待审核", MemberStatus.ACTIVE: "正式会员",
        MemberStatus.REJECTED: "未通过", MemberStatus.LEFT: "已离场",
    }


def test_export_headers() -> None:
    assert headers()[:3] == ["会员编号", "姓名", "手机号（隐去中间四位）"]
    assert len(headers()) == len(COLUMNS) == 13
    assert all(csv_safe(h) == h for h in headers())


async def test_export_rejects_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv or xlsx"):
        await export_members(tmp_path / "members.ods", "ods")
    assert names_in(tmp_path) == []


async def test_officers_print_posters_from_the_web(app: object, tmp_path: Path) -> None:
    """A project's chair and cadres download the poster (whole project or one team); its QR
    leads to that project's join form; other roles and other projects' teams get nothing."""
    import httpx

    from server.models import AuditEntry, Team
    from tests.conftest import CXG_CADRE, UPPER, XBL_CADRE, XBL_MANAGER, login, new_client

    team = await Team.get(project__code="xibailiang", name="木工班组")
    other_team = await Team.filter(project__code="chuangxingang").first()
    assert other_team is not None
    async with new_client(app) as c:
        await login(c, XBL_CADRE)
        page = await c.get("/officer/posters")
        assert page.status_code == 200 and "木工班组" in page.text
        assert page.headers["cache-control"] == "no-store"
        pdf = await c.get("/officer/posters/poster.pdf", params={"team": team.id})
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        path = tmp_path / "web.pdf"
        path.write_bytes(pdf.content)
        text, image, _, _ = render_pdf(path)
        url = decode_one(image).text
        assert "木工班组" in text and url in page.text
        form = await c.get(url.removeprefix("http://testserver"))
        assert form.status_code == 200
        assert f'value="{team.id}" selected' in form.text  # the team's poster picks the team
        png = await c.get("/officer/posters/poster.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        assert (await c.get("/officer/posters/poster.pdf",
                            params={"team": other_team.id})).status_code == 404
        assert (await c.get("/officer/posters/poster.exe")).status_code == 404
    assert await AuditEntry.filter(action="poster.download").count() >= 2
    for who, expected in ((XBL_MANAGER, 403), (UPPER, 403)):
        async with new_client(app) as c:
            await login(c, who)
            assert (await c.get("/officer/posters")).status_code == expected
    async with new_client(app) as c:
        await login(c, CXG_CADRE)
        theirs = await c.get("/officer/posters")
        # Another project's cadre sees their own links, none of 西柏梁's.
        assert theirs.status_code == 200 and url not in theirs.text
        assert "/join/" in theirs.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                 base_url="http://testserver") as outsider:
        assert (await outsider.get("/officer/posters")).status_code == 303


async def test_chair_adds_a_team_and_workers_can_pick_it(app: object) -> None:
    from server.models import AuditEntry, Team
    from tests.conftest import XBL_CADRE, XBL_CHAIR, csrf_of, join_path, login, new_client

    name = "幕墙安装班"
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        page = await c.get("/officer/posters")
        token = csrf_of(page.text)
        added = await c.post("/officer/posters", data={"csrf_token": token, "name": name},
                             headers={"HX-Request": "true"})
        assert added.status_code == 200 and name in added.text
        assert "<html" not in added.text  # the fragment only
        again = await c.post("/officer/posters", data={"csrf_token": token, "name": name})
        assert again.status_code == 422 and "已经有" in again.text
        blank = await c.post("/officer/posters", data={"csrf_token": token, "name": "  "})
        assert blank.status_code == 422 and "请填写班组名称" in blank.text
        assert (await c.post("/officer/posters", data={"name": "无令牌"})).status_code == 403
    assert await Team.filter(project__code="xibailiang", name=name).count() == 1
    assert not await Team.exists(name="无令牌")
    entry = await AuditEntry.filter(action="team.add").order_by("-id").first()
    assert entry is not None and entry.detail == {"name": name}
    # The join form lists the new team at once (the invite cache is dropped).
    async with new_client(app) as worker:
        form = await worker.get(await join_path("xibailiang"))
        assert name in form.text
    # Cadres print posters but do not add teams.
    async with new_client(app) as c:
        await login(c, XBL_CADRE)
        page = await c.get("/officer/posters")
        assert 'name="name"' not in page.text
        refused = await c.post("/officer/posters", data={"csrf_token": csrf_of(page.text),
                                                         "name": "干部加的"})
        assert refused.status_code == 403
