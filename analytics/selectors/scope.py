"""Which members a KPI looks at: everyone, one segment, a tag, a level, a recruitment round (or several at once)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet

from members.models import Member


def external(module: str, name: str) -> Callable[..., Any] | None:
    """Another app's selector, or None while that app has not shipped it (the KPI then shows as unavailable)."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


@dataclass(frozen=True)
class Scope:
    segment: str | None = None
    tag_id: int | None = None
    level_id: int | None = None
    round_id: int | None = None

    @property
    def by_members(self) -> bool:
        """True when the scope is a set of members that the per-segment rollups cannot answer alone."""
        return any(value is not None for value in (self.tag_id, self.level_id, self.round_id))

    def member_queryset(self) -> QuerySet[Member]:
        """The members in scope as a queryset (ids only are ever selected from it)."""
        members = Member.objects.all()
        if self.segment:
            members = members.filter(segment=self.segment)
        if self.tag_id is not None:
            members = members.filter(tags__id=self.tag_id)
        if self.level_id is not None:
            from rewards.selectors.analytics import member_ids_at_level

            members = members.filter(pk__in=member_ids_at_level(level_id=self.level_id))
        if self.round_id is not None:
            round_member_ids = external("members.selectors", "round_member_ids")
            ids = list(round_member_ids(round_id=self.round_id)) if round_member_ids else []
            members = members.filter(pk__in=ids)
        return members

    def member_ids(self) -> QuerySet | None:
        """A subquery of member ids in scope, or None for everyone."""
        if not self.by_members and not self.segment:
            return None
        return self.member_queryset().values("pk")

    def member_id_list(self) -> list[int] | None:
        ids = self.member_ids()
        return None if ids is None else list(ids.values_list("pk", flat=True))

    def as_params(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, "")}


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start.")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one (for period-over-period change)."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))
