"""A notice's optional photo: checked and re-encoded like a request's, shown to the notice's
recipients only, published exactly once with it, refused with a clear message that keeps the
notice's text."""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
from PIL import Image

from server.models import Notice, NoticePhoto, NoticeRead
from tests.conftest import CXG_CHAIR, XBL_CHAIR, csrf_of, login, new_client
from tests.factories import jpeg_bytes, make_member, member_client

FORM = {"kind": "safety", "scope": "project", "title": "台风避险路线",
        "body": "台风来时，按图上的路线到二号楼地下室集合。"}


def gps_jpeg() -> bytes:
    """A photo carrying a GPS position in its EXIF block (where the picture was taken)."""
    image = Image.new("RGB", (1200, 900), "green")
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (34.0, 15.0, 0.0), 3: "E", 4: (108.0, 56.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def post_notice(c: httpx.AsyncClient, files: list[tuple[str, Any]], client_id: str = "",
                      **fields: str) -> httpx.Response:
    page = await c.get("/officer/notices/new")
    assert 'enctype="multipart/form-data"' in page.text and 'name="photo"' in page.text
    data = {"csrf_token": csrf_of(page.text), "client_id": client_id or str(uuid.uuid4()),
            **FORM, **fields}
    return await c.post("/officer/notices/new", data=data, files=files)


async def test_recipients_see_the_photo_and_nobody_else(app: Any) -> None:
    reader = await make_member(app, name="看图的工友")
    outsider = await make_member(app, "chuangxingang", name="别的项目")
    sent = gps_jpeg()
    client_id = str(uuid.uuid4())
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        first = await post_notice(c, [("photo", ("route.jpg", sent, "image/jpeg"))], client_id)
        # The outbox sends it again (the answer was lost): one notice, one photo.
        again = await post_notice(c, [("photo", ("route.jpg", sent, "image/jpeg"))], client_id)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        notice_id = int(first.headers["location"].rsplit("/", 1)[1])
        officer_page = await c.get(f"/officer/notices/{notice_id}")
        assert f'src="/officer/notices/{notice_id}/photo"' in officer_page.text
        assert (await c.get(f"/officer/notices/{notice_id}/photo")).status_code == 200
    assert await NoticePhoto.filter(notice_id=notice_id).count() == 1
    stored = await NoticePhoto.get(notice_id=notice_id)
    assert stored.content_type == "image/jpeg" and max(stored.width, stored.height) <= 1600
    with Image.open(io.BytesIO(stored.data)) as served_image:
        assert 0x8825 not in served_image.getexif()  # the GPS position did not survive

    async with member_client(app, reader) as c:
        # Fetching the photo is not opening the notice.
        photo = await c.get(f"/notices/{notice_id}/photo")
        assert photo.status_code == 200 and photo.content == stored.data
        assert photo.headers["content-type"] == "image/jpeg"
        assert photo.headers["cache-control"].startswith("private")
        assert not await NoticeRead.exists(notice_id=notice_id, member_id=reader.id)
        page = await c.get(f"/notices/{notice_id}")
        assert f'<img src="/notices/{notice_id}/photo"' in page.text
    async with member_client(app, outsider) as c:
        assert (await c.get(f"/notices/{notice_id}/photo")).status_code == 404
        assert (await c.get(f"/notices/{notice_id}")).status_code == 404
    # Another project's chair cannot fetch it through the officers' address either; a
    # stranger gets no picture.
    async with new_client(app) as c:
        await login(c, CXG_CHAIR)
        assert (await c.get(f"/officer/notices/{notice_id}/photo")).status_code == 404
    async with new_client(app) as c:
        stranger = await c.get(f"/notices/{notice_id}/photo")
        assert stranger.status_code == 403 and not stranger.content.startswith(b"\xff\xd8")
    # A notice without a photo has none to show.
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        plain = await post_notice(c, [], title="没有图的通知")
    plain_id = int(plain.headers["location"].rsplit("/", 1)[1])
    async with member_client(app, reader) as c:
        shown = await c.get(f"/notices/{plain_id}")
        assert shown.status_code == 200 and "notice-photo" not in shown.text
        assert (await c.get(f"/notices/{plain_id}/photo")).status_code == 404


async def test_a_bad_photo_is_refused_and_the_text_kept(app: Any) -> None:
    before = await Notice.all().count()
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        bad = await post_notice(c, [("photo", ("route.jpg", b"this is not a picture",
                                               "image/jpeg"))])
        assert bad.status_code == 422
        text = bad.text
        assert "route.jpg 不是完整的照片" in text and "请重新选择照片" in text
        assert 'value="台风避险路线"' in text and "按图上的路线到二号楼地下室集合" in text
        two = await post_notice(c, [("photo", ("a.jpg", jpeg_bytes(), "image/jpeg")),
                                    ("photo", ("b.jpg", jpeg_bytes(), "image/jpeg"))])
        assert two.status_code == 422 and "最多 1 张照片，这次选了 2 张" in two.text
        # The outbox sends in the background asking for JSON: the message comes back there.
        page = await c.get("/officer/notices/new")
        queued = await c.post("/officer/notices/new", headers={"Accept": "application/json"},
                              data={"csrf_token": csrf_of(page.text), **FORM,
                                    "client_id": str(uuid.uuid4())},
                              files=[("photo", ("x.gif", b"GIF89a" + b"\0" * 20, "image/gif"))])
        assert queued.status_code == 422
        assert re.search("不是完整的照片|不是照片", queued.json()["message"])
    assert await Notice.all().count() == before
    # The same form with a good photo goes through.
    async with new_client(app) as c:
        await login(c, XBL_CHAIR)
        good = await post_notice(c, [("photo", ("route.jpg", jpeg_bytes(), "image/jpeg"))])
    assert good.status_code == 303
