"""Settings, migrations, headers, static files, errors, languages, health and the CLI."""

from __future__ import annotations

import gzip
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.db import MIGRATIONS_MODULE, tortoise_config
from server.models import Officer, UnionNode
from server.settings import OPTIONS, SettingsError, load
from tests.conftest import join_path, new_client

LIANXIN = str(Path(sys.executable).parent / "lianxin")
ROOT = Path(__file__).resolve().parent.parent


# --- settings --------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("LIANXIN_DB_URL", "mysql://nope"), ("LIANXIN_BASE_URL", "not a url"),
    ("LIANXIN_PRODUCTION", "maybe"), ("LIANXIN_MAX_BODY_BYTES", "-5"),
    ("LIANXIN_DEFAULT_LANGUAGE", "fr"), ("LIANXIN_SECRET_KEY", "short"),
])
def test_bad_setting_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    env = {"LIANXIN_SECRET_FILE": str(tmp_path / "s"), name: value}
    with pytest.raises(SettingsError, match=name):
        load(env)


def test_production_requires_secret(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="LIANXIN_SECRET_KEY is required"):
        load({"LIANXIN_PRODUCTION": "1", "LIANXIN_SECRET_FILE": str(tmp_path / "s")})


def test_dev_secret_is_generated_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    first = load({"LIANXIN_SECRET_FILE": str(path)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load({"LIANXIN_SECRET_FILE": str(path)}).secret_key == first.secret_key
    path.chmod(0o644)
    with pytest.raises(SettingsError, match="readable by others"):
        load({"LIANXIN_SECRET_FILE": str(path)})


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"`{option.env}`" in readme, f"{option.env} is missing from the README"


# --- migrations ------------------------------------------------------------------------------

async def test_migrations_match_models(db_url: str) -> None:
    from tortoise.context import TortoiseContext
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config(db_url)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        assert ctx.apps is not None
        detector = MigrationAutodetector(ctx.apps, config["apps"])
        writers = await detector.changes()
    assert not writers, (
        "models changed without a migration: run `tortoise makemigrations` "
        f"({[w.name for w in writers]} in {MIGRATIONS_MODULE})")


def test_migrations_do_not_import_the_models() -> None:
    """A migration describes the schema as it was: importing live enums (or anything else
    from the models) would change an old migration's meaning when the models change."""
    folder = Path(__file__).resolve().parent.parent / "server" / "migrations"
    importing = [p.name for p in folder.glob("*.py") if "from server" in p.read_text()]
    assert importing == []


# --- HTTP platform ---------------------------------------------------------------------------

async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


async def test_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get(await join_path())
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in response.text  # no inline scripts at all
    cookie = response.headers.get("set-cookie", "")
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


async def test_static_files_hashed_compressed_cached(client: httpx.AsyncClient) -> None:
    page = await client.get(await join_path())
    import re

    urls = re.findall(r'(?:src|href)="(/static/[^"#]+)"', page.text)
    assert any("htmx.min." in u for u in urls) and any(u.endswith(".css") for u in urls)
    for url in urls:
        response = await client.get(url, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, url
        assert "immutable" in response.headers["cache-control"]
        compressible = url.endswith((".js", ".css", ".svg"))
        assert (response.headers.get("content-encoding") == "gzip") == compressible, url
    missing = await client.get("/static/css/app.0000.css")
    assert missing.status_code == 404


async def test_manifest_and_service_worker(client: httpx.AsyncClient) -> None:
    manifest = await client.get("/manifest.webmanifest")
    assert manifest.status_code == 200
    data = manifest.json()
    assert data["short_name"] == "连心桥" and data["display"] == "standalone"
    assert {"192x192", "512x512"} <= {i["sizes"] for i in data["icons"]}
    assert any(i["purpose"] == "maskable" for i in data["icons"])
    for icon in data["icons"]:
        assert (await client.get(icon["src"])).status_code == 200
    sw = await client.get("/sw.js")
    assert sw.status_code == 200 and "javascript" in sw.headers["content-type"]
    assert "__VERSION__" not in sw.text and "/offline" in sw.text
    assert sw.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(("method", "path", "status", "text"), [
    ("GET", "/no-such-page", 404, "找不到页面"),
    ("DELETE", "/officer/login", 405, "操作不支持"),
    ("GET", "/lang?to=xx", 400, "请求有误"),
])
async def test_error_pages_are_friendly(client: httpx.AsyncClient, method: str, path: str,
                                        status: int, text: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == status
    assert text in response.text and "Traceback" not in response.text


async def test_errors_as_json_for_api_clients(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope", headers={"Accept": "application/json"})
    assert response.status_code == 404 and response.json()["error"] == "找不到页面"


async def test_server_error_page_hides_details(app: Any) -> None:
    from starlette.routing import Route

    async def boom(request: Any) -> Any:
        raise RuntimeError("secret internal detail")

    app.router.routes.append(Route("/__boom", boom))
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            response = await c.get("/__boom")
    finally:
        app.router.routes.pop()
    assert response.status_code == 500
    assert "系统出错了" in response.text and "secret internal detail" not in response.text


async def test_english_by_header_and_switch(app: Any) -> None:
    async with new_client(app) as c:
        english = await c.get(await join_path(), headers={"Accept-Language": "en-US,en;q=0.8"})
        assert 'lang="en"' in english.text and "Join the union" in english.text
        switch = await c.get("/lang", params={"to": "zh_Hans", "next": "/officer/login"})
        assert switch.status_code == 303 and switch.headers["location"] == "/officer/login"
        chinese = await c.get("/officer/login", headers={"Accept-Language": "en"})
        assert "工会干部登录" in chinese.text


# --- CLI -------------------------------------------------------------------------------------

def run_cli(env: dict[str, str], *args: str, stdin: str = "",
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LIANXIN, *args], env={**os.environ, **env}, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("cli")
    return {"LIANXIN_DB_URL": f"sqlite://{folder / 'cli.sqlite3'}",
            "LIANXIN_SECRET_FILE": str(folder / "secret"),
            "LIANXIN_BASE_URL": "https://lianxin.example.cn"}


def test_cli_demo_is_idempotent(cli_env: dict[str, str]) -> None:
    import sqlite3

    first = run_cli(cli_env, "demo")
    assert first.returncode == 0, first.stderr
    assert "13900000010" in first.stdout and "lianxin-demo-2026" in first.stdout
    db = cli_env["LIANXIN_DB_URL"].removeprefix("sqlite://")

    def counts() -> tuple[int, ...]:
        with sqlite3.connect(db) as conn:
            return tuple(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]  # noqa: S608
                         for t in ("union_node", "team", "officer"))

    before = counts()
    second = run_cli(cli_env, "demo")
    assert second.returncode == 0 and "already there" in second.stdout
    assert counts() == before


def test_cli_invite_and_officer_add(cli_env: dict[str, str], tmp_path: Path) -> None:
    run_cli(cli_env, "demo")
    url = run_cli(cli_env, "invite", "xibailiang").stdout.strip()
    assert url.startswith("https://lianxin.example.cn/join/")
    assert run_cli(cli_env, "invite", "xibailiang").stdout.strip() == url  # stable link
    team = run_cli(cli_env, "invite", "xibailiang", "--team", "木工班组").stdout.strip()
    assert team != url and team.startswith("https://lianxin.example.cn/join/")
    bad = run_cli(cli_env, "invite", "nowhere")
    assert bad.returncode == 2 and "nowhere" in bad.stderr
    added = run_cli(cli_env, "officer", "add", "--phone", "13911112222", "--name", "新干部",
                    "--role", "cadre", "--union", "xibailiang", stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    dup = run_cli(cli_env, "officer", "add", "--phone", "13911112222", "--name", "x",
                  "--role", "cadre", "--union", "xibailiang", "--password", "a-long-password")
    assert dup.returncode == 2 and "已经有账号" in dup.stderr
    short = run_cli(cli_env, "officer", "add", "--phone", "13911113333", "--name", "x",
                    "--role", "chair", "--union", "xibailiang", "--password", "short")
    assert short.returncode == 2


def test_cli_bad_setting_stops(tmp_path: Path) -> None:
    result = run_cli({"LIANXIN_DB_URL": "oracle://x"}, "migrate", cwd=tmp_path)
    assert result.returncode == 2 and "LIANXIN_DB_URL" in result.stderr


async def test_demo_tree_paths(app: Any) -> None:
    project = await UnionNode.get(code="xibailiang")
    province = await UnionNode.get(code="shaanxi")
    assert project.path.startswith(province.path) and project.auto_approve
    assert not (await UnionNode.get(code="chuangxingang")).auto_approve
    assert await Officer.filter(union=project, role="cadre", phone__startswith="139").count() == 3


def test_gzip_helper_roundtrip() -> None:
    from server.web.static import make_asset

    asset = make_asset("a.js", "/static/a.1.js", b"x" * 2000)
    assert asset.gzipped is not None and gzip.decompress(asset.gzipped) == b"x" * 2000


def test_cli_builds_the_union_tree(cli_env: dict[str, str]) -> None:
    """A deployment starts from its own tree: nodes and teams from the command line, with
    the hierarchy enforced and clear refusals."""
    assert run_cli(cli_env, "demo").returncode == 0
    added = run_cli(cli_env, "union", "add", "--code", "xian-metro-8", "--name",
                    "西安地铁8号线项目工会", "--kind", "project", "--parent", "cscec1-xibei",
                    "--auto-approve")
    assert added.returncode == 0, added.stderr
    assert run_cli(cli_env, "team", "add", "--project", "xian-metro-8",
                   "--name", "盾构班组").returncode == 0
    tree = run_cli(cli_env, "union", "list").stdout
    assert "xian-metro-8  [project]  西安地铁8号线项目工会  teams: 1, auto-approve" in tree
    assert tree.index("shaanxi ") < tree.index("cscec1-xibei") < tree.index("xian-metro-8")
    # The new project is usable at once: a join link (for the team) and an officer.
    link = run_cli(cli_env, "invite", "xian-metro-8", "--team", "盾构班组")
    assert link.returncode == 0 and "/join/" in link.stdout
    chair = run_cli(cli_env, "officer", "add", "--phone", "13911114444", "--name", "地铁主席",
                    "--role", "chair", "--union", "xian-metro-8", "--password", "metro-8-2026")
    assert chair.returncode == 0, chair.stderr
    refusals = [
        (["union", "add", "--code", "xian-metro-8", "--name", "x", "--kind", "project",
          "--parent", "cscec1-xibei"], "已经有了"),
        (["union", "add", "--code", "Bad Code", "--name", "x", "--kind", "project",
          "--parent", "cscec1-xibei"], "小写字母"),
        (["union", "add", "--code", "under-project", "--name", "x", "--kind", "branch",
          "--parent", "xibailiang"], "不能再建"),
        (["union", "add", "--code", "orphan", "--name", "x", "--kind", "company"],
         "上级组织"),
        (["union", "add", "--code", "auto-company", "--name", "x", "--kind", "company",
          "--parent", "shaanxi-jianshe", "--auto-approve"], "自动通过"),
        (["team", "add", "--project", "xian-metro-8", "--name", "盾构班组"], "已经有"),
        (["team", "add", "--project", "cscec1", "--name", "钢筋班组"], "只属于项目工会"),
        (["team", "add", "--project", "nowhere", "--name", "钢筋班组"], "nowhere"),
    ]
    for args, message in refusals:
        result = run_cli(cli_env, *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
    assert "orphan" not in run_cli(cli_env, "union", "list").stdout
