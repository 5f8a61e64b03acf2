"""An operator merges two member records: what can move moves, points through the ledger, audited."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from community.models import Activity, AuditLog, Notification
from engage.models import EventRegistration
from engage.services.events import event_check_in, event_register
from feedback.models import FeedbackItem, Subscription, SurveyResponse, Vote
from feedback.services import item_submit, report_file, subscription_add, survey_respond, vote_add
from feedback.services.common import PRIORITY_WEIGHT, VOTE_WEIGHT
from integrations.api.merge import MemberMergeResultSerializer
from integrations.models import ExternalIdentity
from integrations.services.identities import external_identity_link
from members.models import Member, User
from rewards.models import BadgeAward, CheckIn, MemberStreak, PointBalance, PointEntry
from rewards.services.checkin import checkin_perform
from rewards.services.ledger import points_award, points_spend
from tests.engage.factories import EventFactory, QuestionFactory
from tests.factories import ActivityFactory, MemberFactory, NotificationFactory, TagFactory
from tests.feedback.factories import QuestionFactory as SurveyQuestionFactory
from tests.integrations.conftest import token_client
from tests.members.factories import ApplicationFactory, RoundFactory
from tests.rewards.factories_badges import BadgeFactory
from tests.rewards.factories_shop import RedemptionFactory, RewardFactory

MERGES = "/api/v1/member-merges/"


def test_merge_moves_activity_identities_tags_and_points(api_operator, operator, member, other_member):
    ActivityFactory.create_batch(3, member=member)
    ActivityFactory(member=other_member)
    NotificationFactory(member=member)
    external_identity_link(actor=None, member=member, provider="product", external_id="u_dup")
    member.tags.add(TagFactory(name="beta"))
    points_award(member=member, amount=30, reason="x", idempotency_key="m:1")
    points_spend(member=member, amount=10, reason="shop", idempotency_key="m:2")
    points_award(member=other_member, amount=5, reason="x", idempotency_key="m:3")

    response = api_operator.post(MERGES, {"source": member.pk, "target": other_member.pk}, format="json")

    assert response.status_code == 200, response.content
    moved = response.json()
    assert moved["activities"] >= 3 and moved["points"] == 30 and moved["external_identities"] == 1
    assert not Activity.objects.filter(member=member).exists()
    assert not Notification.objects.filter(member=member).exists()
    assert ExternalIdentity.objects.get(external_id="u_dup").member == other_member
    assert list(other_member.tags.values_list("name", flat=True)) == ["beta"]
    source_balance = PointBalance.objects.get(member=member)
    target_balance = PointBalance.objects.get(member=other_member)
    assert (source_balance.lifetime, source_balance.spendable) == (0, 0)
    assert (target_balance.lifetime, target_balance.spendable) == (35, 25)
    # The ledger still adds up for both (entries are appended, never edited).
    for m, balance in ((member, source_balance), (other_member, target_balance)):
        entries = PointEntry.objects.filter(member=m)
        assert sum(e.lifetime_delta for e in entries) == balance.lifetime
        assert sum(e.spendable_delta for e in entries) == balance.spendable
    member.refresh_from_db()
    assert member.status == Member.Status.REMOVED
    audit = AuditLog.objects.get(action="member.merge")
    assert audit.actor == operator.user and audit.after["points"] == 30


def test_merge_twice_is_refused(api_operator, member, other_member):
    assert api_operator.post(MERGES, {"source": member.pk, "target": other_member.pk}, format="json").status_code == 200
    again = api_operator.post(MERGES, {"source": member.pk, "target": other_member.pk}, format="json")
    assert again.status_code == 400
    same = api_operator.post(MERGES, {"source": other_member.pk, "target": other_member.pk}, format="json")
    assert same.status_code == 400


def test_a_staff_account_cannot_be_merged_away(api_operator, operator, member):
    response = api_operator.post(MERGES, {"source": operator.pk, "target": member.pk}, format="json")
    assert response.status_code == 400


def test_merge_permissions(api_member, operator, member, other_member):
    body = {"source": member.pk, "target": other_member.pk}
    assert api_member.post(MERGES, body, format="json").status_code == 403
    assert token_client(operator.user, scopes=["members:read"]).post(MERGES, body, format="json").status_code == 403
    assert (
        token_client(operator.user, scopes=["members:write"], name="w").post(MERGES, body, format="json").status_code
        == 200
    )


def test_admin_merge_page(web_operator, member, other_member):
    url = "/admin/integrations/externalidentity/merge-members/"
    assert web_operator.get(url).status_code == 200
    assert web_operator.get("/admin/integrations/externalidentity/").status_code == 200

    response = web_operator.post(url, {"source": member.pk, "target": other_member.pk})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Member.Status.REMOVED


def test_admin_merge_page_shows_refusals(web_operator, member):
    response = web_operator.post(
        "/admin/integrations/externalidentity/merge-members/", {"source": member.pk, "target": member.pk}
    )
    assert response.status_code == 200
    assert b"two different members" in response.content


# --- every app's part of the merge ----------------------------------------------------------------------------


def _badge_award(member, badge, *, days_ago: int) -> BadgeAward:
    award = BadgeAward.objects.create(member=member, badge=badge, evidence={"granted": True})
    BadgeAward.objects.filter(pk=award.pk).update(awarded_at=timezone.now() - timedelta(days=days_ago))
    return award


@pytest.fixture
def two_records(member, other_member, operator):
    """`member` (the duplicate, merged away) and `other_member` (the survivor), each with a bit of everything."""
    source, target, third = member, other_member, MemberFactory(display_name="Third")
    Member.objects.filter(pk=source.pk).update(bio="I test the beta.", occupation="designer")
    source.refresh_from_db()
    # Badges: both hold `shared` (the source's is older), only the source holds `solo`.
    shared_badge, solo_badge = BadgeFactory(slug="pioneer"), BadgeFactory(slug="helper")
    old_award = _badge_award(source, shared_badge, days_ago=30)
    new_award = _badge_award(target, shared_badge, days_ago=2)
    solo_award = _badge_award(source, solo_badge, days_ago=5)
    # Feedback: the source's own items (one private), both vote and follow a third member's item, the target
    # voted on the source's item (which becomes its own).
    source_item = item_submit(author=source, kind="idea", title="Dark mode please", body="For the night.")
    private_item = item_submit(
        author=source, kind="bug", title="Crash on login", body="Every time.", visibility="private"
    )
    third_item = item_submit(author=third, kind="idea", title="Offline sync", body="On the train.")
    for voter in (source, target):
        assert vote_add(item=third_item, member=voter)
        subscription_add(item=third_item, member=voter)
    assert vote_add(item=source_item, member=target)
    report = report_file(reporter=source, target=third_item, reason="spam")
    # Surveys: both answered `both_survey`, only the source `solo_survey`.
    both_q, solo_q = SurveyQuestionFactory(), SurveyQuestionFactory()
    survey_respond(survey=both_q.survey, member=source, answers={both_q.pk: 3})
    survey_respond(survey=both_q.survey, member=target, answers={both_q.pk: 9})
    survey_respond(survey=solo_q.survey, member=source, answers={solo_q.pk: 7})
    # Events: the source holds a seat where the target is waitlisted; both hold a seat where a third waits.
    small = EventFactory(capacity=1)
    source_seat = event_register(member=source, event=small)
    event_register(member=target, event=small)
    full = EventFactory(capacity=2)
    event_register(member=source, event=full)
    event_register(member=target, event=full)
    waiting = event_register(member=third, event=full)
    question = QuestionFactory(member=source)
    # Recruitment: the source's accepted application, and one round where both have an active application.
    accepted = ApplicationFactory(member=source, status="accepted", stage=3)
    both_round = RoundFactory()
    source_app = ApplicationFactory(round=both_round, member=source, status="screening", stage=1)
    target_app = ApplicationFactory(round=both_round, member=target, status="submitted", stage=0)
    # Points and a redemption.
    points_award(member=source, amount=30, reason="x", idempotency_key="e:1")
    points_award(member=target, amount=5, reason="x", idempotency_key="e:2")
    redemption = RedemptionFactory(member=source, reward=RewardFactory(price=10))
    balances = {m.pk: PointBalance.objects.get(member=m) for m in (source, target)}
    return SimpleNamespace(
        source=source,
        target=target,
        third=third,
        old_award=old_award,
        new_award=new_award,
        solo_award=solo_award,
        source_item=source_item,
        private_item=private_item,
        third_item=third_item,
        report=report,
        both_survey=both_q.survey,
        solo_survey=solo_q.survey,
        small=small,
        source_seat=source_seat,
        full=full,
        waiting=waiting,
        question=question,
        accepted=accepted,
        source_app=source_app,
        target_app=target_app,
        redemption=redemption,
        lifetime=balances[source.pk].lifetime + balances[target.pk].lifetime,
    )


def test_merge_moves_what_every_app_holds(api_operator, operator, two_records):
    r = two_records
    response = api_operator.post(MERGES, {"source": r.source.pk, "target": r.target.pk}, format="json")

    assert response.status_code == 200, response.content
    moved = response.json()
    source, target = r.source, r.target
    # Badges: the earlier award of the shared badge is kept (now the target's), the later one revoked.
    held = {a.badge.slug: a for a in BadgeAward.objects.filter(member=target, revoked_at__isnull=True)}
    assert set(held) == {"pioneer", "helper"}
    assert held["pioneer"].pk == r.old_award.pk and held["helper"].pk == r.solo_award.pk
    r.new_award.refresh_from_db()
    assert r.new_award.revoked_at is not None and r.new_award.member == target
    assert not BadgeAward.objects.filter(member=source).exists()
    # Feedback: items moved; one vote on the shared item, recounted; the target's vote on what is now its own
    # item is gone; one follow.
    assert set(FeedbackItem.objects.filter(author=target)) == {r.source_item, r.private_item}
    r.third_item.refresh_from_db()
    r.source_item.refresh_from_db()
    assert list(Vote.objects.filter(item=r.third_item).values_list("member_id", flat=True)) == [target.pk]
    assert r.third_item.vote_count == 1 and r.source_item.vote_count == 0
    assert (
        r.third_item.impact_score
        == FeedbackItem.objects.filter(pk=r.third_item.pk).values_list("submitter_weight", flat=True).get()
        + VOTE_WEIGHT
        + PRIORITY_WEIGHT[r.third_item.priority]
    )
    assert not Vote.objects.filter(item=r.source_item).exists()
    assert Subscription.objects.filter(item=r.third_item, member=target).count() == 1
    assert not Vote.objects.filter(member=source).exists()
    assert not Subscription.objects.filter(member=source).exists()
    r.report.refresh_from_db()
    assert r.report.reporter == target
    # Surveys: the target's own response kept where both answered, the source's other one moved.
    assert SurveyResponse.objects.get(survey=r.both_survey).member == target
    assert SurveyResponse.objects.get(survey=r.both_survey).answers.get().number == 9
    assert SurveyResponse.objects.get(survey=r.solo_survey).member == target
    assert not SurveyResponse.objects.filter(member=source).exists()
    # Events: the better registration is kept; a seat freed by the duplicate goes to the waitlist.
    small = EventRegistration.objects.get(event=r.small)
    assert (small.pk, small.member, small.status) == (r.source_seat.pk, target, "registered")
    assert EventRegistration.objects.filter(event=r.full, member=target, status="registered").count() == 1
    r.waiting.refresh_from_db()
    assert r.waiting.status == "registered"
    assert not EventRegistration.objects.filter(member=source).exists()
    r.question.refresh_from_db()
    assert r.question.member == target
    # Recruitment: applications moved; the one further along is kept active in the shared round.
    r.accepted.refresh_from_db()
    r.source_app.refresh_from_db()
    r.target_app.refresh_from_db()
    assert r.accepted.member == target and r.accepted.status == "accepted"
    assert (r.source_app.member, r.source_app.status) == (target, "screening")
    assert r.target_app.status == "withdrawn"
    # Profile gaps filled from the source.
    target.refresh_from_db()
    assert (target.bio, target.occupation) == ("I test the beta.", "designer")
    # Points: none lost, the ledger adds up; the redemption follows the person.
    assert PointBalance.objects.get(member=target).lifetime == r.lifetime
    assert PointBalance.objects.get(member=source).lifetime == 0
    entries = PointEntry.objects.filter(member=target)
    assert sum(e.lifetime_delta for e in entries) == r.lifetime
    r.redemption.refresh_from_db()
    assert r.redemption.member == target
    # What moved is answered and audited, and every app recorded its part.
    assert moved["badge_awards"] == 2 and moved["badge_awards_revoked"] == 1
    assert moved["feedback_items"] == 2 and moved["feedback_votes"] == 0 and moved["feedback_votes_dropped"] == 2
    assert moved["survey_responses"] == 1 and moved["survey_responses_dropped"] == 1
    assert moved["event_registrations"] == 1 and moved["event_registrations_dropped"] == 2
    assert moved["waitlist_promoted"] == 1
    assert moved["applications"] == 2 and moved["applications_withdrawn"] == 1
    assert AuditLog.objects.get(action="member.merge").after == moved
    assert set(moved) == set(MemberMergeResultSerializer().fields)  # the schema documents every count
    for action in ("members.member_merge", "feedback.member_merge", "engage.member_merge", "rewards.member_merge"):
        assert AuditLog.objects.get(action=action).actor == operator.user
    source.refresh_from_db()
    assert source.status == Member.Status.REMOVED


def test_a_source_seat_checked_in_beats_the_targets_and_check_ins_merge_into_one_streak(
    web_operator, member, other_member
):
    source, target = member, other_member
    event = EventFactory(capacity=5)
    seat = event_register(member=source, event=event)
    event_check_in(event=event, code=seat.check_in_code, actor=None)
    event_register(member=target, event=event)
    start = timezone.now() - timedelta(days=10)
    for member_, days in ((source, (0, 1)), (target, (1, 2, 3))):
        for day in days:
            checkin_perform(member=member_, now=start + timedelta(days=day))

    response = web_operator.post(
        "/admin/integrations/externalidentity/merge-members/", {"source": source.pk, "target": target.pk}
    )

    assert response.status_code == 302
    kept = EventRegistration.objects.get(event=event)
    assert kept.pk == seat.pk and kept.member == target and kept.checked_in_at is not None
    assert CheckIn.objects.filter(member=target).count() == 4  # the shared day counted once
    streak = MemberStreak.objects.get(member=target)
    assert streak.longest == 4 and streak.last_local_date == CheckIn.objects.filter(member=target).first().local_date


def test_the_merged_away_records_pages_answer_404_and_the_survivors_answer(api_operator, two_records):
    """The source keeps its account but is removed from the program; what it owned now answers for the target
    only: its private feedback and its redemption are 404 to the source and 200 to the target, and the source can
    no longer take part."""
    r = two_records
    assert api_operator.post(MERGES, {"source": r.source.pk, "target": r.target.pk}, format="json").status_code == 200
    as_source, as_target = Client(), Client()
    as_source.force_login(r.source.user)
    as_target.force_login(r.target.user)

    for path in (f"/feedback/{r.private_item.pk}/", f"/rewards/shop/redemptions/{r.redemption.pk}/"):
        assert as_source.get(path).status_code == 404, path
        assert as_target.get(path).status_code == 200, path
    assert r.private_item.title.encode() in as_target.get("/feedback/mine/").content
    assert r.private_item.title.encode() not in as_source.get("/feedback/mine/").content
    api_source = APIClient()
    api_source.force_authenticate(User.objects.get(pk=r.source.user_id))  # as a request would load it
    assert api_source.get(f"/api/v1/feedback/{r.private_item.pk}/").status_code == 404
    assert api_source.post(f"/api/v1/feedback/{r.third_item.pk}/vote/").status_code in (400, 403)
    detail = api_operator.get(f"/api/v1/members/{r.source.pk}/")
    assert detail.status_code == 200 and detail.json()["status"] == "removed"
