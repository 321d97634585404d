"""What each reader may learn about a worker: the one module that decides it, for every page,
fragment and export.

Management and the upper union never see who filed a request, nor anything that points to a
person: not the liaison cadre's name, not the filer's team, not the union's internal notes,
and no count or breakdown of fewer than K people (k-anonymity). A manager reads only the
requests referred to management; the rest reach them as counts. "Anonymous to everyone"
hides the worker from union officers too (they still answer in the thread). The worker
always sees their own name.

The small-cell rule is for counts of requests or people the reader cannot see one by one
(figures, breakdowns, the digest's totals). A count of the rows a reader is shown anyway
(their queue, its badges) tells them nothing the rows do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from tortoise.expressions import Q

from server.i18n import gettext
from server.labels import heard_by_label, role_label
from server.models import (
    Anonymity,
    EventKind,
    Level,
    Member,
    Officer,
    RequestEvent,
    Role,
    ServiceRequest,
    Team,
)

# k-anonymity: any count of fewer than K people shown outside the union reads "< K".
K = 5
SMALL = f"< {K}"
# A cell hidden only so that a small one cannot be worked out from the total (see
# `suppress_table`); every such cell holds at least K, so this is the truth.
NOT_SMALL = f"≥ {K}"

# Readers outside the union's casework: they see requests, never people. A partner
# (外部协办) is one too; it may learn who filed only by the worker's consent
# (`partner_identity`).
OUTSIDE_ROLES = frozenset({Role.MANAGER, Role.UPPER, Role.PARTNER})

Count = int | str
T = TypeVar("T")


@dataclass(frozen=True)
class Audience:
    """Whom a copy made without a signed-in officer (the command line) is for."""
    role: Role
    id: int | None = None


# `lianxin export requests` makes the union office's copy; `--no-identities` management's.
UNION_OFFICE = Audience(Role.ADMIN)
MANAGEMENT_COPY = Audience(Role.MANAGER)

Viewer = Officer | Member | Audience | None


@dataclass(frozen=True)
class Identity:
    name: str
    member_no: str
    team: str
    member_id: int | None


def is_outside(viewer: Viewer) -> bool:
    """Whether `viewer` stands outside the union's casework (management, the upper union, or
    nobody signed in): everything they see is subject to this module's small-cell rule."""
    if isinstance(viewer, Member):
        return False
    return viewer is None or viewer.role in OUTSIDE_ROLES


def may_see_filer(viewer: Viewer, anonymity: str, member_id: int) -> bool:
    """Whether `viewer` may know who filed a request."""
    if isinstance(viewer, Member):
        return viewer.id == member_id
    if is_outside(viewer):
        return False
    return anonymity != Anonymity.ALL


def sees_liaisons(viewer: Viewer) -> bool:
    """Whether `viewer` may read the names of the cadres who answer for the workers (a
    liaison's name narrows a request down to their hundred workers, often one team)."""
    return not is_outside(viewer)


def sees_photos(viewer: Viewer) -> bool:
    """Photos show faces, work cards and dormitories: outside readers get the text only."""
    return not is_outside(viewer)


def hears_voices(viewer: Viewer) -> bool:
    """A voice is known to workmates and foremen the way a face is: outside readers get the
    text only, never a voice message (not even the union's own replies)."""
    return not is_outside(viewer)


def may_call_filer(viewer: Viewer, anonymity: str, member_id: int) -> bool:
    """Whether an officer may have the filer's phone number: only one who may know who filed
    (never management or the upper union; nobody when the filer is anonymous to all)."""
    return isinstance(viewer, Officer) and viewer.sees_identities and may_see_filer(
        viewer, anonymity, member_id)


def lists_only_referred(viewer: Viewer) -> bool:
    """Management reads only what the union referred to it; other requests reach it as
    counts. Nobody signed in is held to the same (the strictest list there is)."""
    if isinstance(viewer, Member):
        return False
    return viewer is None or viewer.role == Role.MANAGER


