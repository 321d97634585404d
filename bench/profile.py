"""Where the CPU goes on the hot paths, in one process on a scratch SQLite database.

    .venv/bin/python bench/profile.py enrol|sync|queue [--n 200] [--html out.html]

enrol: N workers join (GET the form, POST it); sync: N batches of 50 queued requests to
/requests/sync; queue: N loads of a cadre's queue with 600 requests in it. Prints
pyinstrument's call tree (time includes the in-process test client, which is small).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from asgi_lifespan import LifespanManager
from pyinstrument import Profiler

from bench.enrol_burst import UNLIMITED
from server.app import create_app
from server.db import apply_migrations
from server.models import Member
from server.services.demo import load_demo
from tests.conftest import csrf_of, enrolment_form, join_path, login, new_client, settings_for


async def enrol_once(app: Any, path: str) -> None:
    async with new_client(app) as c:
        page = await c.get(path)
        form = enrolment_form(csrf_token=csrf_of(page.text))
        assert (await c.post(path, data=form)).status_code == 303


def batch(n: int) -> dict[str, object]:
    return {"items": [{"id": cid, "fields": [
        ["client_id", cid], ["category", "living"], ["description", f"热水器坏了 {i}"],
        ["urgency", "normal"], ["anonymous", "management"]]}
        for i, cid in ((i, str(uuid.uuid4())) for i in range(n))]}


async def profile(what: str, n: int) -> Profiler:
    workdir = Path(tempfile.mkdtemp(prefix="lianxin-profile-"))
    url = f"sqlite://{workdir / 'p.sqlite3'}"
    await apply_migrations(url)
    app = create_app(settings_for(url, workdir, **UNLIMITED))
    async with LifespanManager(app):
        await load_demo()
        path = await join_path("xibailiang")
        profiler = Profiler(interval=0.0005, async_mode="enabled")
        if what == "enrol":
            await enrol_once(app, path)  # warm caches and templates
            profiler.start()
            for _ in range(n):
                await enrol_once(app, path)
        else:
            async with new_client(app) as worker:
                page = await worker.get(path)
                form = enrolment_form(csrf_token=csrf_of(page.text))
                assert (await worker.post(path, data=form)).status_code == 303
                token = csrf_of((await worker.get("/requests/new")).text)
                headers = {"X-CSRF-Token": token}
                if what == "queue":
                    for _ in range(12):
                        await worker.post("/requests/sync", json=batch(50), headers=headers)
                    member = await Member.filter(status="active").order_by("-id").first()
                    assert member is not None
                    liaison = await member.liaison  # type: ignore[misc]
                    async with new_client(app) as cadre:
                        await login(cadre, liaison.phone)
                        await cadre.get("/officer/requests")
                        profiler.start()
                        for _ in range(n):
                            r = await cadre.get("/officer/requests")
                            assert r.status_code == 200
                else:
                    profiler.start()
                    for _ in range(n):
                        r = await worker.post("/requests/sync", json=batch(50), headers=headers)
                        assert all(x["status"] == 201 for x in json.loads(r.text)["results"])
        profiler.stop()
    return profiler


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["enrol", "sync", "queue"])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--html", default="")
    args = parser.parse_args()
    profiler = asyncio.run(profile(args.what, args.n))
    if args.html:
        Path(args.html).write_text(profiler.output_html())
    print(profiler.output_text(unicode=True, color=False, show_all=False))
