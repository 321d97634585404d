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
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.enrol_burst import ceiling, count_rows, demo_server, load, pg_database


def count_requests(db_url: str) -> int:
    return count_rows(db_url, "service_request")


def lianxin(db_url: str, workdir: Path, runs: list[tuple[int, int]], connections: int,
            workers: int) -> list[dict[str, object]]:
    """Serve a fresh demo database and send `items` in batches of `batch` for each run."""
    results = []
    with demo_server(db_url, workdir, workers) as (base, token):
        for items, batch in runs:
            before = count_requests(db_url)
            result = load("sync", base, items, connections, token, batch=batch)
            result["batch"] = batch
            result["stored"] = count_requests(db_url) - before
            results.append(result)
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
