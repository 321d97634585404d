"""The member card: a QR with a signed token that an officer's phone can verify."""

from __future__ import annotations

from dataclasses import dataclass

import segno

from server.crypto import Keyring
from server.models import Member, MemberStatus


def card_token(keyring: Keyring, member: Member) -> str:
    return keyring.sign_card({"m": member.id, "e": member.session_epoch})


def card_check_url(base_url: str, token: str) -> str:
    return f"{base_url}/officer/card?t={token}"


def qr_svg(data: str, scale: int = 4) -> str:
    """Inline SVG (no XML declaration) so it can sit in the page without an extra request."""
    return segno.make(data, error="m").svg_inline(scale=scale, dark="#111", light="#fff")


@dataclass
class CardCheck:
    valid: bool
    member: Member | None
    reason: str  # "ok", "bad_signature", "unknown", "replaced", "inactive"


async def check_card(keyring: Keyring, token: str) -> CardCheck:
    data = keyring.read_card(token) if token else None
    if data is None or not isinstance(data.get("m"), int):
        return CardCheck(False, None, "bad_signature")
    member = await Member.get_or_none(id=data["m"]).select_related("project", "team")
    if member is None:
        return CardCheck(False, None, "unknown")
    if member.session_epoch != data.get("e"):
        return CardCheck(False, member, "replaced")
    if member.status != MemberStatus.ACTIVE:
        return CardCheck(False, member, "inactive")
    return CardCheck(True, member, "ok")
