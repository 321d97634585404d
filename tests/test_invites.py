"""Poster invites: a revoked code stops working, a new one takes its place."""

from __future__ import annotations

from typing import Any

from server.models import Invite
from server.services.invites import get_or_create_invite, replace_invite
from tests.conftest import new_client


async def test_a_replaced_invite_stops_working(app: Any) -> None:
    old = await get_or_create_invite("chuangxingang")
    async with new_client(app) as c:
        assert (await c.get(f"/join/{old.token}")).status_code == 200
        new = await replace_invite("chuangxingang")
        assert new.token != old.token
        assert (await c.get(f"/join/{old.token}")).status_code == 404
        assert (await c.get(f"/join/{new.token}")).status_code == 200
    assert (await Invite.get(id=old.id)).revoked
    assert (await get_or_create_invite("chuangxingang")).id == new.id
