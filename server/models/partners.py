"""Partners (外部协办): organisations outside the union that take referred requests (legal aid,
the 12351 hotline, 三师一室 mediation, a counsellor), and the referrals made to them.

A partner is an `Officer` of role `partner` attached to a union node, with a `PartnerProfile`
naming its organisation. A `Referral` hands one request to one partner; the partner reads
that request and nothing else, and the worker's identity only with `consent` given.
(`ServiceRequest.referred` is the older, unrelated referral to project management.)
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.officers import Officer
    from server.models.requests import ServiceRequest


class PartnerKind(StrEnum):
    LEGAL_AID = "legal_aid"  # 法律援助中心
    HOTLINE = "hotline"  # 12351 职工服务热线
    MEDIATION = "mediation"  # 三师一室 调解
    COUNSELLING = "counselling"  # 心理咨询
    OTHER = "other"


class Consent(StrEnum):
    """Whether the worker agreed that the partner learns who they are, and how."""

    ASKED = "asked"  # waiting for the worker's answer in the app; anonymised meanwhile
    APP = "app"  # the worker agreed in the app
    VERBAL = "verbal"  # the worker agreed aloud; the referring officer recorded it (audited)
    REFUSED = "refused"  # the worker said no in the app
    NONE = "none"  # not asked: shared anonymised


# Only these let the partner see the worker's name, phone, ID and member number.
IDENTITY_CONSENTS = frozenset({Consent.APP, Consent.VERBAL})


class ReferralOutcome(StrEnum):
    MEDIATED = "mediated"  # 调解成功
    ARBITRATION = "arbitration"  # 仲裁
    COURT = "court"  # 诉讼
    WITHDRAWN = "withdrawn"  # 撤回


class PartnerProfile(Model):
    # The organisation behind a partner account. (A comment, not a docstring: Tortoise
    # copies docstrings into SQL comments.)
    id = fields.IntField(primary_key=True)
    officer: fields.OneToOneRelation[Officer] = fields.OneToOneField(
        "models.Officer", related_name="partner_profile", on_delete=fields.CASCADE
    )
    organisation = fields.CharField(max_length=60)
    kind = fields.CharEnumField(PartnerKind, max_length=12)

    class Meta:
        table = "partner_profile"


class Referral(Model):
    id = fields.IntField(primary_key=True)
    client_id = fields.UUIDField(unique=True)
    request: fields.ForeignKeyRelation[ServiceRequest] = fields.ForeignKeyField(
        "models.ServiceRequest", related_name="referrals", on_delete=fields.CASCADE
    )
    partner: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="referrals_received", on_delete=fields.RESTRICT
    )
    created_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="referrals_made", null=True, on_delete=fields.SET_NULL
    )
    consent = fields.CharEnumField(Consent, max_length=8)
    consent_at = fields.DatetimeField(null=True)
    # Set while the referral is open to the partner: with the UNIQUE below, at most one open
    # referral per (request, partner) however many officers press the button at once
    # (NULLs never collide, so closed ones pile up freely).
    open_key = fields.BooleanField(null=True, default=True)
    outcome = fields.CharEnumField(ReferralOutcome, max_length=12, null=True)
    amount_recovered = fields.IntField(null=True)  # yuan
    outcome_note = fields.TextField(default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    closed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "referral"
        unique_together = (("request", "partner", "open_key"),)
        indexes = (("partner_id", "closed_at"),)

    @property
    def shares_identity(self) -> bool:
        return self.consent in IDENTITY_CONSENTS

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