def may_read_request(viewer: Viewer, referred: bool) -> bool:
    return referred or not lists_only_referred(viewer)


def readable_requests(viewer: Viewer) -> Q:
    """The ORM filter form of `may_read_request`, for lists, digests and exports."""
    return Q(referred=True) if lists_only_referred(viewer) else Q()


# --- counts -------------------------------------------------------------------------------

def suppress(n: int) -> Count:
    """One count as shown outside the union. 0 is shown: "nobody" points to no one.
    (A 0 beside a total can still tell that all of them share one attribute; the figures
    show no breakdown fine enough for that to single a person out.)"""
    return SMALL if 0 < n < K else n


def count_for(viewer: Viewer, n: int) -> Count:
    return suppress(n) if is_outside(viewer) else n


def suppress_table(cells: Mapping[T, int]) -> dict[T, Count]:
    """A breakdown whose total is shown beside it, as shown outside the union.

    Cells of 1..K-1 read "< K". Complementary disclosure: with the total on the page, one
    hidden cell is the total minus the visible ones, so hiding it alone hides nothing. We
    therefore also hide the smallest visible cells ("≥ K", which is true of each) until the
    hidden cells together hold at least K, or every non-zero cell is hidden (then the total
    is itself under K and is hidden by `suppress`). What the reader can then work out is a
    sum of at least K people, never a small cell on its own. (Differences between two
    periods can still isolate a cell; the pages show fixed breakdowns of one period.)
    """
    return suppress_cells({key: (n, n) for key, n in cells.items()})


def suppress_cells(cells: Mapping[T, tuple[int, int]]) -> dict[T, Count]:
    """`suppress_table` for cells that count things made by people, given per cell as
    (count, people): 40 requests by 3 workers point to those 3 as surely as a count of 3.

    A cell is small when 1..K-1 people are behind it ("< K"); the complement rule then hides
    the cells with the fewest people ("≥ K") until the hidden cells hold at least K people
    together. `people` may be a lower bound (the summary rows know distinct people per
    month, not per year): a lower bound only ever hides more. Where count = people this is
    exactly `suppress_table`.
    """
    shown: dict[T, Count] = {}
    hidden = 0
    visible: list[tuple[int, int]] = []
    keys = list(cells)
    for i, key in enumerate(keys):
        n, people = cells[key]
        if 0 < people < K:
            shown[key] = SMALL
            hidden += people
        else:
            shown[key] = n
            if people > 0:
                visible.append((people, i))
    if not 0 < hidden < K:
        return shown
    visible.sort()
    while 0 < hidden < K and visible:
        people, i = visible.pop(0)
        shown[keys[i]] = NOT_SMALL
        hidden += people
    return shown


def cells_for(viewer: Viewer, cells: Mapping[T, tuple[int, int]]) -> dict[T, Count]:
    """`suppress_cells` outside the union; the plain counts inside it."""
    if is_outside(viewer):
        return suppress_cells(cells)
    return {key: n for key, (n, _people) in cells.items()}


def count_rank(value: Count) -> tuple[int, int]:
    """A sort key for a count as shown, that ranks a hidden cell by what the page already
    says of it and nothing more: 0, then "< K", then "≥ K" (the complement rule hides the
    smallest visible cells, so each of those is at most every number still shown), then
    the numbers. Hidden cells tie; the caller breaks ties by name, not by the number."""
    if value == SMALL:
        return (1, 0)
    if value == NOT_SMALL:
        return (2, 0)
    assert isinstance(value, int)
    return (0, 0) if value == 0 else (3, value)


def table_for(viewer: Viewer, cells: Mapping[T, int]) -> dict[T, Count]:
    return suppress_table(cells) if is_outside(viewer) else dict(cells)


def receipts_for(viewer: Viewer, recipients: int, read: int,
                 acknowledged: int) -> dict[str, Count]:
    """A notice's 已读 N / M and 已确认 N / M. Who has read and who has not are each a
    count of people: outside the union both sides of each split follow the small-cell rule
    (with the total shown, hiding only the small side would hide nothing)."""
    reads = table_for(viewer, {"read": read, "unread": recipients - read})
    acks = table_for(viewer, {"acked": acknowledged, "unacked": recipients - acknowledged})
    return {"recipients": count_for(viewer, recipients), "read": reads["read"],
            "acknowledged": acks["acked"]}


