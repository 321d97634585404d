"""The member card: a QR with a signed token that an officer's phone can verify.

A card carries its expiry (the member_card_days setting): a screenshot or a phone that
left the union does not stay valid for ever. The card page is fetched afresh whenever the
phone has signal (network-first in the service worker, warmed by every member page, and
reloaded by static/js/card.js when signal comes back), so a member in good standing always
holds a current card.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import segno

from server.crypto import Keyring
from server.models import Member, MemberStatus


def card_expiry(days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) + timedelta(days=days)


def card_token(keyring: Keyring, member: Member, expires_at: datetime) -> str:
    return keyring.sign_card({"m": member.id, "e": member.session_epoch,
                              "x": int(expires_at.timestamp())})


def card_check_url(base_url: str, token: str) -> str:
    return f"{base_url}/officer/card?t={token}"


def qr_svg(data: str, scale: int = 4) -> str:
    """Inline SVG (no XML declaration) so it can sit in the page without an extra request."""
    return segno.make(data, error="m").svg_inline(scale=scale, dark="#111", light="#fff")


@dataclass
class CardCheck:
    valid: bool
    member: Member | None
    reason: str  # "ok", "bad_signature", "unknown", "replaced", "inactive", "expired"
    expires_at: datetime | None = None


async def check_card(keyring: Keyring, token: str, now: datetime | None = None) -> CardCheck:
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
    # Cards signed before cards expired carry no expiry: they count as expired.
    expiry = data.get("x")
    expires_at = datetime.fromtimestamp(expiry, UTC) if isinstance(expiry, int) else None
    if expires_at is None or expires_at <= (now or datetime.now(UTC)):
        return CardCheck(False, member, "expired", expires_at)
    return CardCheck(True, member, "ok", expires_at)
