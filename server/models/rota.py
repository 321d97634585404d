"""A project's duty rota (值日): for each weekday a theme, the department on duty, and a line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

from server.models.requests import Category

if TYPE_CHECKING:
    from server.models.officers import Officer
    from server.models.unions import UnionNode


class DutyDay(Model):
    # One row per weekday (0 = Monday) a chair has filled in; a day without a row has no duty.
    # (A comment, not a docstring: Tortoise copies docstrings into SQL comments.)

    id = fields.IntField(primary_key=True)
    project: fields.ForeignKeyRelation[UnionNode] = fields.ForeignKeyField(
        "models.UnionNode", related_name="duty_days", on_delete=fields.CASCADE
    )
    weekday = fields.SmallIntField()
    theme = fields.CharField(max_length=20, default="")
    department = fields.CharField(max_length=30, default="")
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="duty_days", null=True, on_delete=fields.SET_NULL
    )
    # Requests filed that day in this category are marked for the department on duty.
    category = fields.CharEnumField(Category, max_length=20, null=True)
    line = fields.CharField(max_length=100, default="")

    class Meta:
        table = "duty_day"
        unique_together = (("project", "weekday"),)