def share_for(viewer: Viewer, part: int, whole: int) -> float | None:
    """A rate is a breakdown of `whole` into `part` and the rest: outside the union it is
    shown only when neither side is a small count (1 of 9 resolved names one request)."""
    return share_rule(viewer)(part, whole)


def share_rule(viewer: Viewer) -> Callable[[int, int], float | None]:
    """`share_for` with the reader decided once: for tables of hundreds of rows."""
    outside = is_outside(viewer)

    def share(part: int, whole: int) -> float | None:
        if whole == 0:
            return None
        if outside and (0 < whole < K or 0 < part < K or 0 < whole - part < K):
            return None
        return part / whole

    return share


def median_for(viewer: Viewer, value: int | None, n: int) -> int | None:
    """The median of fewer than K durations is close to one person's own."""
    return None if is_outside(viewer) and n < K else value


# --- requests -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestView:
    """What `viewer` may read of one request beyond its category, status and dates."""
    filer: Identity | None
    who: str  # the filer's name, or the anonymous label
    assignee: str  # the responsible cadre's name; "" when hidden or nobody
    readable: bool  # whether the text may be read at all
    description: str
    resolution: str


def visible_identity(viewer: Viewer, request: ServiceRequest,
                     member: Member) -> Identity | None:
    """The filer's identity as `viewer` may see it, or None when it must stay hidden."""
    if not may_see_filer(viewer, request.anonymity, member.id):
        return None
    identity = _identity(member)
    if member.project_id != request.project_id:  # type: ignore[attr-defined]
        # The filer has since moved to another project: their team there is not this
        # request's business (nor the old project's to know).
        identity = Identity(identity.name, identity.member_no, "", identity.member_id)
    return identity


def visible_identity_of_row(viewer: Viewer, row: dict[str, Any]) -> Identity | None:
    """The same, for a list row read as values (see `IDENTITY_COLUMNS`), not as models."""
    if not may_see_filer(viewer, row["anonymity"], row["member_id"]):
        return None
    here = row["member__project_id"] == row["project_id"]
    return Identity(row["member__name"], row["member__member_no"] or "",
                    (row["member__team__name"] or "") if here else "", row["member_id"])


# The columns `view_of_row` reads, to select alongside a list's own.
IDENTITY_COLUMNS = ("anonymity", "member_id", "member__name", "member__member_no",
                    "member__team__name", "member__project_id", "project_id")
VIEW_COLUMNS = (*IDENTITY_COLUMNS, "referred", "description", "assignee__name")


def request_view(viewer: Viewer, request: ServiceRequest) -> RequestView:
    """For a request read as a model, with `member` (and its team) and `assignee` fetched."""
    assignee = getattr(request, "assignee", None)
    return _view(viewer, visible_identity(viewer, request, request.member),
                 assignee.name if isinstance(assignee, Officer) else "", request.referred,
                 request.description, request.resolution)


def view_of_row(viewer: Viewer, row: dict[str, Any]) -> RequestView:
    """For a list row read as values with `VIEW_COLUMNS`."""
    return _view(viewer, visible_identity_of_row(viewer, row), row.get("assignee__name") or "",
                 bool(row["referred"]), row.get("description") or "",
                 row.get("resolution") or "")


def _view(viewer: Viewer, filer: Identity | None, assignee: str, referred: bool,
          description: str, resolution: str) -> RequestView:
    readable = may_read_request(viewer, referred)
    return RequestView(
        filer=filer, who=filer.name if filer else anonymous_label(),
        assignee=assignee if sees_liaisons(viewer) else "", readable=readable,
        description=description if readable else "", resolution=resolution if readable else "")


@dataclass(frozen=True)
class PartnerIdentity:
    """What a partner learns of the filer when the worker consented: enough to reach them."""
    name: str
    phone: str
    member_no: str
    id_number_masked: str


