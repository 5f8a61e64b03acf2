"""The operators' face: the dashboard, audited saves, the token action, and changelists at a constant query count."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from community import roles, services
from community.models import Activity, ApiToken, AuditLog, FollowUpTask, Notification
from community.services import follow_up_task_file
from members.models import Member, Tag, User
from tests.factories import ActivityFactory, MemberFactory, NotificationFactory, TagFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(db):
    return MemberFactory(user__is_staff=True, user__is_superuser=True, display_name="Sue Super").user


def admin_url(model: type, view: str = "changelist", *args: object) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def password_url(user: User) -> str:
    return f"{admin_url(User, 'change', user.pk).removesuffix('change/')}password/"


# --- the dashboard ----------------------------------------------------------------------------------------


def test_dashboard_shows_the_headline_figures_to_an_operator(web_operator, member, other_member):
    now = timezone.now()
    ActivityFactory(member=member, verb="checked_in", occurred_at=now, local_date=timezone.localdate(now))
    ActivityFactory(member=member, verb="checked_in", occurred_at=now, local_date=timezone.localdate(now))
    ActivityFactory(member=other_member, verb="gave_feedback", occurred_at=now, local_date=timezone.localdate(now))
    old = now - timedelta(days=20)
    ActivityFactory(member=other_member, verb="checked_in", occurred_at=old, local_date=timezone.localdate(old))
    NotificationFactory(member=member, email_status=Notification.EmailStatus.FAILED)
    follow_up_task_file(kind="feedback_overdue", title="Late", dedupe_key="late")
    follow_up_task_file(kind="member_quiet", title="Quiet", dedupe_key="quiet")
    done, _created = follow_up_task_file(kind="feedback_overdue", title="Answered", dedupe_key="answered")
    FollowUpTask.objects.filter(pk=done.pk).update(status=FollowUpTask.Status.DONE)
    # The dashboard reads the analytics rollups (written every 15 minutes), never the raw stream.
    from analytics.services.rollups import rollups_rebuild

    rollups_rebuild(start=timezone.localdate(old) - timedelta(days=1), end=timezone.localdate(now))

    response = web_operator.get("/admin/")

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    assert dashboard["members_total"] == 3  # two members and the operator
    assert dashboard["members_new_7d"] == 3
    assert dashboard["active_today"] == 2
    assert dashboard["active_7d"] == 2
    assert dashboard["active_30d"] == 2
    assert dashboard["actions_7d"] == 3
    assert dashboard["top_verbs_7d"] == [{"verb": "checked_in", "count": 2}, {"verb": "gave_feedback", "count": 1}]
    assert dashboard["emails_failed"] == 1
    assert (dashboard["feedback_overdue"], dashboard["follow_ups_open"]) == (1, 2)
    text = response.content.decode()
    assert "Program at a glance" in text
    assert "emails that could not be sent" in text
    assert "gave_feedback" in text


def test_dashboard_is_not_shown_to_a_plain_member(client, member):
    client.force_login(member.user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    # allauth's admin log-in refuses a signed-in account that is not staff.
    final = client.get("/admin/", follow=True)
    assert final.status_code == 403
    assert "dashboard" not in (final.context or {})
    assert "Program at a glance" not in final.content.decode()


def test_dashboard_for_anonymous_goes_to_the_allauth_login(client):
    response = client.get("/admin/", follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))
    assert "Program at a glance" not in response.content.decode()


def test_operators_see_the_models_they_run(web_operator):
    response = web_operator.get("/admin/")

    text = response.content.decode()
    for model in (Member, User, Tag, Activity, Notification, AuditLog, ApiToken):
        assert admin_url(model) in text


# --- audited saves ----------------------------------------------------------------------------------------


def member_form_data(member: Member, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "display_name": member.display_name,
        "bio": member.bio,
        "locale": member.locale,
        "time_zone": member.time_zone,
        "tags": [tag.pk for tag in member.tags.all()],
        "_save": "Save",
    }
    data.update(changes)
    return data


def test_saving_a_member_in_the_admin_is_audited_with_before_after_and_actor(web_operator, operator, member):
    beta = TagFactory(name="beta")

    response = web_operator.post(
        admin_url(Member, "change", member.pk),
        member_form_data(member, display_name="Lin Mei (beta)", time_zone="UTC", tags=[beta.pk]),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    member.refresh_from_db()
    assert member.display_name == "Lin Mei (beta)"
    audit = AuditLog.objects.get(action="members.member.change.admin")
    assert audit.actor == operator.user
    assert audit.object_id == str(member.pk)
    assert audit.object_type == ContentType.objects.get_for_model(Member)
    assert audit.before["display_name"] == "Lin Mei" and audit.after["display_name"] == "Lin Mei (beta)"
    assert audit.before["time_zone"] == "Asia/Shanghai" and audit.after["time_zone"] == "UTC"
    assert audit.before["tags"] == [] and audit.after["tags"] == [beta.pk]


def test_a_refused_member_save_writes_no_audit(web_operator, member):
    response = web_operator.post(admin_url(Member, "change", member.pk), member_form_data(member, time_zone="Nowhere"))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["time_zone"]
    assert not AuditLog.objects.filter(action__endswith=".admin").exists()


def test_deleting_a_tag_in_the_admin_is_audited(web_operator, operator, member):
    tag = TagFactory(name="early-adopter", description="joined in the first month")
    member.tags.add(tag)

    response = web_operator.post(admin_url(Tag, "delete", tag.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not Tag.objects.filter(pk=tag.pk).exists()
    audit = AuditLog.objects.get(action="members.tag.delete.admin")
    assert audit.actor == operator.user
    assert audit.object_id == str(tag.pk)
    assert audit.before == {"id": tag.pk, "name": "early-adopter", "description": "joined in the first month"}


def test_bulk_deleting_tags_is_audited_per_tag(web_operator, operator):
    tags = TagFactory.create_batch(2)

    response = web_operator.post(
        admin_url(Tag),
        {"action": "delete_selected", "_selected_action": [t.pk for t in tags], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Tag.objects.exists()
    audits = AuditLog.objects.filter(action="members.tag.delete.admin")
    assert sorted(audits.values_list("object_id", flat=True)) == sorted(str(t.pk) for t in tags)
    assert all(a.actor_id == operator.user.pk for a in audits)


def test_creating_a_user_in_the_admin_creates_its_member(web_operator, operator):
    response = web_operator.post(
        admin_url(User, "add"),
        {"email": "new.hire@example.com", "password1": "kettle-harbour-93", "password2": "kettle-harbour-93"},
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user = User.objects.get(email="new.hire@example.com")
    assert user.check_password("kettle-harbour-93")
    member = Member.objects.get(user=user)
    assert member.display_name == "new.hire"
    assert not Notification.objects.filter(member=member).exists()
    created = AuditLog.objects.get(action="member.create", object_id=str(member.pk))
    assert created.actor == operator.user
    added = AuditLog.objects.get(action="members.user.add.admin")
    assert added.actor == operator.user
    assert added.after["email"] == "new.hire@example.com"
    assert user.password not in json.dumps([added.before, added.after])


@pytest.mark.parametrize("email", ["lin.mei@example.com", "LIN.MEI@example.com"])
def test_creating_a_user_with_a_taken_email_is_a_form_error(web_operator, email):
    MemberFactory(user__email="lin.mei@example.com")

    response = web_operator.post(
        admin_url(User, "add"), {"email": email, "password1": "kettle-harbour-93", "password2": "kettle-harbour-93"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert User.objects.filter(email__iexact="lin.mei@example.com").count() == 1


def test_changing_a_user_in_the_admin_records_groups_and_never_the_hash(web_operator, operator, member):
    user = member.user
    moderators = Group.objects.get(name=roles.MODERATOR)

    response = web_operator.post(
        admin_url(User, "change", user.pk),
        {
            "email": user.email,
            "is_active": "on",
            "is_staff": "on",
            "groups": [moderators.pk],
            "last_login_0": "",
            "last_login_1": "",
            "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
            "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
            "_save": "Save",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    user.refresh_from_db()
    assert user.is_staff and list(user.groups.all()) == [moderators]
    audit = AuditLog.objects.get(action="members.user.change.admin")
    assert audit.actor == operator.user
    assert (audit.before["is_staff"], audit.after["is_staff"]) == (False, True)
    assert (audit.before["groups"], audit.after["groups"]) == ([], [moderators.pk])
    dumped = json.dumps([audit.before, audit.after])
    assert "password" not in audit.after and user.password not in dumped


def test_an_operator_cannot_make_anyone_superuser(web_operator, operator):
    response = web_operator.get(admin_url(User, "change", operator.user.pk))
    form = response.context["adminform"].form
    assert "is_superuser" not in form.fields
    assert "user_permissions" not in form.fields

    web_operator.post(
        admin_url(User, "change", operator.user.pk),
        {
            "email": operator.user.email,
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "groups": [Group.objects.get(name=roles.OPERATOR).pk],
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
            "_save": "Save",
        },
    )

    operator.user.refresh_from_db()
    assert not operator.user.is_superuser


def test_an_operator_cannot_change_or_reset_a_superuser(web_operator, superuser):
    old_hash = superuser.password

    change = web_operator.get(admin_url(User, "change", superuser.pk))
    password = web_operator.post(
        password_url(superuser),
        {"password1": "taken-over-9", "password2": "taken-over-9", "set_usable_password": "true"},
    )
    delete = web_operator.post(
        admin_url(User), {"action": "delete_selected", "_selected_action": [superuser.pk], "post": "yes"}
    )

    assert change.status_code == 200
    assert not change.context["has_change_permission"]
    assert password.status_code == 403
    assert delete.status_code == 403
    superuser.refresh_from_db()
    assert superuser.password == old_hash
    assert User.objects.filter(pk=superuser.pk).exists()


def test_setting_a_password_in_the_admin_is_audited_without_the_hash(web_operator, operator, member):
    response = web_operator.post(
        password_url(member.user),
        {"password1": "fresh-kettle-41", "password2": "fresh-kettle-41", "set_usable_password": "true"},
    )

    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password("fresh-kettle-41")
    audit = AuditLog.objects.get(action="members.user.password_change.admin")
    assert audit.actor == operator.user
    assert audit.object_id == str(member.user.pk)
    assert member.user.password not in json.dumps([audit.before, audit.after])


def test_a_refused_password_change_is_not_audited(web_operator, member):
    response = web_operator.post(
        password_url(member.user),
        {"password1": "fresh-kettle-41", "password2": "other-kettle-41", "set_usable_password": "true"},
    )

    assert response.status_code == 200
    assert not AuditLog.objects.filter(action="members.user.password_change.admin").exists()


# --- API tokens -------------------------------------------------------------------------------------------


def test_the_revoke_action_revokes_the_selected_tokens(web_operator, operator, member, other_member):
    first, _k1 = services.api_token_create(user=member.user, name="one")
    second, _k2 = services.api_token_create(user=other_member.user, name="two")
    kept, _k3 = services.api_token_create(user=member.user, name="kept")
    already, _k4 = services.api_token_create(user=member.user, name="old")
    services.api_token_revoke(actor=member.user, token=already)

    response = web_operator.post(
        admin_url(ApiToken),
        {"action": "revoke", "_selected_action": [first.pk, second.pk, already.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 2 tokens." in response.content.decode()
    revoked = set(ApiToken.objects.filter(revoked_at__isnull=False).values_list("pk", flat=True))
    assert revoked == {first.pk, second.pk, already.pk}
    kept.refresh_from_db()
    assert kept.revoked_at is None
    audits = AuditLog.objects.filter(action="api_token.revoke", actor=operator.user)
    assert sorted(audits.values_list("object_id", flat=True)) == sorted([str(first.pk), str(second.pk)])


def test_the_revoke_action_needs_the_change_permission(client, analyst, member):
    token, _key = services.api_token_create(user=member.user, name="one")
    client.force_login(analyst.user)

    client.post(admin_url(ApiToken), {"action": "revoke", "_selected_action": [token.pk]})

    token.refresh_from_db()
    assert token.revoked_at is None


def test_token_pages_never_show_the_hash(web_operator, member):
    token, raw_key = services.api_token_create(user=member.user, name="one")

    for url in (admin_url(ApiToken), admin_url(ApiToken, "change", token.pk)):
        text = web_operator.get(url).content.decode()
        assert token.key_hash not in text and raw_key not in text


# --- changelists ------------------------------------------------------------------------------------------


def make_activities(count: int) -> None:
    tag_type = ContentType.objects.get_for_model(Tag)
    for index in range(count):
        ActivityFactory(verb=f"verb_{index % 4}", target_type=tag_type, target_id=str(index))


def make_notifications(count: int) -> None:
    NotificationFactory.create_batch(count)


def make_audit_records(count: int) -> None:
    for _index in range(count):
        member = MemberFactory()
        services.audit_record(actor=member.user, action="member.note", obj=member, after={"x": 1})


def make_members(count: int) -> None:
    tags = TagFactory.create_batch(3)
    for _index in range(count):
        MemberFactory().tags.set(tags)


def make_users(count: int) -> None:
    UserFactory.create_batch(count)


CHANGELISTS = [
    pytest.param(Activity, make_activities, id="activity"),
    pytest.param(Notification, make_notifications, id="notification"),
    pytest.param(AuditLog, make_audit_records, id="auditlog"),
    pytest.param(Member, make_members, id="member"),
    pytest.param(User, make_users, id="user"),
]


@pytest.mark.parametrize(("model", "make"), CHANGELISTS)
def test_changelist_query_count_does_not_grow_with_rows(web_operator, django_assert_num_queries, model, make):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make(3)
    web_operator.get(admin_url(model))  # warm the content-type cache
    with CaptureQueriesContext(connection) as few:
        response = web_operator.get(admin_url(model))
    assert response.status_code == 200

    make(27)
    with django_assert_num_queries(len(few.captured_queries)):
        response = web_operator.get(admin_url(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == model._default_manager.count()


@pytest.mark.parametrize(("model", "make"), CHANGELISTS)
def test_change_pages_render_for_an_operator(web_operator, model, make):
    make(1)
    obj = model._default_manager.order_by("-pk").first()

    response = web_operator.get(admin_url(model, "change", obj.pk))

    assert response.status_code == 200


@pytest.mark.parametrize(("model", "make"), CHANGELISTS)
def test_changelists_are_closed_to_plain_members(client, member, model, make):
    client.force_login(member.user)

    response = client.get(admin_url(model))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
