"""Heavy work runs in the heavy-work threads, a few at a time: photos (see test_photos),
posters and spreadsheets, from the routes that serve them."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from server.routes import officer_posters
from server.services import digest, offload
from tests.conftest import XBL_CHAIR
from tests.factories import officer_client


async def test_run_heavy_runs_in_threads_at_most_limit_at_once() -> None:
    running, peak, threads = 0, 0, set()
    lock = threading.Lock()

    def job(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
            threads.add(threading.current_thread().name)
        time.sleep(0.02)
        with lock:
            running -= 1
        return n * n

    offload.configure(3)
    try:
        results = await asyncio.gather(*(offload.run_heavy(job, n) for n in range(12)))
    finally:
        offload.configure(offload.DEFAULT_LIMIT)
    assert results == [n * n for n in range(12)]
    assert peak == 3
    assert threads and all(name.startswith("heavy") for name in threads), threads


async def test_run_heavy_keeps_the_language() -> None:
    from server.i18n import current_language, gettext

    token = current_language.set("en")
    try:
        translated = await offload.run_heavy(gettext, "照片")
    finally:
        current_language.reset(token)
    assert translated == "Photo"


async def test_posters_and_digest_workbook_are_built_in_heavy_threads(
        app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, str] = {}

    def spy(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[name] = threading.current_thread().name
            return real(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(officer_posters, "poster_bytes",
                        spy("poster", officer_posters.poster_bytes))
    monkeypatch.setattr(digest, "_workbook", spy("digest", digest._workbook))
    async with officer_client(app, XBL_CHAIR) as c:
        for fmt in ("pdf", "png"):
            poster = await c.get(f"/officer/posters/poster.{fmt}")
            assert poster.status_code == 200
            assert seen.pop("poster").startswith("heavy"), fmt
        workbook = await c.get("/officer/digest.xlsx")
        assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert seen["digest"].startswith("heavy")
