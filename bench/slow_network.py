"""Time until the join form is usable on a cheap phone on a bad link: Chromium with network
throttling (400 kbit/s both ways, 400 ms round trip) and 4x CPU slowdown.

    .venv/bin/python bench/slow_network.py [--runs 3]

"Usable" means the form is on screen and the page script has given it its client_id (so a
submit would be queued offline). Measured from navigation start, first visit (empty cache)
and repeat visit (service worker installed), median of the runs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.async_api import Page, async_playwright

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer

KBIT = 1000 / 8
USABLE = ("() => (document.querySelector('input[name=client_id]') || {value: ''})"
          ".value.length === 36")


async def throttle(page: Page) -> None:
    cdp = await page.context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 400, "downloadThroughput": 400 * KBIT,
        "uploadThroughput": 400 * KBIT})
    await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})


async def time_to_usable(page: Page, url: str) -> float:
    await page.goto(url, wait_until="commit")
    await page.wait_for_function(USABLE, timeout=60_000)
    return float(await page.evaluate("performance.now()")) / 1000


async def run(runs: int) -> tuple[list[float], list[float]]:
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-slow-"))
    server = LiveServer(f"sqlite://{workdir / 'slow.sqlite3'}", workdir)
    server.cli("demo")
    server.start()
    first: list[float] = []
    repeat: list[float] = []
    try:
        url = server.cli("invite", "xibailiang").strip()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for _ in range(runs):
                context = await browser.new_context(**PHONE)
                page = await context.new_page()
                await throttle(page)
                first.append(await time_to_usable(page, url))
                await page.evaluate("navigator.serviceWorker.ready.then(() => 1)")
                await page.wait_for_timeout(3000)  # let the precache finish on the slow link
                page2 = await context.new_page()
                await throttle(page2)
                repeat.append(await time_to_usable(page2, url))
                await context.close()
            await browser.close()
    finally:
        server.stop()
    return first, repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    first, repeat = asyncio.run(run(args.runs))
    print(f"first visit:  median {statistics.median(first):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in first)}; goal ≤ 3 s)")
    print(f"repeat visit: median {statistics.median(repeat):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in repeat)}; goal ≤ 1 s)")


if __name__ == "__main__":
    main()
