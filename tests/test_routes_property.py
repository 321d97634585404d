"""Property-based: every route of the app, any method it has, as anyone, with odd input in the
path, the query, the headers and the body, answers below 500 and with the security headers.

Odd input: unknown Accept-Language tags, integers past 64 bits in paths, NUL bytes, dates like
9999-12-31, deeply nested JSON, photos whose header declares a pixel bomb.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from server.models import Member, Officer, RequestPhoto
from server.routes import routes
from server.services import rebind
from server.web.middleware import MICROPHONE, SECURITY_HEADERS
from tests.conftest import XBL_CADRE, XBL_CHAIR, csrf_of, login, new_client
from tests.factories import jpeg_bytes, make_member, make_request

PARAM_RE = re.compile(r"{([^}:]+)(?::([^}]+))?}")
ODD_LANGUAGES = ["xx", "i-default", "x-klingon", "*", "zh-Hant-TW;q=0.1, xx;q=1", "", ",,,;;",
                 "en-US,en;q=0.9", "a" * 300, "zh_Hans", "q=0", "\u00e9t\u00e9"]
HUGE_INTS = ["99999999999999999999999", "18446744073709551616", "9223372036854775808",
             "2147483648", "4294967296", "999999999", "0", "-1", "1e9"]
ODD_TEXT = st.one_of(
    st.sampled_from([
        "\x00", "a\x00b", "9999-12-31", "0001-01-01", "2026-02-30", "<script>alert(1)</script>",
        "../../etc/passwd", "%00", "%", "\u202e", "👷" * 50, " ", "", "x" * 3000,
        "line one\r\nline two\ttabbed", "\x1b[31m", "approve", "reject", "reply", "confirm",
        "pdf", "png", "svg", "app.css", "1", "null", "[]", "{}", *HUGE_INTS,
    ]),
    st.text(max_size=40),
)
QUERY_NAMES = ["start", "end", "page", "team", "category", "status", "q", "next", "to", "t",
               "saved", "level", "sort", "overdue", "mine", "unassigned"]
FORM_NAMES = ["note", "description", "category", "urgency", "anonymous", "name", "phone",
              "client_id", "rating", "rating_comment", "duplicate_of", "assignee", "member_ids",
              "cadre_id", "reason", "code", "password", "next", "days", "trade", "team",
              "consent", "id_number", "employer", "hometown"]


def declared_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                              0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def declared_jpeg(width: int, height: int) -> bytes:
    data = bytearray(jpeg_bytes(16, 16))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def nested_json(depth: int) -> bytes:
    return b'{"items": ' + b"[" * depth + b"]" * depth + b"}"


PHOTOS = [declared_png(20000, 20000), declared_png(65535, 1), declared_jpeg(65000, 65000),
          b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF89a" + b"\0" * 20, io.BytesIO().getvalue()]
JSON_BODIES = [nested_json(100_000), nested_json(900), b'{"items": [' + b"1" * 5000 + b"]}",
               b'{"items": [{"id": "a", "fields": [["description", "a\\u0000b"]]}]}',
               b'{"items": [{"id": 99999999999999999999999, "fields": []}]}', b"[" * 50_000,
               b'{"items": [{"id": "a", "fields": [["description", "\\u7b2c\\u4e00\\u884c'
               b'\\r\\n\\u7b2c\\u4e8c\\u884c"], ["category", "wages"]]}]}', b"\xff\xfe"]


@dataclass
class Identities:
    """Long-lived clients, one per kind of visitor, signed in again if a route signed them
    out (the property may well post to /officer/logout)."""

    app: Any
    worker: Member
    request_id: int
    photo_id: int
    clients: dict[str, httpx.AsyncClient]

    async def client(self, who: str) -> httpx.AsyncClient:
        c = self.clients.get(who)
        if c is not None and who != "anonymous":
            probe = "/me/badges" if who == "worker" else "/officer/badges"
            if (await c.get(probe)).status_code != 200:
                c = None
        if c is None:
            c = new_client(self.app)
            if who == "worker":
                cadre = await Officer.get(phone=XBL_CADRE)
                code = await rebind.issue(self.worker, cadre, self.app.state.keyring)
                page = await c.get("/me/rebind")
                await c.post("/me/rebind", data={"csrf_token": csrf_of(page.text),
                                                 "phone": self.worker.phone, "code": code})
            elif who == "officer":
                await login(c, XBL_CHAIR)
            self.clients[who] = c
        return c


_identities: dict[int, Identities] = {}


async def identities(app: Any) -> Identities:
    found = _identities.get(id(app))
    if found is None:
        worker = await make_member(app)
        item = await make_request(worker, photos=1)
        photo = await RequestPhoto.filter(request_id=item.id).first()
        assert photo is not None
        found = _identities[id(app)] = Identities(app, worker, item.id, photo.id, {})
    return found


ROUTES = [r for r in routes if isinstance(r, Route)]
ROUTE_METHODS = sorted({(r.path, m) for r in ROUTES for m in (r.methods or {"GET"})
                        if m in {"GET", "POST"}})


@st.composite
def path_values(draw: st.DrawFn, path: str, ids: tuple[int, int, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2) or "str"
        if kind == "int":
            own = {"request_id": ids[0], "photo_id": ids[1], "member_id": ids[2]}.get(name, 1)
            return draw(st.sampled_from([str(own), *HUGE_INTS[:6], "007", "2147483647"]))
        text = draw(ODD_TEXT)
        return quote(text, safe="/" if kind == "path" else "")
    return PARAM_RE.sub(value, path)


ODD = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def assert_answered(response: httpx.Response, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:300]}"
    for name, value in SECURITY_HEADERS.items():
        # The pages that record a voice message allow the microphone, and only that.
        allowed = {value, MICROPHONE.get(name, value)}
        assert response.headers.get(name) in allowed, f"{what}: no {name}"
    assert "Traceback" not in response.text


@ODD
@given(route=st.sampled_from(ROUTE_METHODS), who=st.sampled_from(["anonymous", "worker",
                                                                  "officer"]),
       data=st.data(),
       query=st.dictionaries(st.sampled_from(QUERY_NAMES), ODD_TEXT, max_size=4),
       language=st.sampled_from(ODD_LANGUAGES),
       accept=st.sampled_from(["text/html", "application/json", "*/*", "image/png"]),
       htmx=st.booleans(), with_token=st.booleans(),
       body=st.sampled_from(["form", "json", "photo", "empty", "garbage"]))
async def test_every_route_answers_odd_input_below_500(
        app: Any, route: tuple[str, str], who: str, data: st.DataObject,
        query: dict[str, str], language: str, accept: str, htmx: bool, with_token: bool,
        body: str) -> None:
    ids = await identities(app)
    c = await ids.client(who)
    template, method = route
    path = data.draw(path_values(template, (ids.request_id, ids.photo_id, ids.worker.id)),
                     label="path")
    # Bytes: a header may carry UTF-8 that httpx would refuse to encode as a str.
    headers: dict[str, str | bytes] = {"Accept-Language": language.encode(), "Accept": accept}
    if htmx:
        headers["HX-Request"] = "true"
    token = ""
    if with_token:
        page = await c.get("/officer" if who == "officer" else "/me/rebind")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        token = match.group(1) if match else ""
        headers["X-CSRF-Token"] = token
    query_string = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
    url = path + ("?" + query_string if query_string else "")
    kwargs: dict[str, Any] = {}
    if method == "POST":
        if body == "form":
            fields = data.draw(st.dictionaries(st.sampled_from(FORM_NAMES), ODD_TEXT,
                                               max_size=6), label="fields")
            kwargs["data"] = {**fields, "csrf_token": token}
        elif body == "json":
            kwargs["content"] = data.draw(st.sampled_from(JSON_BODIES), label="json")
            headers["Content-Type"] = "application/json"
        elif body == "photo":
            photo = data.draw(st.sampled_from(PHOTOS), label="photo")
            kwargs["data"] = {"csrf_token": token,
                              "client_id": str(uuid.uuid4()), "category": "safety",
                              "description": "第一行\r\n第二行"}
            kwargs["files"] = [("photo", ("bomb.png", photo, "image/png"))]
        elif body == "garbage":
            kwargs["content"] = b"\xff\x00--\r\n" * 100
            headers["Content-Type"] = "multipart/form-data; boundary=--"
    response = await c.request(method, url, headers=headers, **kwargs)
    assert_answered(response, f"{who} {method} {url[:200]}")


@pytest.mark.parametrize("language", ["xx", "i-default", "x-klingon", "a" * 300, "*;q=0"])
async def test_unknown_languages_get_the_default(app: Any, language: str) -> None:
    async with new_client(app) as c:
        response = await c.get("/", headers={"Accept-Language": language})
    assert_answered(response, language)
    assert 'lang="zh-Hans"' in response.text


async def test_each_class_of_odd_input_is_a_4xx(app: Any) -> None:
    """The classes the issue names, one plain example each, as a signed-in worker and an
    officer (where the deep code paths are)."""
    ids = await identities(app)
    worker = await ids.client("worker")
    officer = await ids.client("officer")
    huge = "99999999999999999999999"
    for c, path in [(worker, f"/requests/{huge}"), (officer, f"/officer/requests/{huge}"),
                    (officer, f"/officer/members/{huge}"),
                    (worker, f"/requests/{ids.request_id}/photos/{huge}")]:
        response = await c.get(path)
        assert_answered(response, path)
        assert response.status_code == 404
    for c, path in [(worker, "/join/%00"), (worker, "/requests?page=%00"),
                    (officer, "/officer/requests?q=a%00b")]:
        response = await c.get(path)
        assert_answered(response, path)
        assert response.status_code == 400
    for query in ("start=9999-12-31&end=9999-12-31", "start=0001-01-01", "end=9999-12-31"):
        for path in ("/officer/digest", "/officer/figures", "/officer/digest.xlsx"):
            response = await officer.get(f"{path}?{query}")
            assert_answered(response, f"{path}?{query}")
            assert response.status_code == 200
    token = csrf_of((await worker.get("/requests/new")).text)
    for depth in (1000, 100_000):
        response = await worker.post("/requests/sync", content=nested_json(depth), headers={
            "X-CSRF-Token": token, "Content-Type": "application/json"})
        assert_answered(response, f"nested JSON {depth}")
        assert response.status_code == 400


async def test_a_real_500_carries_the_security_headers(app: Any) -> None:
    """An unexpected error is answered by Starlette's outermost handler, outside every
    middleware: the headers must be there all the same."""
    async def boom(request: Any) -> Any:
        raise RuntimeError("deliberate, for the test")

    app.router.routes.append(Route("/__boom", boom))
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            page = await c.get("/__boom")
            api = await c.get("/__boom", headers={"Accept": "application/json"})
    finally:
        app.router.routes.pop()
    for response in (page, api):
        assert response.status_code == 500
        for name, value in SECURITY_HEADERS.items():
            assert response.headers.get(name) == value, name
        assert "RuntimeError" not in response.text and "deliberate" not in response.text
    assert "系统出错了" in page.text
