"""Summary rows behind the figures of the upper union, and the site headcounts (在场人数)
behind 入会率.

`ProjectFigures`, `FiguresMonth` and `FiguresFiler` are derived data: database triggers
(migration 0015) keep them current in the transaction of every change to a request or a
member, whichever code path makes it, and `lianxin figures rebuild`
(`server.services.figure_rows.rebuild`) recomputes them from scratch. Nothing else writes
them. `Headcount` is what chairs enter; it is kept, one row per entry, as the history.
(Comments, not docstrings, on the models: Tortoise copies docstrings into SQL comments.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from server.models.members import Member
    from server.models.officers import Officer
    from server.models.unions import Team, UnionNode


class ProjectFigures(Model):
    # One row per project union: what is true of it now.

    id = fields.IntField(primary_key=True)
    project: fields.OneToOneRelation[UnionNode] = fields.OneToOneField(
        "models.UnionNode", related_name="figures", on_delete=fields.CASCADE
    )
    # Active members (trigger on member).
    members = fields.IntField(default=0)
    # The newest headcount entry for the whole site (copied from `Headcount`).
    headcount = fields.IntField(null=True)
    headcount_as_of = fields.DateField(null=True)
    # Open requests past their current deadline, counted by the periodic job at overdue_at:
    # "overdue" changes as time passes, not only when something is done.
    overdue = fields.IntField(default=0)
    overdue_at = fields.DatetimeField(null=True)

    class Meta:
        table = "project_figures"


class FiguresMonth(Model):
    # The requests one project received in one month (China time, "YYYY-MM"), as they stand
    # now: a request filed in March and resolved in May counts in March's row.

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="figures_months", on_delete=fields.CASCADE
    )
    month = fields.CharField(max_length=7)
    requests = fields.IntField(default=0)
    # Distinct workers who filed them: the "people" behind the count (k-anonymity).
    filers = fields.IntField(default=0)
    countable = fields.IntField(default=0)  # not declined
    done = fields.IntField(default=0)  # resolved or closed
    with_due = fields.IntField(default=0)  # resolved, so on time or not
    on_time = fields.IntField(default=0)
    rated = fields.IntField(default=0)
    satisfied = fields.IntField(default=0)  # rated 4 or 5
    # Wage cases filed that month and not declined: how many, yuan owed and recovered,
    # workers affected (a case without a count is its filer alone). Migration 0018.
    wage_cases = fields.IntField(default=0, db_default=0)
    wage_owed = fields.BigIntField(default=0, db_default=0)
    wage_recovered = fields.BigIntField(default=0, db_default=0)
    wage_workers = fields.IntField(default=0, db_default=0)

    class Meta:
        table = "figures_month"
        unique_together = (("project", "month"),)


class FiguresFiler(Model):
    # Who filed in a project and month, and how often: what makes `filers` exact when
    # requests come and go. Never shown; read only to count distinct people.

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="figures_filers", on_delete=fields.CASCADE
    )
    month = fields.CharField(max_length=7)
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="figures_filers", on_delete=fields.CASCADE
    )
    requests = fields.IntField(default=0)

    class Meta:
        table = "figures_filer"
        unique_together = (("project", "month", "member"),)


class Headcount(Model):
    # A headcount a chair entered, for the whole site (team null) or one team: every entry
    # is kept, so the history (and a trend) is there; the newest per as_of date counts.

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="headcounts", on_delete=fields.CASCADE
    )
    team: fields.ForeignKeyNullableRelation[Team] = fields.ForeignKeyField(
        "models.Team", related_name="headcounts", null=True, on_delete=fields.CASCADE
    )
    count = fields.IntField()
    # The day the count describes (from the labour real-name system), China time.
    as_of = fields.DateField()
    entered_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="headcounts", null=True, on_delete=fields.SET_NULL
    )
    entered_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "headcount"
        indexes = (("project_id", "team_id", "as_of"),)
