"""`seed_demo`: a believable, deterministic demo community, and `--if-empty` leaves a populated database alone."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import pytest
from allauth.account.models import EmailAddress
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import transaction
from django.db.models import Count

from community.models import Activity, AuditLog, Notification
from members.demo import DEMO_PASSWORD
from members.models import Member
from rewards.services.config_cache import config_caches_forget_local

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 18, 9, 30, tzinfo=UTC)
SMALL = ("--members", "40", "--days", "20")


def seed(*args: str) -> str:
    out = StringIO()
    with mock.patch("django.utils.timezone.now", return_value=NOW):
        call_command("seed_demo", *SMALL, *args, stdout=out)
    return out.getvalue()


def demo_members():
    return Member.objects.filter(user__is_staff=False).select_related("user")


def snapshot() -> dict[str, list[tuple]]:
    members = [
        (
            m.user.email,
            m.display_name,
            m.locale,
            m.time_zone,
            m.joined_at,
            m.bio,
            tuple(sorted(t.name for t in m.tags.all())),
        )
        for m in demo_members().prefetch_related("tags").order_by("user__email")
    ]
    activities = sorted(
        (a.member.user.email, a.verb, a.occurred_at, a.local_date, repr(a.data))
        for a in Activity.objects.select_related("member__user")
    )
    return {"members": members, "activities": activities}


def test_creates_members_who_can_sign_in():
    output = seed()

    members = list(demo_members())
    assert len(members) == 40
    assert "40 members" in output and DEMO_PASSWORD in output
    for member in members:
        assert re.fullmatch(r"[a-z.]+\d+@example\.com", member.user.email)
        assert member.user.is_active and member.user.check_password(DEMO_PASSWORD)
        assert member.joined_at <= NOW
    verified = EmailAddress.objects.filter(verified=True, primary=True)
    assert set(verified.values_list("email", flat=True)) == {m.user.email for m in members}
    assert {m.locale for m in members} == {"en", "zh-hans"}
    assert any(re.search(r"[\u4e00-\u9fff]", m.display_name) for m in members)
    assert any(re.fullmatch(r"[A-Za-z .'-]+", m.display_name) for m in members)
    zones = Counter(m.time_zone for m in members)
    assert zones.most_common(1)[0][0] == "Asia/Shanghai" and len(zones) > 1
    assert Member.tags.through.objects.exists()


def test_activity_spreads_over_the_days_with_a_few_very_active_members():
    seed()

    activities = Activity.objects.select_related("member")
    assert activities.count() > 100
    assert len({a.local_date for a in activities}) >= 15
    assert {"checked_in", "feedback_submitted", "question_answered"} <= {a.verb for a in activities}
    for activity in activities:
        assert activity.member.joined_at <= activity.occurred_at <= NOW
        assert activity.occurred_at > NOW - timedelta(days=21)
    per_member = sorted(demo_members().annotate(n=Count("activities")).values_list("n", flat=True), reverse=True)
    assert sum(per_member[:8]) > sum(per_member) / 2  # the top fifth does most of it


def test_records_one_audit_entry_and_welcomes_the_newest_members():
    seed()

    audit = AuditLog.objects.get(action="demo.seed")
    assert audit.actor is None
    assert audit.after["members"] == 40 and audit.after["activities"] == Activity.objects.count()
    welcomed = Notification.objects.filter(kind="welcome")
    assert welcomed.count() == 10
    newest = set(demo_members().order_by("-joined_at").values_list("pk", flat=True)[:10])
    assert set(welcomed.values_list("member_id", flat=True)) == newest


def seeded_snapshot(*args: str) -> dict[str, list[tuple]]:
    # Rolled back afterwards (the ledger protects members from deletion), so each run starts from the same place.
    with transaction.atomic():
        seed(*args)
        taken = snapshot()
        transaction.set_rollback(True)
    # Caches (rules, level ladder; shared and this process's copy) outlive the rollback; the next run must not read
    # the rolled-back rows.
    cache.clear()
    config_caches_forget_local()
    return taken


def test_same_seed_gives_the_same_community():
    first = seeded_snapshot("--seed", "7")
    assert first["members"]

    assert seeded_snapshot("--seed", "7") == first
    assert seeded_snapshot("--seed", "8")["members"] != first["members"]


def test_if_empty_seeds_once_then_leaves_the_database_alone(operator):
    # The operator's own (staff) profile does not make the database "populated".
    seed("--if-empty")
    counts = (Member.objects.count(), Activity.objects.count())
    assert counts[0] == 41

    output = seed("--if-empty")
    assert "no demo data added" in output
    assert (Member.objects.count(), Activity.objects.count()) == counts


def test_a_second_run_without_if_empty_adds_more_members():
    seed()
    seed()

    emails = list(demo_members().values_list("user__email", flat=True))
    assert len(emails) == 80 == len(set(emails))


@pytest.mark.parametrize("args", [("--members", "0"), ("--days", "0")])
def test_rejects_empty_sizes(args):
    with pytest.raises(CommandError):
        call_command("seed_demo", *args, stdout=StringIO())
