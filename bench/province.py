"""Province-scale data on PostgreSQL, and the officer pages measured against it.

    .venv/bin/python bench/province.py generate [--projects 500] [--members 500000]
                                                [--requests 1000000] [--db lianxin_province]
    .venv/bin/python bench/province.py measure [--db lianxin_province] [--requests-per-page 400]
                                               [--pages queue,search,figures,digest,upper]
                                               [--workers 2]
    .venv/bin/python bench/province.py explain [--db lianxin_province]
    .venv/bin/python bench/province.py profile queue|search|figures|digest [--n 50]

`generate` builds a union tree (province → 3 industry unions → companies → branches →
projects), 10 officers per project (1 chair, 8 cadres, 1 manager: 5,000 at 500 projects),
members spread over the projects with liaison cadres, and requests over the last year with a
timeline of 3 events each, using COPY. `measure` serves that database with `lianxin serve` and
drives the officer queue, member search, chair figures and digest with 20 concurrent users
(bench/loadgen.py in a second process), printing p50/p95 server round trips; `upper` adds the
province union's project table (500 projects) and a company union's (10 projects), served from
the summary rows. `explain` prints EXPLAIN ANALYZE for the queries behind those pages.

The bulk load runs with triggers off (session_replication_role = replica: COPY would otherwise
keep the summary rows row by row) and ends with `lianxin figures rebuild`, which is timed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.enrol_burst import UNLIMITED  # noqa: E402

PY = sys.executable
LIANXIN = str(Path(PY).parent / "lianxin")
ADMIN_URL = os.environ.get("LIANXIN_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
UPPER_PROVINCE, UPPER_COMPANY = "14900000001", "14900000002"  # upper-union logins, for measure
PASSWORD = "province-bench-2026"  # noqa: S105 - the generated officers' login, for measure
CATEGORIES = ["wages", "safety", "living", "family_visit", "travel_home", "legal", "health",
              "counselling", "training", "suggestion", "other"]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "建国伟强军磊洋勇杰涛明超华平刚辉鹏飞东亮"


def db_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


async def recreate(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def generate(name: str, projects: int, members: int, requests: int) -> None:
    started = time.perf_counter()
    await recreate(name)
    await asyncio.to_thread(subprocess.run, [LIANXIN, "migrate"], check=True,
                            capture_output=True, env={**os.environ, "LIANXIN_DB_URL": db_url(name)})
    from server.passwords import hash_password

    password_hash = hash_password(PASSWORD)
    rng = random.Random(2026)
    url = db_url(name)  # (`name` is reused below for the workers' names)
    conn = await asyncpg.connect(url)
    now = datetime.now(UTC)
    # Bulk load without the summary triggers (and FK checks); `figures rebuild` follows.
    await conn.execute("SET session_replication_role = replica")
    try:
        async def node(code: str, title: str, kind: str, parent: tuple[int, str] | None,
                       auto: bool = True) -> tuple[int, str]:
            node_id = await conn.fetchval(
                "INSERT INTO union_node (code, name, kind, path, auto_approve, member_seq, "
                "created_at, parent_id) VALUES ($1, $2, $3, '/', $4, 0, now(), $5) "
                "RETURNING id", code, title, kind, auto, parent[0] if parent else None)
            path = f"{parent[1] if parent else '/'}{node_id}/"
            await conn.execute("UPDATE union_node SET path = $1 WHERE id = $2", path, node_id)
            return node_id, path

        province = await node("p", "陕西省总工会", "province", None)
        project_nodes: list[tuple[int, str]] = []
        industries = [await node(f"i{i}", f"行业工会{i}", "industry", province) for i in range(3)]
        per_company, per_branch = 5, 2
        companies = max(1, projects // (per_company * per_branch))
        first_company = 0
        for c in range(companies):
            company = await node(f"c{c}", f"建筑公司{c}", "company", industries[c % 3])
            first_company = first_company or company[0]
            for b in range(per_branch):
                branch = await node(f"c{c}b{b}", f"建筑公司{c}分公司{b}", "branch", company)
                for p in range(per_company):
                    if len(project_nodes) < projects:
                        project_nodes.append(await node(
                            f"c{c}b{b}p{p}", f"项目{c}-{b}-{p}", "project", branch))
        team_rows = [(f"班组{t}", pid) for pid, _ in project_nodes for t in range(5)]
        await conn.copy_records_to_table("team", records=team_rows,
                                         columns=["name", "project_id"])
        teams: dict[int, list[int]] = {}
        for tid, pid in await conn.fetch("SELECT id, project_id FROM team"):
            teams.setdefault(pid, []).append(tid)
        officer_rows = []
        phone = 15000000000
        for pid, _ in project_nodes:
            for role, count in (("chair", 1), ("cadre", 8), ("manager", 1)):
                for k in range(count):
                    phone += 1
                    team = teams[pid][k % 5] if role == "cadre" else None
                    officer_rows.append((str(phone), f"{role}{pid}-{k}", role, password_hash,
                                         True, 0, now, team, pid))
        # The upper unions measured: the province's and one company's.
        for phone_no, role_name, union_id in ((UPPER_PROVINCE, "省总工会 统计", province[0]),
                                              (UPPER_COMPANY, "公司工会 统计", first_company)):
            officer_rows.append((phone_no, role_name, "upper", password_hash, True, 0, now,
                                 None, union_id))
        await conn.copy_records_to_table("officer", records=officer_rows, columns=[
            "phone", "name", "role", "password_hash", "active", "session_epoch", "created_at",
            "team_id", "union_id"])
        cadres: dict[int, list[int]] = {}
        for oid, pid in await conn.fetch(
                "SELECT id, union_id FROM officer WHERE role = 'cadre' ORDER BY id"):
            cadres.setdefault(pid, []).append(oid)
        member_rows = []
        per_project = members // len(project_nodes)
        for index, (pid, _) in enumerate(project_nodes):
            for m in range(per_project):
                name = rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN)
                joined = now - timedelta(days=rng.randint(1, 700))
                member_rows.append((
                    uuid.uuid4(), name, f"13{index * per_project + m:09d}", "木工", "某劳务公司",
                    "陕西", None, "", "active", f"LX{pid:04d}{m + 1:06d}", "", 0, joined, joined,
                    cadres[pid][m % 8], pid, rng.choice(teams[pid]), "", False))
        await conn.copy_records_to_table("member", records=member_rows, columns=[
            "client_id", "name", "phone", "trade", "employer", "hometown", "id_number_enc",
            "id_number_masked", "status", "member_no", "reject_reason", "session_epoch",
            "created_at", "joined_at", "liaison_id", "project_id", "team_id", "enrol_proof",
            "sms_opt_in"])
        del member_rows
        # Site headcounts (在场人数) as chairs would enter them: members are 60–95 % of it.
        headcounts = [(pid, None, int(per_project / rng.uniform(0.6, 0.95)),
                       now.date(), now) for pid, _ in project_nodes]
        await conn.copy_records_to_table("headcount", records=headcounts, columns=[
            "project_id", "team_id", "count", "as_of", "entered_at"])
        member_ids = await conn.fetch("SELECT id, project_id, liaison_id FROM member")
        batch: list[tuple[object, ...]] = []
        statuses = ["closed"] * 55 + ["resolved"] * 10 + ["in_progress"] * 12 + \
            ["acknowledged"] * 8 + ["submitted"] * 10 + ["declined"] * 5
        for i in range(requests):
            mid, pid, liaison = member_ids[rng.randrange(len(member_ids))]
            created = now - timedelta(minutes=rng.randint(1, 365 * 24 * 60))
            status = rng.choice(statuses)
            acked = status != "submitted"
            done = status in {"resolved", "closed"}
            ack_s = rng.randint(600, 100_000) if acked else None
            res_s = rng.randint(3600, 600_000) if done else None
            resolve_due = created + timedelta(days=4)
            batch.append((
                uuid.uuid4(), rng.choice(CATEGORIES), f"诉求内容 {i}", "normal",
                "management", status, rng.choice(["cadre"] * 8 + ["chair", "upper"]),
                rng.random() < 0.05, created, created + timedelta(hours=24), resolve_due,
                resolve_due, created + timedelta(seconds=ack_s) if ack_s else None,
                created + timedelta(seconds=res_s) if res_s else None,
                created + timedelta(seconds=res_s + 86400) if status == "closed" and res_s
                else None, ack_s, res_s,
                (created + timedelta(seconds=res_s) <= resolve_due) if res_s else None,
                "已解决" if done else "", rng.randint(1, 5) if done and rng.random() < .6 else None,
                "", 0, 0, 0, liaison, mid, pid))
            if len(batch) == 50_000:
                await copy_requests(conn, batch)
                batch = []
        if batch:
            await copy_requests(conn, batch)
        # Timelines: three events per request, written set-wise inside the database.
        await conn.execute("""
            INSERT INTO request_event (kind, by_worker, public, note, detail, created_at,
                                       request_id, actor_id)
            SELECT k.kind, k.kind = 'submitted', k.kind <> 'note', '', '{}'::jsonb,
                   r.created_at + k.offs, r.id,
                   CASE WHEN k.kind = 'submitted' THEN NULL ELSE r.assignee_id END
            FROM service_request r
            CROSS JOIN (VALUES ('submitted', interval '0'), ('acknowledged', interval '1 hour'),
                               ('reply', interval '2 hours')) AS k(kind, offs)""")
        await conn.execute("""
            UPDATE service_request r SET last_event_id = e.m, last_public_event_id = e.m,
                                         worker_seen_event_id = e.m
            FROM (SELECT request_id, max(id) AS m FROM request_event GROUP BY request_id) e
            WHERE e.request_id = r.id""")
        await conn.execute("SET session_replication_role = origin")
        loaded = time.perf_counter()
        rebuilt = await asyncio.to_thread(
            subprocess.run, [LIANXIN, "figures", "rebuild"], capture_output=True,
            text=True, env={**os.environ, "LIANXIN_DB_URL": url})
        if rebuilt.returncode:
            raise RuntimeError(rebuilt.stderr)
        rebuild_seconds = time.perf_counter() - loaded
        await conn.execute("ANALYZE")
        counts = {t: await conn.fetchval(f"SELECT COUNT(*) FROM {t}")  # noqa: S608
                  for t in ("union_node", "officer", "member", "service_request",
                            "request_event", "figures_month", "figures_filer")}
    finally:
        await conn.close()
    print(json.dumps({"seconds": round(time.perf_counter() - started, 1),
                      "figures_rebuild_seconds": round(rebuild_seconds, 1),
                      "rebuild": rebuilt.stdout.strip(), **counts}))


async def copy_requests(conn: asyncpg.Connection, rows: list[tuple[object, ...]]) -> None:
    await conn.copy_records_to_table("service_request", records=rows, columns=[
        "client_id", "category", "description", "urgency", "anonymity", "status",
        "level", "referred", "created_at", "ack_due_at", "resolve_due_at", "level_due_at",
        "acknowledged_at", "resolved_at", "closed_at", "ack_seconds", "resolve_seconds",
        "resolved_on_time", "resolution", "rating", "rating_comment", "last_event_id",
        "worker_seen_event_id", "last_public_event_id", "assignee_id", "member_id",
        "project_id"])


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def login(base: str, phone: str) -> str:
    with httpx.Client(base_url=base) as c:
        page = c.get("/officer/login")
        r = c.post("/officer/login", data={"csrf_token": CSRF.search(page.text).group(1),
                                            "phone": phone, "password": PASSWORD})
        assert r.status_code == 303, r.status_code
        return "; ".join(f"{k}={v}" for k, v in c.cookies.items())


async def pick_people(name: str) -> dict[str, str]:
    conn = await asyncpg.connect(db_url(name))
    try:
        cadre = await conn.fetchrow(
            "SELECT phone, id FROM officer WHERE role = 'cadre' ORDER BY id LIMIT 1")
        chair = await conn.fetchrow(
            "SELECT o.phone, o.union_id FROM officer o WHERE role = 'chair' ORDER BY id LIMIT 1")
        some = await conn.fetchval("SELECT name FROM member WHERE project_id = $1 LIMIT 1",
                                   chair["union_id"])
    finally:
        await conn.close()
    return {"cadre": cadre["phone"], "chair": chair["phone"], "member_name": some[:2],
            "province": UPPER_PROVINCE, "company": UPPER_COMPANY}


def measure(name: str, per_page: int, only: set[str], workers: int = 2) -> None:
    people = asyncio.run(pick_people(name))
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LIANXIN_DB_URL": db_url(name), "LIANXIN_BASE_URL": base,
           "LIANXIN_SECRET_KEY": "province-bench-secret-0123456789abcdefghij",
           "LIANXIN_DEADLINE_JOB_SECONDS": "0", "LIANXIN_LOGIN_MAX_FAILURES": "1000",
           **UNLIMITED}
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-province-"))
    server = subprocess.Popen([LIANXIN, "serve", "--port", str(port), "--workers", str(workers),
                               "--log-level", "warning"], env=env, cwd=workdir)
    try:
        for _ in range(100):
            try:
                httpx.get(base + "/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        cadre, chair = login(base, people["cadre"]), login(base, people["chair"])
        pages = [
            ("queue", "officer queue (cadre)", "/officer/requests", cadre),
            ("search", "member search (chair)",
             "/officer/members?q=" + quote(people["member_name"]), chair),
            ("figures", "chair figures (30 days)", "/officer/figures", chair),
            ("digest", "digest (30 days)", "/officer/digest", chair),
        ]
        if "upper" in only:
            province, company = login(base, people["province"]), login(base, people["company"])
            pages += [
                ("upper", "province table (500 projects, 12 months)", "/officer/figures",
                 province),
                ("upper", "province table sorted by 入会率", "/officer/figures?sort=coverage"
                 "&dir=asc", province),
                ("upper", "company table (10 projects, 12 months)", "/officer/figures",
                 company),
            ]
        pages = [p for p in pages if p[0] in only]
        # One user alone shows the server's own time per page; twenty at once, back to back
        # with no think time, add the queueing of the processes on this machine's 2 cores.
        print("| page | users | requests | errors | pages/s | p50 ms | p95 ms | p99 ms |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for _key, title, path, cookie in pages:
            for users in (1, 20):
                out = subprocess.run([PY, str(ROOT / "bench" / "loadgen.py"), "get", base,
                                      "--total", str(per_page if users > 1 else 100),
                                      "--connections", str(users),
                                      f"--path={path}", f"--cookie={cookie}"],
                                     capture_output=True, text=True, check=True)
                r = json.loads(out.stdout)
                print(f"| {title} | {users} | {r['done']} | {r['errors']} | {r['per_s']} | "
                      f"{r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |")
    finally:
        server.terminate()
        server.wait()


async def profile(name: str, page: str, n: int) -> None:
    """pyinstrument over N sequential loads of one page, in-process on the province data."""
    from asgi_lifespan import LifespanManager
    from pyinstrument import Profiler

    from server.app import create_app
    from server.settings import load

    people = await pick_people(name)
    app = create_app(load({"LIANXIN_DB_URL": db_url(name), "LIANXIN_DEADLINE_JOB_SECONDS": "0",
                           "LIANXIN_SECRET_KEY": "province-bench-secret-0123456789abcdefghij",
                           "LIANXIN_LOGIN_MAX_FAILURES": "1000", **UNLIMITED}))
    paths = {"queue": ("/officer/requests", "cadre"),
             "search": ("/officer/members?q=" + quote(people["member_name"]), "chair"),
             "figures": ("/officer/figures", "chair"), "digest": ("/officer/digest", "chair"),
             "province": ("/officer/figures", "province"),
             "company": ("/officer/figures", "company")}
    path, who = paths[page]
    async with LifespanManager(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        form = await c.get("/officer/login")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        await c.post("/officer/login", data={"csrf_token": token, "phone": people[who],
                                             "password": PASSWORD})
        assert (await c.get(path)).status_code == 200
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        started = time.perf_counter()
        profiler.start()
        for _ in range(n):
            await c.get(path)
        profiler.stop()
        print(f"{page}: {(time.perf_counter() - started) / n * 1000:.1f} ms per page "
              "(in-process, with the profiler)")
    print(profiler.output_text(unicode=True, color=False))


async def explain(name: str) -> None:
    conn = await asyncpg.connect(db_url(name))
    try:
        cadre = await conn.fetchval("SELECT id FROM officer WHERE role = 'cadre' LIMIT 1")
        path = await conn.fetchval("SELECT path FROM union_node WHERE kind = 'project' LIMIT 1")
        queries = {
            "officer queue (cadre)": (
                "SELECT * FROM service_request WHERE assignee_id = $1 AND status IN "
                "('submitted','acknowledged','in_progress') ORDER BY level_due_at, id LIMIT 30",
                cadre),
            "chair figures: by status (one project, 30 days)": (
                "SELECT status, COUNT(id) FROM service_request WHERE project_id IN "
                "(SELECT id FROM union_node WHERE path LIKE $1 AND kind = 'project') "
                "AND created_at >= now() - interval '30 days' GROUP BY status", path + "%"),
            "upper union figures: by category (whole province, 30 days)": (
                "SELECT category, COUNT(id) FROM service_request WHERE project_id IN "
                "(SELECT id FROM union_node WHERE path LIKE '/%' AND kind = 'project') "
                "AND created_at >= now() - interval '30 days' GROUP BY category", None),
            "member search (chair, name contains)": (
                "SELECT * FROM member WHERE project_id IN (SELECT id FROM union_node WHERE "
                "path LIKE $1 AND kind = 'project') AND status = 'active' AND name ILIKE '%建国%' "
                "ORDER BY id DESC LIMIT 50", path + "%"),
        }
        for title, (sql, arg) in queries.items():
            plan = await conn.fetch("EXPLAIN ANALYZE " + sql, *([arg] if arg is not None else []))
            print(f"### {title}\n\n    " + "\n    ".join(r[0] for r in plan) + "\n")
        from server.db import numbered_placeholders
        from server.services import figure_rows, upper

        last = figure_rows.month_of(datetime.now(UTC))
        first = figure_rows.shift_month(last, -11)
        province = await conn.fetchval("SELECT path FROM union_node WHERE kind = 'province'")
        company = await conn.fetchval("SELECT path FROM union_node WHERE code = 'c0'")
        for title, sql, args in (
                ("upper table: province, 12 months", upper.TABLE_SQL,
                 (first, last, province + "%")),
                ("upper table: company, 12 months", upper.TABLE_SQL, (first, last, company + "%")),
                ("upper trend: province, 12 months", upper.TREND_SQL,
                 (province + "%", first, last))):
            plan = await conn.fetch("EXPLAIN ANALYZE " + numbered_placeholders(sql), *args)
            print(f"### {title}\n\n    " + "\n    ".join(r[0] for r in plan) + "\n")
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate")
    gen.add_argument("--db", default="lianxin_province")
    gen.add_argument("--projects", type=int, default=500)
    gen.add_argument("--members", type=int, default=500_000)
    gen.add_argument("--requests", type=int, default=1_000_000)
    mea = sub.add_parser("measure")
    mea.add_argument("--db", default="lianxin_province")
    mea.add_argument("--requests-per-page", type=int, default=400)
    mea.add_argument("--pages", default="queue,search,figures,digest,upper",
                     help="comma-separated: queue, search, figures, digest, upper")
    mea.add_argument("--workers", type=int, default=2,
                     help="server processes (docs/deploy.md recommends 4)")
    exp = sub.add_parser("explain")
    exp.add_argument("--db", default="lianxin_province")
    pro = sub.add_parser("profile")
    pro.add_argument("page", choices=["queue", "search", "figures", "digest", "province",
                                      "company"])
    pro.add_argument("--db", default="lianxin_province")
    pro.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    if args.command == "generate":
        asyncio.run(generate(args.db, args.projects, args.members, args.requests))
    elif args.command == "measure":
        measure(args.db, args.requests_per_page, set(args.pages.split(",")), args.workers)
    elif args.command == "profile":
        asyncio.run(profile(args.db, args.page, args.n))
    else:
        asyncio.run(explain(args.db))


if __name__ == "__main__":
    main()
