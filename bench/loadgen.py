"""A small load generator on raw asyncio sockets (HTTP/1.1 keep-alive), run as its own
process so that it does not share a CPU core's event loop with the server it measures.

    python bench/loadgen.py MODE URL --connections 50 --total 1000 [--token T]

MODE: constant (GET /), insert (POST /insert), enrol (GET /join/T, then POST it with the
session cookie and CSRF token, as a phone does), get (GET --path with --cookie).
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


async def run(mode: str, url: str, connections: int, total: int, token: str,
              path: str = "/", cookie: str = "") -> dict[str, object]:
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
            status, head, page = await conn.request("GET", f"/join/{token}")
            session = COOKIE.search(head)
            csrf = CSRF.search(page)
            if status != 200 or not session or not csrf:
                errors.append(f"GET {status}")
                return
            body = urlencode({
                "csrf_token": csrf.group(1).decode(), "client_id": str(uuid.uuid4()),
                "name": "压测工友", "phone": f"13{5 + i % 5}{i:08d}", "trade": "木工",
                "team": "", "employer": "", "hometown": "", "id_number": "", "consent": "on",
            }).encode()
            status, _, _ = await conn.request("POST", f"/join/{token}", body, {
                "content-type": "application/x-www-form-urlencoded",
                "cookie": session.group(1).decode()})
            ok = status == 303
        if ok:
            latencies.append(time.perf_counter() - started)
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
    parser.add_argument("mode", choices=["constant", "insert", "enrol", "get"])
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--total", type=int, default=1000)
    parser.add_argument("--token", default="")
    parser.add_argument("--path", default="/")
    parser.add_argument("--cookie", default="")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.mode, args.url, args.connections, args.total,
                                     args.token, args.path, args.cookie))))


if __name__ == "__main__":
    main()
