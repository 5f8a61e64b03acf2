"""Reports and moderation: warn, mute (respected by every posting path), remove from the program."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from community.errors import ServiceError
from community.models import Activity, AuditLog, Notification
from feedback import selectors, services
from feedback.models import ModerationAction, Report
from members.models import Member
from rewards.models import PointEntry
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_members_report_feedback_replies_members_and_any_content(member, other_member, operator, submit):
    item = submit(other_member)
    reply = services.reply_post(item=item, author=operator, body="We are on it.")
    elsewhere = ActivityFactory(member=other_member)  # another app's content naming its member

    reports = [
        services.report_file(reporter=member, target=item, reason="spam"),
        services.report_file(reporter=member, target=reply, reason="abuse", note="Rude"),
        services.report_file(reporter=member, target=other_member, reason="ads"),
        services.report_file(reporter=member, target=elsewhere, reason="other", note="Odd"),
    ]

    assert [report.target_member_id for report in reports] == [
        other_member.pk,
        operator.pk,
        other_member.pk,
        other_member.pk,
    ]
    assert reports[0].target == item
    assert selectors.report_queue().count() == 4
    assert AuditLog.objects.filter(action="feedback.report_file").count() == 4


def test_reporting_twice_yourself_or_without_a_reason_is_refused(member, other_member, submit):
    item = submit(other_member)
    services.report_file(reporter=member, target=item, reason="spam")

    with pytest.raises(ServiceError) as twice:
        services.report_file(reporter=member, target=item, reason="ads")
    with pytest.raises(ServiceError) as own:
        services.report_file(reporter=other_member, target=item, reason="spam")
    with pytest.raises(ServiceError) as bad:
        services.report_file(reporter=member, target=other_member, reason="boring")
    with pytest.raises(ServiceError) as other_without_note:
        services.report_file(reporter=member, target=other_member, reason="other")

    assert twice.value.code == "duplicate"
    assert (own.value.field, bad.value.field, other_without_note.value.field) == ("target", "reason", "note")


def test_a_mute_stops_posting_until_it_ends(member, moderator, submit):
    action = services.moderation_mute(
        member=member, actor=moderator.user, reason="Flooding", until=timezone.now() + timedelta(hours=2)
    )

    assert selectors.member_is_muted(member=member) is True
    with pytest.raises(ServiceError) as refused:
        submit(member)
    assert refused.value.code == "muted"
    assert Notification.objects.get(member=member, kind="moderation_muted")

    ModerationAction.objects.filter(pk=action.pk).update(muted_until=timezone.now() - timedelta(seconds=1))
    assert selectors.member_is_muted(member=member) is False
    submit(member)


def test_a_lifted_mute_ends_early(member, moderator):
    action = services.moderation_mute(
        member=member, actor=moderator.user, reason="Flooding", until=timezone.now() + timedelta(days=1)
    )

    services.moderation_mute_lift(action=action, actor=moderator.user)

    assert selectors.member_is_muted(member=member) is False


def test_a_mute_needs_a_reason_and_a_future_end(member, moderator):
    with pytest.raises(ServiceError):
        services.moderation_mute(member=member, actor=moderator.user, reason="", until=timezone.now() + timedelta(1))
    with pytest.raises(ServiceError):
        services.moderation_mute(member=member, actor=moderator.user, reason="x", until=timezone.now())


def test_warning_on_a_report_closes_it_and_tells_the_member(member, other_member, moderator, submit):
    report = services.report_file(reporter=member, target=submit(other_member), reason="abuse")

    services.moderation_warn(member=other_member, actor=moderator.user, reason="Be kind", report=report)

    report.refresh_from_db()
    assert report.status == Report.Status.ACTIONED
    assert "Be kind" in Notification.objects.get(member=other_member, kind="moderation_warned").body
    assert AuditLog.objects.filter(action="feedback.moderation_warn").exists()


def test_an_upheld_spam_report_deducts_once_per_content(member, other_member, moderator, submit):
    item = submit(other_member)
    third = MemberFactory()
    first = services.report_file(reporter=member, target=item, reason="spam")
    second = services.report_file(reporter=third, target=item, reason="spam")

    services.moderation_warn(member=other_member, actor=moderator.user, reason="Spam", report=first)
    services.moderation_warn(member=other_member, actor=moderator.user, reason="Spam", report=second)

    assert Activity.objects.filter(member=other_member, verb="reported_for_spam").count() == 1
    assert PointEntry.objects.filter(member=other_member, rule__verb="reported_for_spam").count() == 1


def test_removal_goes_through_the_members_service_and_stops_posting(member, other_member, moderator, submit):
    report = services.report_file(reporter=member, target=other_member, reason="abuse")

    services.moderation_remove(member=other_member, actor=moderator.user, reason="Harassment", report=report)

    other_member.refresh_from_db()
    assert other_member.status == Member.Status.REMOVED
    assert AuditLog.objects.filter(action="member.remove", object_id=str(other_member.pk)).exists()
    assert Notification.objects.filter(member=other_member, kind="moderation_removed").exists()
    with pytest.raises(ServiceError):
        submit(other_member)


def test_dismissing_leaves_the_member_alone(member, other_member, moderator):
    report = services.report_file(reporter=member, target=other_member, reason="ads")

    services.report_dismiss(report=report, actor=moderator.user, note="Not an ad")

    report.refresh_from_db()
    assert report.status == Report.Status.DISMISSED
    assert not ModerationAction.objects.exists()
