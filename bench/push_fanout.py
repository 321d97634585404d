"""Push fan-out: one notice to N subscribed members, sent by `lianxin worker` processes to a
local endpoint standing in for the push service; one worker is killed mid-run and restarted.

    .venv/bin/python bench/push_fanout.py [--subs 100000] [--db sqlite|postgres] [--workers 1]

Builds a scratch database (the demo union plus N members, each with a push subscription),
publishes one notice to their project (one fan-out job row), then runs the worker(s): they
expand the job into deliveries and send every message aes128gcm-encrypted and VAPID-signed.
The endpoint (another process) counts every message per subscription and decrypts and
verifies one in `--verify-every` (RFC 8291 / RFC 8292, with the tests' own implementation).
After `--kill-at` of the messages are sent, the first worker is killed with SIGKILL; its lease
is expired by hand (instead of waiting LEASE) and it is started again. Prints messages/s per
process before and after the kill, and the endpoint's count of lost and doubled messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIANXIN = str(Path(sys.executable).parent / "lianxin")
KEYS = 16  # distinct subscription keys (each message still gets its own ephemeral key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_keys() -> list[tuple[int, bytes]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    out = []
    for _ in range(KEYS):
        key = ec.generate_private_key(ec.SECP256R1())
        out.append((key.private_numbers().private_value, os.urandom(16)))
    return out


def endpoint_main(port: int, n: int, keys: list[tuple[int, bytes]], public_key: str,
                  verify_every: int) -> None:
    """The push service stand-in: 201 for every message, counted per subscription."""
    from aiohttp import web
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.test_push import rfc8291_decrypt, verify_vapid

    private = [(ec.derive_private_key(v, ec.SECP256R1()), auth) for v, auth in keys]
    counts = bytearray(n + 1)
    stats = {"received": 0, "verified": 0, "refused": 0}
    origin = f"http://127.0.0.1:{port}"

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        index = int(request.match_info["index"])
        stats["received"] += 1
        counts[index] = min(counts[index] + 1, 255)
        if index % verify_every == 0:
            try:
                verify_vapid(request.headers["Authorization"], public_key, origin)
                key, auth = private[index % KEYS]
                payload = json.loads(rfc8291_decrypt(body, key, auth))
                assert payload["url"].startswith("/notices/")
                assert int(request.headers["TTL"]) >= 3600
                stats["verified"] += 1
            except Exception:
                stats["refused"] += 1
                return web.Response(status=400)
        return web.Response(status=201)

    async def report(request: web.Request) -> web.Response:
        lost = sum(1 for i in range(1, n + 1) if counts[i] == 0)
        doubled = sum(1 for i in range(1, n + 1) if counts[i] > 1)
        extra = sum(counts[i] - 1 for i in range(1, n + 1) if counts[i] > 1)
        return web.json_response({**stats, "lost": lost, "doubled": doubled, "extra": extra})

    app = web.Application()
    app.router.add_post("/p/{index}", receive)
    app.router.add_get("/stats", report)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def build(db_url: str, n: int, origin: str, keys: list[tuple[int, bytes]],
                settings: Any) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from tortoise import Tortoise, connections

    from server.db import PRIMARY, apply_migrations, insert_like, tortoise_config, transaction
    from server.models import Member, NoticeKind, NoticeScope, Officer, PushSubscription
    from server.services import notices, push
    from server.services.demo import load_demo

    await apply_migrations(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    try:
        await load_demo()
        chair = await Officer.get(phone="13900000010").select_related("union")
        project_id = chair.union.id
        now = datetime.now(UTC)
        template = Member(client_id=uuid.uuid4(), project_id=project_id, name="压测工友",
                          phone="19000000000", trade="钢筋工", status="active", created_at=now,
                          joined_at=now)
        for start in range(0, n, 5000):
            async with transaction() as tx:
                await insert_like(tx, template, [
                    {"client_id": uuid.uuid4(), "phone": f"19{i:09d}"}
                    for i in range(start + 1, min(n, start + 5000) + 1)])
        rows = await Member.filter(phone__startswith="19", project_id=project_id).order_by(
            "id").values_list("id", flat=True)
        points = []
        for value, auth in keys:
            key = ec.derive_private_key(value, ec.SECP256R1())
            point = key.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.UncompressedPoint)
            points.append((push.b64url(point), push.b64url(auth)))
        sub = PushSubscription(member_id=1, endpoint="x", p256dh="", auth="", created_at=now)
        conn = connections.get(PRIMARY)
        for start in range(0, len(rows), 5000):
            async with transaction() as tx:
                await insert_like(tx, sub, [
                    {"member_id": member_id, "endpoint": f"{origin}/p/{i}",
                     "p256dh": points[i % KEYS][0], "auth": points[i % KEYS][1]}
                    for i, member_id in enumerate(rows[start:start + 5000], start + 1)])
        del conn
        new = notices.NewNotice(uuid.uuid4(), "本周六发放工资", "请带好身份证到项目部领取。",
                                NoticeScope.PROJECT, None, NoticeKind.WAGES, False, False, None)
        notice, _ = await notices.publish(chair, new)
        push.public_key(settings)  # the workers read the generated key from the same file
        return int(notice.id)
    finally:
        await Tortoise.close_connections()


class Db:
    def __init__(self, db_url: str) -> None:
        self.url = db_url

    async def query(self, sql: str) -> list[tuple[Any, ...]]:
        if self.url.startswith("sqlite://"):
            import sqlite3

            path = self.url.removeprefix("sqlite://").split("?")[0]
            conn = sqlite3.connect(path, timeout=30)
            try:
                rows = list(conn.execute(sql).fetchall())
                conn.commit()
                return rows
            finally:
                conn.close()
        import asyncpg

        conn = await asyncpg.connect(self.url)
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    async def sent(self) -> int:
        return int((await self.query(
            "SELECT COUNT(*) FROM delivery WHERE status = 'sent'"))[0][0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get_json(url: str) -> Any:
    import httpx

    return httpx.get(url, timeout=30).json()


def start_worker(env: dict[str, str], workdir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([LIANXIN, "worker", "--batch", "200", "--interval", "0.2"],
                            env=env, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=open(workdir / "worker.log", "ab"))


def start_profiler(pid: int, out: str) -> subprocess.Popen[bytes]:
    """py-spy on a worker until it is killed (raw collapsed stacks, idle samples too)."""
    return subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                             str(pid), "--format", "raw", "--idle", "--rate", "200",
                             "--output", out, "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def run(n: int, backend: str, workers: int, kill_at: float,
              verify_every: int, profile: str | None = None) -> dict[str, Any]:
    import httpx

    from server.settings import load

    os.environ["LIANXIN_TEST_DB"] = backend
    from tests.conftest import make_database

    workdir = Path(tempfile.mkdtemp(prefix="lianxin-push-"))
    db_url, drop = await make_database(workdir, "push")
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LIANXIN_DB_URL": db_url,
           "LIANXIN_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
           "LIANXIN_SECRET_FILE": str(workdir / ".lianxin-secret"),
           "LIANXIN_PUSH_HOSTS": origin, "LIANXIN_DEADLINE_JOB_SECONDS": "0"}
    settings = load(env)
    keys = make_keys()
    t0 = time.perf_counter()
    notice_id = await build(db_url, n, origin, keys, settings)
    print(f"built {n} members + subscriptions in {time.perf_counter() - t0:.1f} s", flush=True)
    from server.services import push

    endpoint = multiprocessing.Process(
        target=endpoint_main, args=(port, n, keys, push.public_key(settings), verify_every),
        daemon=True)
    endpoint.start()
    db = Db(db_url)
    for _ in range(300):
        try:
            await asyncio.to_thread(get_json, origin + "/stats")
            break
        except (OSError, httpx.TransportError):  # not listening yet
            await asyncio.sleep(0.1)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        start = time.perf_counter()
        procs = [start_worker(env, workdir) for _ in range(workers)]
        spy = start_profiler(procs[0].pid, profile) if profile else None
        sent_at_kill = 0
        while True:
            await asyncio.sleep(0.25)
            sent_at_kill = await db.sent()
            if sent_at_kill >= kill_at * n:
                break
        cpu_before = sum(cpu_seconds(p.pid) for p in procs)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        killed_at = time.perf_counter()
        in_flight = int((await db.query(
            "SELECT COUNT(*) FROM delivery WHERE status = 'sending'"))[0][0])
        # The lease would end after LEASE (120 s); end it now instead of waiting.
        await db.query("UPDATE delivery SET next_attempt_at = created_at "
                       "WHERE status = 'sending'")
        await db.query("UPDATE fanout_job SET claimed_until = NULL WHERE done = FALSE")
        restarted = time.perf_counter()
        procs[0] = start_worker(env, workdir)
        while True:
            await asyncio.sleep(0.25)
            done = await db.sent()
            if done >= n:
                cpu_after = sum(cpu_seconds(p.pid) for p in procs)
                break
            if time.perf_counter() - restarted > 3600:
                raise RuntimeError("not finished after an hour")
        finished = time.perf_counter()
        endpoint_cpu = cpu_seconds(endpoint.pid or 0)
        stats = await asyncio.to_thread(get_json, origin + "/stats")
        deliveries = int((await db.query(
            f"SELECT COUNT(*) FROM delivery WHERE notice_id = {int(notice_id)}"  # noqa: S608
        ))[0][0])
        return {
            "n": n, "backend": backend, "workers": workers,
            "before_kill_rate": sent_at_kill / (killed_at - start) / workers,
            "after_restart_rate": (n - sent_at_kill) / (finished - restarted) / workers,
            "overall_rate": n / (finished - start) / workers, "sent_at_kill": sent_at_kill,
            "in_flight_at_kill": in_flight, "cpu_seconds": cpu_before + cpu_after,
            "per_cpu_second": n / (cpu_before + cpu_after), "deliveries": deliveries, **stats,
            "seconds": finished - start, "endpoint_cpu_seconds": endpoint_cpu,
        }
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait()
        endpoint.terminate()
        await drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subs", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--kill-at", type=float, default=0.3)
    parser.add_argument("--verify-every", type=int, default=500)
    parser.add_argument("--profile",
                        help="py-spy's raw stacks of the first worker, until the kill")
    args = parser.parse_args()
    r = asyncio.run(run(args.subs, args.db, args.workers, args.kill_at, args.verify_every,
                        args.profile))
    print("| db | subscriptions | worker processes | msg/s per process before kill | "
          "after restart | overall | per worker CPU-second | lost | doubled | "
          "in flight at kill | verified sample | refused |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {r['backend']} | {r['n']} | {r['workers']} | {r['before_kill_rate']:.0f} | "
          f"{r['after_restart_rate']:.0f} | {r['overall_rate']:.0f} | "
          f"{r['per_cpu_second']:.0f} | {r['lost']} | "
          f"{r['doubled']} | {r['in_flight_at_kill']} | {r['verified']} | {r['refused']} |")
    print(f"{r['received']} messages received for {r['deliveries']} deliveries in "
          f"{r['seconds']:.1f} s; exactly once: "
          f"{'yes' if r['lost'] == 0 and r['doubled'] == 0 else 'no'}; worker CPU "
          f"{r['cpu_seconds']:.1f} s, endpoint CPU {r['endpoint_cpu_seconds']:.1f} s")


if __name__ == "__main__":
    main()
