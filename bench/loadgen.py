"""A small load generator on raw asyncio sockets (HTTP/1.1 keep-alive), run as its own
process so that it does not share a CPU core's event loop with the server it measures.

    python bench/loadgen.py MODE URL --connections 50 --total 1000 [--token T]

MODE: constant (GET /), insert (POST /insert), enrol (GET /join/T, then POST it with the
session cookie and CSRF token, as a phone does), get (GET --path with --cookie), sync (each
connection joins as its own worker through /join/T, then posts its outbox in batches of
--batch new requests to /requests/sync; --total counts items, latencies are per batch).
Prints one JSON line: requests, errors, seconds, per-operation latencies (p50/p95/p99 ms)."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from urllib.parse import urlencode, urlsplit

CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
COOKIE = re.compile(rb"set-cookie: (lx_session=[^;]+)", re.I)


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> tuple[int, bytes, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}",
                 f"content-length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        chunked = False
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
            elif low.startswith(b"transfer-encoding:") and b"chunked" in low:
                chunked = True
        if chunked:
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            data = await self.reader.readexactly(length)
        return status, head, data


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


async def join(conn: Connection, token: str, i: int) -> tuple[str, str]:
    """Join as worker i; returns the member's session cookie and a CSRF token."""
    status, head, page = await conn.request("GET", f"/join/{token}")
    session, csrf = COOKIE.search(head), CSRF.search(page)
    if status != 200 or not session or not csrf:
        raise RuntimeError(f"GET /join {status}")
    body = urlencode({
        "csrf_token": csrf.group(1).decode(), "client_id": str(uuid.uuid4()),
        "name": "压测工友", "phone": f"13{5 + i % 5}{i:08d}", "trade": "木工",
        "team": "", "employer": "", "hometown": "", "id_number": "", "consent": "on",
    }).encode()
    status, head, _ = await conn.request("POST", f"/join/{token}", body, {
        "content-type": "application/x-www-form-urlencoded", "cookie": session.group(1).decode()})
    session = COOKIE.search(head) or session
    if status != 303:
        raise RuntimeError(f"POST /join {status}")
    # Signing in gave the phone a new CSRF token: read it from the member's own page.
    status, _, page = await conn.request("GET", "/me", b"", {"cookie": session.group(1).decode()})
    fresh = re.search(rb'name="csrf-token" content="([^"]+)"', page)
    if status != 200 or not fresh:
        raise RuntimeError(f"GET /me {status}")
    return session.group(1).decode(), fresh.group(1).decode()


def outbox_batch(size: int, i: int) -> bytes:
    return json.dumps({"items": [{"id": cid, "fields": [
        ["client_id", cid], ["category", "living"], ["description", f"宿舍热水器坏了 {i}-{n}"],
        ["urgency", "normal"], ["anonymous", "management"]]}
        for n, cid in ((n, str(uuid.uuid4())) for n in range(size))]}).encode()


async def run(mode: str, url: str, connections: int, total: int, token: str,
              path: str = "/", cookie: str = "", batch: int = 50) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    remaining = total
    latencies: list[float] = []
    errors: list[str] = []

    async def one(conn: Connection, i: int) -> None:
        started = time.perf_counter()
        if mode == "constant":
            status, _, _ = await conn.request("GET", "/")
            ok = status == 200
        elif mode == "get":
            status, _, _ = await conn.request("GET", path, headers={"cookie": cookie})
            ok = status == 200
        elif mode == "insert":
            body = urlencode({"client_id": str(uuid.uuid4()), "name": "工友",
                              "phone": f"138{i:08d}"}).encode()
            status, _, _ = await conn.request(
                "POST", "/insert", body, {"content-type": "application/x-www-form-urlencoded"})
            ok = status == 303
        else:
            try:
                await join(conn, token, i)
            except RuntimeError as exc:  # the step and status that failed, e.g. "POST /join 409"
                errors.append(str(exc))
                return
            ok = True
        if ok:
            latencies.append(time.perf_counter() - started)
        else:
            errors.append(str(status))

    items = 0

    async def sync_setup(w: int) -> tuple[Connection, str, str]:
        conn = Connection(host, port)
        return (conn, *await join(conn, token, uuid.uuid4().int % 10**8))

    async def sync_worker(conn: Connection, session: str, csrf: str) -> None:
        nonlocal remaining, items
        headers = {"content-type": "application/json", "cookie": session, "x-csrf-token": csrf}
        while remaining > 0:
            size = min(batch, remaining)
            remaining -= size
            body = outbox_batch(size, remaining)
            started = time.perf_counter()
            status, _, answer = await conn.request("POST", "/requests/sync", body, headers)
            results = json.loads(answer)["results"] if status == 200 else []
            if status == 200 and all(r["status"] == 201 for r in results):
                latencies.append(time.perf_counter() - started)
                items += size
            else:
                errors.append(str(status))

    async def worker() -> None:
        nonlocal remaining
        conn = Connection(host, port)
        while remaining > 0:
            remaining -= 1
            i = remaining
            try:
                await one(conn, i)
            except (OSError, asyncio.IncompleteReadError) as exc:
                errors.append(type(exc).__name__)
                conn = Connection(host, port)

    if mode == "sync":
        # Joining is setup, not the figure: every worker joins before the clock starts.
        joined = await asyncio.gather(*(sync_setup(w) for w in range(connections)))
        started = time.perf_counter()
        await asyncio.gather(*(sync_worker(*j) for j in joined))
        seconds = time.perf_counter() - started
        return {"mode": mode, "items": items, "batches": len(latencies),
                "errors": len(errors), "error_kinds": sorted(set(errors))[:5],
                "seconds": round(seconds, 3), "items_per_s": round(items / seconds, 1),
                "p50_ms": round(percentile(latencies, 0.50), 1),
                "p99_ms": round(percentile(latencies, 0.99), 1)}
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    seconds = time.perf_counter() - started
    return {"mode": mode, "done": len(latencies), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5], "seconds": round(seconds, 3),
            "per_s": round(len(latencies) / seconds, 1),
            "p50_ms": round(percentile(latencies, 0.50), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["constant", "insert", "enrol", "get", "sync"])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--token", default="")
    parser.add_argument("--path", default="/")
    parser.add_argument("--cookie", default="")
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.mode, args.url, args.connections, args.total,
                                     args.token, args.path, args.cookie, args.batch))))


if __name__ == "__main__":
    main()