def partner_identity(viewer: Viewer, member: Member,
                     consented: bool) -> PartnerIdentity | None:
    """The filer as a partner sees them: only with the worker's consent given at referral
    (in the app, or aloud to the officer who recorded it); otherwise nothing that names
    them. Never for anyone but a partner."""
    if not consented or not isinstance(viewer, Officer) or viewer.role != Role.PARTNER:
        return None
    return PartnerIdentity(member.name, member.phone, member.member_no or "",
                           member.id_number_masked)


def _identity(member: Member) -> Identity:
    team = getattr(member, "team", None)
    # Only a fetched Team counts; an unfetched relation must not trigger a query here.
    team_name = team.name if isinstance(team, Team) else ""
    return Identity(member.name, member.member_no or "", team_name, member.id)


def anonymous_label() -> str:
    return gettext("匿名工友")


# --- the timeline -------------------------------------------------------------------------

# Text outside readers may read: the worker's own words (they read the description too),
# and what the union wrote for them or as the outcome. Not the union's replies to the worker
# (written to someone the writer knows by name), nor internal notes.
# Events whose text the worker who filed the request reads; other events show only their label.
WORKER_READABLE_NOTES = frozenset({
    EventKind.SUBMITTED, EventKind.REPLY, EventKind.WORKER_REPLY,
    EventKind.MANAGEMENT_REPLY, EventKind.RESOLVED, EventKind.DECLINED,
    EventKind.REOPENED, EventKind.RATED,
    EventKind.WAGE_VERIFIED, EventKind.WAGE_PROMISED, EventKind.WAGE_PARTIAL,
    EventKind.WAGE_PAID,
    EventKind.PARTNER_REPLY, EventKind.PARTNER_OUTCOME,
})
OUTSIDE_READABLE_NOTES = frozenset({
    EventKind.SUBMITTED, EventKind.WORKER_REPLY, EventKind.REOPENED, EventKind.RATED,
    EventKind.REFERRED, EventKind.MANAGEMENT_REPLY, EventKind.RESOLVED, EventKind.DECLINED,
})


