"""The bare stack's ceiling, to put every Lianxin figure next to: a plain Starlette app with
one handler that returns a constant and one that parses a form POST and does a single
aiosqlite INSERT + commit. Run with: uvicorn bench.ceiling:app (the bench scripts do)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

import aiosqlite
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

DB = os.environ.get("CEILING_DB", "ceiling.sqlite3")
state: dict[str, aiosqlite.Connection] = {}


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    conn = await aiosqlite.connect(DB)
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, "
                       "client_id TEXT UNIQUE, name TEXT, phone TEXT)")
    await conn.commit()
    state["db"] = conn
    yield
    await conn.close()


async def constant(request: Request) -> Response:
    return PlainTextResponse("ok")


async def insert(request: Request) -> Response:
    form = await request.form()
    db = state["db"]
    await db.execute("INSERT INTO item (client_id, name, phone) VALUES (?, ?, ?)",
                     (form.get("client_id"), form.get("name"), form.get("phone")))
    await db.commit()
    return Response(status_code=303, headers={"Location": "/"})


app = Starlette(routes=[Route("/", constant), Route("/insert", insert, methods=["POST"])],
                lifespan=lifespan)
