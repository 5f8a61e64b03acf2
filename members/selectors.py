from __future__ import annotations

from django.db.models import QuerySet

from members.models import Member


def member_list() -> QuerySet[Member]:
    return Member.objects.select_related("user").prefetch_related("tags").order_by("display_name", "id")
