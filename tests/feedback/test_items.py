"""Submitting, status changes, replies, votes and merging, through the services."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from community import domain_events
from community.errors import ServiceError
from community.models import Activity, AuditLog, Notification
from feedback import selectors, services
from feedback.models import Attachment, FeedbackItem, StatusChange, Subscription, Vote
from feedback.services.common import PRIORITY_WEIGHT, VOTE_WEIGHT
from rewards.models import PointEntry
from tests.factories import MemberFactory, staff_member
from tests.feedback.factories import jpeg_bytes, png_upload, status

pytestmark = pytest.mark.django_db


@pytest.fixture
def events():
    seen: list[tuple[str, dict]] = []

    def listener(event_type, payload):
        seen.append((event_type, payload))

    domain_events.subscribe(listener)
    yield seen
    domain_events._LISTENERS.remove(listener)


# --- submitting ---------------------------------------------------------------------------------------------


def test_submitting_stores_the_item_records_activity_and_announces_it(
    member, submit, events, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        item = submit(member, app_version="3.2.1", device="Pixel 8", page_url="https://app.example.com/export")

    assert item.status.key == "new"
    assert (item.app_version, item.device, item.page_url) == ("3.2.1", "Pixel 8", "https://app.example.com/export")
    activity = Activity.objects.get(member=member, verb="feedback_submitted")
    assert activity.target_id == str(item.pk)
    assert [event for event, _payload in events if event.startswith("feedback.")] == ["feedback.created"]
    assert dict(events)["feedback.created"]["id"] == item.pk
    assert StatusChange.objects.filter(item=item, from_status=None, to_status__key="new").count() == 1
    assert AuditLog.objects.filter(action="feedback.submit", object_id=str(item.pk)).exists()
    # The shipped rule awards points for submitting.
    assert PointEntry.objects.filter(member=member, rule__verb="feedback_submitted").count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [("", "body"), ("   ", "body"), ("x" * 100_000, "body")],
)
def test_empty_or_huge_bodies_are_refused_with_a_clear_message(member, submit, body, field):
    with pytest.raises(ServiceError) as refused:
        submit(member, body=body)

    assert refused.value.field == field
    assert not FeedbackItem.objects.exists()


def test_a_title_too_short_or_a_bad_kind_is_refused(member, submit):
    with pytest.raises(ServiceError) as short:
        submit(member, title="a")
    with pytest.raises(ServiceError) as kind:
        submit(member, kind="rant")
    with pytest.raises(ServiceError) as url:
        submit(member, page_url="javascript:alert(1)")

    assert (short.value.field, kind.value.field, url.value.field) == ("title", "kind", "page_url")


def test_script_tags_and_markdown_tricks_are_sanitised(member, submit):
    body = (
        "<script>alert('x')</script>\n\n[click](javascript:alert(1)) "
        '<img src=x onerror=alert(1)> <a href="https://ok.example" onclick="evil()">ok</a>\n\n'
        "![pic](data:text/html;base64,PHNjcmlwdD4=)"
    )
    item = submit(member, body=body)
    html = str(item.body_html)

    assert item.body == body.strip()  # nothing lost: the words are stored as written
    assert "<script" not in html
    assert "javascript:" not in html
    assert "onerror" not in html and "onclick" not in html
    assert "data:text/html" not in html
    assert 'href="https://ok.example"' in html


# --- attachments --------------------------------------------------------------------------------------------


def test_a_screenshot_is_accepted_and_stored_under_a_random_name(member, submit):
    item = submit(member, attachments=[png_upload("my screen.png")])

    attachment = Attachment.objects.get(item=item)
    assert (attachment.kind, attachment.content_type, attachment.width) == ("image", "image/png", 8)
    assert attachment.original_name == "my screen.png"
    assert "my screen" not in attachment.file.name and attachment.file.name.endswith(".png")


def test_a_log_file_is_accepted(member, submit):
    log = SimpleUploadedFile("app.log", b"2026-01-01 ERROR export failed\n", content_type="text/plain")

    item = submit(member, attachments=[log])

    assert item.attachments.get().kind == "log"


@pytest.mark.parametrize(
    ("name", "content", "message_part"),
    [
        ("cute.png", b"MZ\x90\x00" + b"\x00" * 200, "program"),
        ("cute.png", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "program"),
        ("photo.png", jpeg_bytes(), "does not match"),
        ("photo.png", b"not an image at all", "not a readable image"),
        ("notes.log", b"binary\x00data", "not a text log"),
        ("drawing.svg", b"<svg onload=alert(1)></svg>", "attach images"),
        ("tool.exe", b"hello", "attach images"),
        ("empty.png", b"", "empty"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(member, submit, name, content, message_part):
    with pytest.raises(ServiceError) as refused:
        submit(member, attachments=[SimpleUploadedFile(name, content)])

    assert refused.value.field == "attachments"
    assert message_part in refused.value.message
    assert not FeedbackItem.objects.exists() and not Attachment.objects.exists()


def test_a_50_mb_attachment_is_refused(member, submit):
    huge = SimpleUploadedFile("huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (50 * 1024 * 1024))

    with pytest.raises(ServiceError) as refused:
        submit(member, attachments=[huge])

    assert "larger than 10 MB" in refused.value.message
    assert not FeedbackItem.objects.exists()


def test_at_most_five_files(member, submit):
    with pytest.raises(ServiceError):
        submit(member, attachments=[png_upload(f"s{n}.png") for n in range(6)])


# --- status changes, replies, the rewards hook ----------------------------------------------------------------


def test_status_changes_notify_submitter_voters_and_subscribers_once_each(member, other_member, operator, submit):
    item = submit(member)
    third = MemberFactory()
    services.vote_add(item=item, member=other_member)
    services.subscription_add(item=item, member=other_member)  # voter and subscriber: told once
    services.subscription_add(item=item, member=third)

    services.item_status_change(item=item, actor=operator.user, status=status("planned"), note="Next sprint")

    told = Notification.objects.filter(kind="feedback_status_changed")
    assert sorted(told.values_list("member_id", flat=True)) == sorted([member.pk, other_member.pk, third.pk])
    assert "Planned" in told.get(member=member).title
    assert "Next sprint" in told.get(member=member).body


def test_the_same_status_again_changes_nothing(member, operator, submit):
    item = submit(member)

    services.item_status_change(item=item, actor=operator.user, status=status("new"))

    assert StatusChange.objects.filter(item=item).count() == 1
    assert not Notification.objects.filter(kind="feedback_status_changed").exists()


def test_marking_a_duplicate_needs_a_merge(member, operator, submit):
    with pytest.raises(ServiceError) as refused:
        services.item_status_change(item=submit(member), actor=operator.user, status=status("duplicate"))

    assert refused.value.field == "status"


def test_accepting_awards_once_even_after_reopening_and_accepting_again(member, operator, submit):
    item = submit(member)

    for key in ("planned", "new", "done", "declined", "in_progress", "done"):
        services.item_status_change(item=item, actor=operator.user, status=status(key))

    assert Activity.objects.filter(verb="feedback_accepted", dedupe_key=f"feedback_accepted:{item.pk}").count() == 1
    assert PointEntry.objects.filter(member=member, rule__verb="feedback_accepted").count() == 1
    item.refresh_from_db()
    assert item.accepted_at is not None and item.resolved_at is not None and item.first_response_at is not None


def test_a_status_change_is_announced(member, operator, submit, events, django_capture_on_commit_callbacks):
    item = submit(member)
    with django_capture_on_commit_callbacks(execute=True):
        services.item_status_change(item=item, actor=operator.user, status=status("acknowledged"))

    assert ("feedback.status_changed", "acknowledged") in [(event, data.get("to_status")) for event, data in events]


def test_a_reply_is_the_first_response_and_notifies_everyone_but_its_author(member, other_member, operator, submit):
    item = submit(member)
    services.vote_add(item=item, member=other_member)

    reply = services.reply_post(item=item, author=operator, body="Thanks, we **found** it.")

    item.refresh_from_db()
    assert item.first_response_at == reply.created_at
    told = set(Notification.objects.filter(kind="feedback_reply").values_list("member_id", flat=True))
    assert told == {member.pk, other_member.pk}
    assert "<strong>found</strong>" in str(reply.body_html)


def test_internal_notes_are_audited_and_not_history(member, operator, submit):
    item = submit(member)

    services.note_add(item=item, actor=operator.user, body="Looks like the CSV bug.")

    assert AuditLog.objects.filter(action="feedback.note_add").exists()
    assert all(entry.kind != "note" for entry in selectors.feedback_history(item=item))


# --- votes and impact -----------------------------------------------------------------------------------------


def test_votes_count_once_and_move_the_impact(member, other_member, submit):
    item = submit(member)
    base = FeedbackItem.objects.get(pk=item.pk).impact_score

    assert services.vote_add(item=item, member=other_member) is True
    assert services.vote_add(item=item, member=other_member) is False

    item.refresh_from_db()
    assert (item.vote_count, item.impact_score) == (1, base + VOTE_WEIGHT)
    assert services.vote_remove(item=item, member=other_member) is True
    assert services.vote_remove(item=item, member=other_member) is False
    item.refresh_from_db()
    assert (item.vote_count, item.impact_score) == (0, base)


def test_no_vote_on_your_own_or_on_someone_elses_private_feedback(member, other_member, submit):
    with pytest.raises(ServiceError):
        services.vote_add(item=submit(member), member=member)
    with pytest.raises(ServiceError):
        services.vote_add(item=submit(member, visibility="private"), member=other_member)


def test_impact_follows_priority_and_the_submitters_segment(member, operator, submit):
    member.segment = "loyal"
    member.save(update_fields=["segment"])
    item = submit(member)
    assert item.impact_score == 10 + PRIORITY_WEIGHT[1]

    services.item_triage(item=item, actor=operator.user, priority=3)

    item.refresh_from_db()
    assert item.impact_score == 10 + PRIORITY_WEIGHT[3]
    assert selectors.member_contribution_score(member=member) == item.impact_score


# --- merging ------------------------------------------------------------------------------------------------


def test_merging_carries_votes_subscribers_and_author_over_once_each(member, other_member, operator, submit):
    original = submit(member, title="Export to CSV fails")
    third, fourth = MemberFactory(), MemberFactory()
    duplicate = submit(other_member, title="CSV export broken")
    services.vote_add(item=original, member=third)
    services.vote_add(item=duplicate, member=third)  # voted on both: counts once
    services.vote_add(item=duplicate, member=fourth)
    services.vote_add(item=duplicate, member=member)  # the original's author: never a vote on their own
    services.subscription_add(item=duplicate, member=fourth)

    result = services.item_merge(duplicate=duplicate, original=original, actor=operator.user)

    assert result.pk == original.pk
    voters = set(Vote.objects.filter(item=original).values_list("member_id", flat=True))
    assert voters == {third.pk, fourth.pk, other_member.pk}
    assert result.vote_count == 3
    subscribers = set(Subscription.objects.filter(item=original).values_list("member_id", flat=True))
    assert subscribers == {fourth.pk, other_member.pk}
    duplicate.refresh_from_db()
    assert (duplicate.merged_into_id, duplicate.status.key, duplicate.vote_count) == (original.pk, "duplicate", 0)
    told = set(Notification.objects.filter(kind="feedback_merged").values_list("member_id", flat=True))
    assert {other_member.pk, fourth.pk, third.pk, member.pk} == told


def test_merging_back_and_forth_is_refused(member, operator, submit):
    a, b = submit(member, title="First copy"), submit(member, title="Second copy")
    services.item_merge(duplicate=a, original=b, actor=operator.user)

    with pytest.raises(ServiceError) as refused:
        services.item_merge(duplicate=b, original=a, actor=operator.user)

    assert "merged into" in refused.value.message
    with pytest.raises(ServiceError):
        services.item_merge(duplicate=a, original=a, actor=operator.user)
    b.refresh_from_db()
    assert b.merged_into_id is None


def test_merging_into_an_item_whose_duplicates_follow_it(member, operator, submit):
    a, b, c = (submit(member, title=f"Copy number {n}") for n in range(3))
    services.item_merge(duplicate=a, original=b, actor=operator.user)

    services.item_merge(duplicate=b, original=c, actor=operator.user)

    a.refresh_from_db()
    assert a.merged_into_id == c.pk  # no chain a → b → c


def test_votes_on_a_merged_item_are_refused(member, other_member, operator, submit):
    a, b = submit(member, title="First copy"), submit(member, title="Second copy")
    services.item_merge(duplicate=a, original=b, actor=operator.user)

    with pytest.raises(ServiceError):
        services.vote_add(item=a, member=other_member)


def test_only_staff_can_be_assigned(member, operator, submit):
    item = submit(member)

    with pytest.raises(ServiceError):
        services.item_triage(item=item, actor=operator.user, assignee=member.user)
    services.item_triage(item=item, actor=operator.user, assignee=staff_member("operator").user)
