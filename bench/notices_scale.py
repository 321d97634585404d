"""An upper union's notice to every member below it, at province scale on PostgreSQL.

    .venv/bin/python bench/notices_scale.py [--members 500000] [--projects 500]
                                            [--sample 200] [--db lianxin_notices] [--reuse]

Builds the province tree of bench/province.py (COPY, no requests) unless --reuse finds it,
adds two project notices per project and receipts for a tenth of the members (so the
exclusion has rows to skip), then publishes a 'below' notice from the province chair through
`server.services.notices.publish` (one notice row and one push fan-out job, however many
members it reaches) and times it. Then, for a random sample of members, times
`notices.unread_count(member)` (wall clock, through the ORM) and its SQL under EXPLAIN ANALYZE
(planning + execution: the database time). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.province import db_url, generate  # noqa: E402


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)


async def exists(name: str) -> bool:
    try:
        conn = await asyncpg.connect(db_url(name))
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        return bool(await conn.fetchval("SELECT COUNT(*) FROM member"))
    finally:
        await conn.close()


async def prepare(name: str) -> int:
    """The province chair (an upper-union officer), other notices and some receipts."""
    conn = await asyncpg.connect(db_url(name))
    try:
        await conn.execute("DELETE FROM notice_read; DELETE FROM fanout_job; DELETE FROM notice")
        province = await conn.fetchval("SELECT id FROM union_node WHERE kind = 'province'")
        chair = await conn.fetchval(
            "SELECT id FROM officer WHERE union_id = $1 AND role = 'chair'", province)
        if chair is None:
            template = await conn.fetchrow("SELECT password_hash FROM officer LIMIT 1")
            chair = await conn.fetchval(
                "INSERT INTO officer (phone, name, role, password_hash, active, session_epoch,"
                " created_at, union_id) VALUES ('14900000000', '省总主席', 'chair', $1, TRUE, 0,"
                " now(), $2) RETURNING id", template["password_hash"], province)
        author = await conn.fetchval("SELECT MIN(id) FROM officer WHERE role = 'cadre'")
        await conn.execute("""
            INSERT INTO notice (client_id, author_id, union_id, scope, kind, title, body,
                                pinned, needs_ack, created_at)
            SELECT gen_random_uuid(), $1, n.id, 'project', 'safety', '安全提醒 ' || k,
                   '高处作业系好安全带', FALSE, FALSE, now() - k * interval '1 day'
            FROM union_node n CROSS JOIN generate_series(1, 2) AS k
            WHERE n.kind = 'project'""", author)
        await conn.execute("""
            INSERT INTO notice_read (notice_id, member_id, created_at)
            SELECT n.id, m.id, now() FROM member m
            JOIN notice n ON n.union_id = m.project_id AND n.scope = 'project'
            WHERE m.id % 10 = 0""")
        await conn.execute("ANALYZE")
        return int(chair)
    finally:
        await conn.close()


async def measure(name: str, chair_id: int, sample: int) -> dict[str, object]:
    from tortoise import Tortoise, connections

    from server.db import tortoise_config
    from server.models import Member, Officer
    from server.models.notices import NoticeKind, NoticeScope
    from server.services import notices

    await Tortoise.init(config=tortoise_config(db_url(name)))
    try:
        chair = await Officer.get(id=chair_id).select_related("union")
        publish_ms = []
        for i in range(5):
            new = notices.NewNotice(uuid.uuid4(), f"工资发放通知 {i}", "本月工资15日前发放到卡。",
                                    NoticeScope.BELOW, None, NoticeKind.WAGES, False, False, None)
            started = time.perf_counter()
            notice, created = await notices.publish(chair, new)
            publish_ms.append((time.perf_counter() - started) * 1000)
            assert created
        conn = connections.get("default")
        reach = (await conn.execute_query_dict(
            "SELECT COUNT(*) AS n FROM member m JOIN union_node p ON p.id = m.project_id "
            "WHERE m.status = 'active' AND p.path LIKE $1", [chair.union.path + "%"]))[0]["n"]
        jobs = (await conn.execute_query_dict(
            "SELECT COUNT(*) AS n FROM fanout_job WHERE notice_id = $1", [notice.id]))[0]["n"]
        ids = [r["id"] for r in await conn.execute_query_dict("SELECT id FROM member")]
        rng = random.Random(2026)
        wall_ms, db_ms, counts = [], [], []
        raw = await asyncpg.connect(db_url(name))
        try:
            for member_id in rng.sample(ids, min(sample, len(ids))):
                member = await Member.get(id=member_id).select_related("project")
                started = time.perf_counter()
                counts.append(await notices.unread_count(member))
                wall_ms.append((time.perf_counter() - started) * 1000)
                read = notices.NoticeRead.filter(member_id=member.id).values("notice_id")
                query = notices.Notice.filter(notices.for_member(member)).exclude(
                    id__in=notices.Subquery(read)).count()
                # Tortoise inlines every parameter but the subquery's (the member's id).
                sql = query.sql(params_inline=True)
                plan = json.loads(await raw.fetchval(
                    "EXPLAIN (ANALYZE, FORMAT JSON) " + sql, member.id))[0]
                db_ms.append(plan["Planning Time"] + plan["Execution Time"])
        finally:
            await raw.close()
    finally:
        await Tortoise.close_connections()
    return {"members_reached": reach, "fanout_jobs_for_notice": jobs,
            "publish_ms": [round(x, 2) for x in publish_ms],
            "publish_ms_max": round(max(publish_ms), 2),
            "unread_sample": len(wall_ms), "unread_counts_seen": sorted(set(counts)),
            "unread_db_ms_p50": pct(db_ms, 0.5), "unread_db_ms_p95": pct(db_ms, 0.95),
            "unread_db_ms_max": round(max(db_ms), 2),
            "unread_wall_ms_p50": pct(wall_ms, 0.5), "unread_wall_ms_p95": pct(wall_ms, 0.95),
            "unread_wall_ms_mean": round(statistics.mean(wall_ms), 2)}


async def main_async(args: argparse.Namespace) -> None:
    if not (args.reuse and await exists(args.db)):
        await generate(args.db, args.projects, args.members, 0)
    chair = await prepare(args.db)
    print(json.dumps(await measure(args.db, chair, args.sample), ensure_ascii=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="lianxin_notices")
    parser.add_argument("--members", type=int, default=500_000)
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--reuse", action="store_true", help="keep an existing database")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
