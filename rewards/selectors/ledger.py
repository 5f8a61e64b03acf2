from __future__ import annotations

from typing import Any

from django.db.models import F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from members.models import Member
from rewards.models import PointBalance, PointEntry


def balance_for_member(*, member: Member) -> PointBalance:
    """The member's balances; an unsaved zero balance when they have never had points."""
    return PointBalance.objects.filter(member=member).first() or PointBalance(member=member)


def entries_for_member(*, member: Member) -> QuerySet[PointEntry]:
    return PointEntry.objects.filter(member=member).select_related("rule").order_by("-created_at", "-id")


def ledger_drift(*, member_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Members whose stored balances differ from their ledger sums (should always be empty).

    One grouped query over the ledger joined against balances, covering members with entries but no balance
    row and balance rows with no entries.
    """
    sums = PointEntry.objects.values("member_id").annotate(
        lifetime_sum=Sum("lifetime_delta"), spendable_sum=Sum("spendable_delta")
    )
    balances = PointBalance.objects.annotate(
        lifetime_sum=Coalesce(Sum("member__point_entries__lifetime_delta"), 0),
        spendable_sum=Coalesce(Sum("member__point_entries__spendable_delta"), 0),
    ).filter(~Q(lifetime=F("lifetime_sum")) | ~Q(spendable=F("spendable_sum")))
    if member_ids is not None:
        sums = sums.filter(member_id__in=member_ids)
        balances = balances.filter(member_id__in=member_ids)
    drift = {
        row.member_id: {
            "member_id": row.member_id,
            "lifetime": row.lifetime,
            "spendable": row.spendable,
            "ledger_lifetime": row.lifetime_sum,
            "ledger_spendable": row.spendable_sum,
        }
        for row in balances
    }
    with_balance = PointBalance.objects.values_list("member_id", flat=True)
    for row in sums.exclude(member_id__in=with_balance):
        if row["lifetime_sum"] or row["spendable_sum"]:
            drift[row["member_id"]] = {
                "member_id": row["member_id"],
                "lifetime": 0,
                "spendable": 0,
                "ledger_lifetime": row["lifetime_sum"],
                "ledger_spendable": row["spendable_sum"],
            }
    return sorted(drift.values(), key=lambda r: r["member_id"])