@dataclass(frozen=True)
class VoiceRef:
    """A voice message as a page links to it."""
    id: int
    duration_ms: int

    @property
    def length(self) -> str:
        seconds = max(1, self.duration_ms // 1000)  # as players show it: whole seconds
        return f"{seconds // 60}:{seconds % 60:02d}"


def voices_for(viewer: Viewer, voices: Mapping[int, VoiceRef]) -> Mapping[int, VoiceRef]:
    """The voice messages of a request's events (by event id) that `viewer` may hear."""
    return voices if hears_voices(viewer) else {}


@dataclass(frozen=True)
class EventView:
    kind: str
    created_at: datetime
    public: bool
    who: str
    note: str  # "" when there is none or the viewer may not read it
    rating: int | None
    id: int = 0
    voice: VoiceRef | None = None
    # A wage milestone's amounts (yuan) and date: the case's, never one person's.
    wage: Mapping[str, object] | None = None


def worker_timeline(events: Iterable[RequestEvent]) -> list[RequestEvent]:
    """The events of their own request a worker reads: the public ones (internal notes and
    reassignments stay inside the union); of these, only `WORKER_READABLE_NOTES` show their
    note."""
    return [event for event in events if event.public]


def timeline(viewer: Officer, events: Iterable[RequestEvent], filer: Identity | None,
             voices: Mapping[int, VoiceRef] | None = None) -> list[EventView]:
    """The events of one request as `viewer` may read them (events with `actor` fetched).

    Union officers read every event and note. Outside readers read only events the worker
    could read, their notes only when written for outside eyes (the referral; for the upper
    union, an escalation to it), and never an officer's name but their own: a cadre's name
    is the liaison's, which narrows the filer down to their workers.
    """
    outside = is_outside(viewer)
    audible = voices_for(viewer, voices or {})
    views = []
    for event in events:
        if outside and not event.public and not _own(viewer, event):
            continue
        note = event.note if not outside or _outside_reads_note(viewer, event) else ""
        views.append(EventView(
            kind=str(event.kind), created_at=event.created_at, public=event.public,
            who=_actor(viewer, event, filer, outside),
            note=on_behalf_note(viewer, event) or _referral_moved_note(event) or note,
            rating=_rating(event), id=event.id, voice=audible.get(event.id),
            wage=_wage_detail(viewer, event)))
    return views


def _referral_moved_note(event: RequestEvent) -> str:
    """A referral moved to a colleague when its partner account was deactivated (an
    internal event: only the union reads it)."""
    if event.kind != EventKind.PARTNER_REFERRED or "from_name" not in event.detail:
        return ""
    return gettext("原协办账号 %(name)s 已停用，转给同单位的 %(to)s") % {
        "name": event.detail["from_name"], "to": event.detail.get("to_name", "")}


def on_behalf_note(viewer: Viewer, event: RequestEvent) -> str:
    """"由干部刘芳代为提交（电话）" on the filing event of a request a cadre filed for the
    worker (`actor` fetched), for the worker and union officers; "" for anyone else, and for
    other events. Outside the union nobody learns that a cadre filed it, nor which one: the
    cadre's name narrows the filer down to their hundred workers."""
    how = event.detail.get("on_behalf") if event.kind == EventKind.SUBMITTED else None
    if not how or is_outside(viewer):
        return ""
    actor = event.actor
    name = actor.name if isinstance(actor, Officer) else gettext("工会干部")
    return gettext("由干部%(name)s代为提交（%(how)s）") % {"name": name,
                                                     "how": heard_by_label(how)}


def _actor(viewer: Officer, event: RequestEvent, filer: Identity | None,
           outside: bool) -> str:
    if event.by_worker or event.kind == EventKind.SUBMITTED:
        # Filed by the worker, or for them by a cadre (`on_behalf_note` says which cadre,
        # to whom may know it): the filing is the worker's either way.
        return filer.name if filer else anonymous_label()
    actor = event.actor
    if not isinstance(actor, Officer):
        return gettext("系统")
    if outside and actor.id != viewer.id:
        return role_label(actor.role)
    return actor.name


def _own(viewer: Officer, event: RequestEvent) -> bool:
    return event.actor_id == viewer.id  # type: ignore[attr-defined]


# A partner's words, and the union's referral to a partner, are for that partner and the
# union (and the worker, when public): not for management or the upper union.
PARTNER_EVENTS = frozenset({EventKind.PARTNER_REFERRED, EventKind.PARTNER_REPLY,
                            EventKind.PARTNER_NOTE, EventKind.PARTNER_OUTCOME})


def _outside_reads_note(viewer: Officer, event: RequestEvent) -> bool:
    if event.kind in PARTNER_EVENTS:
        return viewer.role == Role.PARTNER and (
            _own(viewer, event) or event.detail.get("partner") == viewer.id)
    if event.kind in OUTSIDE_READABLE_NOTES:
        return True
    return (event.kind == EventKind.ESCALATED and viewer.role == Role.UPPER
            and event.detail.get("to") == Level.UPPER.value)


WAGE_MILESTONES = frozenset({EventKind.WAGE_VERIFIED, EventKind.WAGE_PROMISED,
                             EventKind.WAGE_PARTIAL, EventKind.WAGE_PAID})


def _wage_detail(viewer: Officer, event: RequestEvent) -> Mapping[str, object] | None:
    """A milestone's amounts for every reader of the timeline (they are the case's); a
    member's own claim (`wage_claim`) only for the union's officers: one person's sum."""
    if event.kind in WAGE_MILESTONES:
        return event.detail
    if event.kind == EventKind.WAGE_CLAIM and not is_outside(viewer):
        return event.detail
    return None


def _rating(event: RequestEvent) -> int | None:
    if event.kind != EventKind.RATED:
        return None
    value = event.detail.get("rating")
    return value if isinstance(value, int) else None
