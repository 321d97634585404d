"""Server side of an outbox flush: queued new requests posted in batches to /requests/sync,
as items/s next to the bare stack's INSERT ceiling measured in the same run.

    .venv/bin/python bench/sync_batch.py [--items 5000] [--connections 10] [--batch 100]
                                         [--postgres]

Each load connection first joins the union as its own worker through the real /join flow
(not timed), then sends its share of the items in batches; every item must come back 201.
A run with batches of one item shows what batching buys. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.enrol_burst import (
    LIANXIN,
    ceiling,
    count_rows,
    free_port,
    load,
    pg_database,
    wait_up,
)


def count_requests(db_url: str) -> int:
    return count_rows(db_url, "service_request")


def lianxin(db_url: str, workdir: Path, runs: list[tuple[int, int]], connections: int,
            workers: int) -> list[dict[str, object]]:
    """Serve a fresh demo database and send `items` in batches of `batch` for each run."""
    port = free_port()
    env = {**os.environ, "LIANXIN_DB_URL": db_url, "LIANXIN_BASE_URL": f"http://127.0.0.1:{port}",
           "LIANXIN_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnop",
           "LIANXIN_DEADLINE_JOB_SECONDS": "0"}
    subprocess.run([LIANXIN, "demo"], env=env, cwd=workdir, check=True, capture_output=True)
    url = subprocess.run([LIANXIN, "invite", "xibailiang"], env=env, cwd=workdir, check=True,
                         capture_output=True, text=True).stdout.strip()
    server = subprocess.Popen([LIANXIN, "serve", "--port", str(port), "--workers", str(workers),
                               "--log-level", "warning"], env=env, cwd=workdir)
    results = []
    try:
        wait_up(f"http://127.0.0.1:{port}/healthz")
        for items, batch in runs:
            before = count_requests(db_url)
            result = load("sync", f"http://127.0.0.1:{port}", items, connections,
                          url.rsplit("/", 1)[1], batch=batch)
            result["batch"] = batch
            result["stored"] = count_requests(db_url) - before
            results.append(result)
    finally:
        server.terminate()
        server.wait()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--postgres", action="store_true", help="also PostgreSQL, 1 and 2 workers")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-sync-"))
    # The ceiling before and after, at the same concurrency: a neighbour's load shows as a gap.
    _, before = ceiling(workdir, args.items // 3 or 1, args.connections)
    plan = [(args.items, args.batch), (max(args.connections, args.items // 10), 1)]
    runs = [("SQLite, 1 process", lianxin(f"sqlite://{workdir / 'app.sqlite3'}", workdir, plan,
                                          args.connections, 1))]
    if args.postgres:
        for workers in (1, 2):
            db_url, drop = asyncio.run(pg_database(f"sync{workers}"))
            try:
                runs.append((f"PostgreSQL, {workers} process{'es' if workers > 1 else ''}",
                             lianxin(db_url, workdir, plan, args.connections, workers)))
            finally:
                asyncio.run(drop())  # type: ignore[arg-type]
    _, after = ceiling(workdir, args.items // 3 or 1, args.connections)
    rates = [float(before["per_s"]), float(after["per_s"])]  # type: ignore[arg-type]
    ceiling_rate = max(rates)  # the stricter comparison
    print(f"INSERT ceiling before/after: {rates[0]:.0f}/s, {rates[1]:.0f}/s; ratios use the "
          "higher\n")
    insert = before if rates[0] >= rates[1] else after
    print("| run | batch | items | errors | stored | items/s | × INSERT ceiling "
          "| p50 ms/batch | p99 ms/batch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| ceiling: form POST + aiosqlite INSERT | 1 | {insert['done']} | {insert['errors']} "
          f"| — | {insert['per_s']} | 1.00 | {insert['p50_ms']} | {insert['p99_ms']} |")
    for name, results in runs:
        for r in results:
            ratio = float(r["items_per_s"]) / ceiling_rate  # type: ignore[arg-type]
            print(f"| /requests/sync, {name} | {r['batch']} | {r['items']} | {r['errors']} | "
                  f"{r['stored']} | {r['items_per_s']} | {ratio:.2f} | {r['p50_ms']} | "
                  f"{r['p99_ms']} |")


if __name__ == "__main__":
    main()
