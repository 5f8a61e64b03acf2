"""Members over the API: operators list and read everyone; a member reads and edits only their own profile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from community.models import AuditLog
from members.models import Member, User
from tests.factories import MemberFactory, TagFactory, UserFactory

MEMBERS = "/api/v1/members/"
ME = "/api/v1/members/me/"
# operator group lookup + count + page (account joined in) + the page's tags; the same however many members.
MEMBER_LIST_QUERIES = 4
MEMBER_FIELDS = {
    "id",
    "display_name",
    "email",
    "avatar",
    "bio",
    "locale",
    "time_zone",
    "tags",
    "joined_at",
    "status",
    "left_at",
    "segment",
    "age_band",
    "occupation",
    "interests",
    "needs",
}


def fresh_client(user: User) -> APIClient:
    """A client signed in as a freshly loaded user, so nothing cached on an earlier request's user is reused."""
    client = APIClient()
    client.force_authenticate(User.objects.get(pk=user.pk))
    return client


def ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


# --- anonymous --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), [("get", MEMBERS), ("get", f"{MEMBERS}1/"), ("get", ME), ("patch", ME)])
def test_anonymous_is_401_with_a_bearer_challenge(api_anon, member, method, path):
    response = getattr(api_anon, method)(path, {"display_name": "x"}, format="json")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    member.refresh_from_db()
    assert member.display_name == "Lin Mei"


# --- list -------------------------------------------------------------------------------------------------


def test_an_operator_lists_every_member(api_operator, operator, member, other_member):
    response = api_operator.get(MEMBERS)

    assert response.status_code == 200
    assert sorted(ids(response)) == sorted([operator.pk, member.pk, other_member.pk])
    row = next(r for r in response.json()["results"] if r["id"] == member.pk)
    assert set(row) == MEMBER_FIELDS
    assert row["email"] == member.user.email


@pytest.mark.parametrize("who", ["api_member", "api_other"])
def test_a_member_may_not_list_members(request, member, other_member, who):
    response = request.getfixturevalue(who).get(MEMBERS)

    assert response.status_code == 403
    assert member.user.email not in response.content.decode()
    assert other_member.user.email not in response.content.decode()


def test_a_member_may_not_list_members_even_with_filters(api_member, other_member):
    assert api_member.get(MEMBERS, {"q": "Zhang"}).status_code == 403
    assert api_member.get(MEMBERS, {"joined_after": "garbage"}).status_code == 403


def test_an_operator_filters_members(api_operator, member, other_member):
    beta = TagFactory(name="beta")
    other_member.tags.add(beta)
    Member.objects.filter(pk=member.pk).update(locale="zh-hans", joined_at=timezone.now() - timedelta(days=400))

    assert ids(api_operator.get(MEMBERS, {"q": "zhang"})) == [other_member.pk]
    assert ids(api_operator.get(MEMBERS, {"tag": "beta"})) == [other_member.pk]
    assert ids(api_operator.get(MEMBERS, {"locale": "zh-hans"})) == [member.pk]
    recent = (timezone.now() - timedelta(days=30)).isoformat()
    assert member.pk not in ids(api_operator.get(MEMBERS, {"joined_after": recent}))
    assert api_operator.get(MEMBERS, {"q": "zhang"}).json()["results"][0]["tags"] == ["beta"]


def test_an_operator_orders_members(api_operator, operator, member, other_member):
    names = [row["display_name"] for row in api_operator.get(MEMBERS, {"ordering": "-display_name"}).json()["results"]]

    assert names == ["Zhang Wei", "Olga Operator", "Lin Mei"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"locale": "klingon"}, "locale"), ({"joined_after": "last spring"}, "joined_after")],
)
def test_a_malformed_filter_is_400_naming_it(api_operator, member, params, field):
    response = api_operator.get(MEMBERS, params)

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize("size", [3, 30])
def test_list_query_count_does_not_grow_with_members(operator, django_assert_num_queries, size):
    tags = [TagFactory(name="beta"), TagFactory(name="vip")]
    for _ in range(size - 1):
        MemberFactory().tags.set(tags)
    client = fresh_client(operator.user)

    with django_assert_num_queries(MEMBER_LIST_QUERIES):
        response = client.get(MEMBERS)

    assert response.status_code == 200
    assert len(response.json()["results"]) == size


# --- retrieve ---------------------------------------------------------------------------------------------


def test_an_operator_reads_any_member(api_operator, member):
    response = api_operator.get(f"{MEMBERS}{member.pk}/")

    assert response.status_code == 200
    assert response.json()["email"] == member.user.email


@pytest.mark.parametrize(("who", "whose"), [("api_member", "member"), ("api_other", "other_member")])
def test_a_member_reads_their_own_record(request, who, whose):
    person = request.getfixturevalue(whose)

    response = request.getfixturevalue(who).get(f"{MEMBERS}{person.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == person.pk


@pytest.mark.parametrize(
    ("who", "whose"), [("api_member", "other_member"), ("api_other", "member"), ("api_member", "operator")]
)
def test_a_member_cannot_read_someone_else(request, who, whose):
    person = request.getfixturevalue(whose)

    response = request.getfixturevalue(who).get(f"{MEMBERS}{person.pk}/")

    assert response.status_code == 404
    assert person.user.email not in response.content.decode()


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999"])
def test_retrieve_unknown_or_malformed_id_is_404(api_operator, pk):
    assert api_operator.get(f"{MEMBERS}{pk}/").status_code == 404


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_member_records_are_read_only_outside_me(api_operator, member, method):
    path = MEMBERS if method == "post" else f"{MEMBERS}{member.pk}/"

    response = getattr(api_operator, method)(path, {"display_name": "Renamed"}, format="json")

    assert response.status_code == 405
    member.refresh_from_db()
    assert member.display_name == "Lin Mei"


# --- me ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "whose"), [("api_operator", "operator"), ("api_member", "member"), ("api_other", "other_member")]
)
def test_me_is_each_personas_own_profile(request, who, whose):
    person = request.getfixturevalue(whose)

    response = request.getfixturevalue(who).get(ME)

    assert response.status_code == 200
    assert response.json()["id"] == person.pk
    assert response.json()["email"] == person.user.email


def test_me_for_an_account_without_a_profile_is_403(db):
    client = APIClient()
    client.force_authenticate(UserFactory())

    assert client.get(ME).status_code == 403
    assert client.patch(ME, {"display_name": "x"}, format="json").status_code == 403


def test_patch_me_changes_the_editable_fields(api_member, member, other_member):
    response = api_member.patch(
        ME,
        {"display_name": "  Lin M.  ", "bio": "Builds things.", "locale": "zh-hans", "time_zone": "Europe/Berlin"},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["display_name"], body["bio"], body["locale"], body["time_zone"]) == (
        "Lin M.",
        "Builds things.",
        "zh-hans",
        "Europe/Berlin",
    )
    member.refresh_from_db()
    assert (member.display_name, member.locale, member.time_zone) == ("Lin M.", "zh-hans", "Europe/Berlin")
    other_member.refresh_from_db()
    assert other_member.display_name == "Zhang Wei"
    record = AuditLog.objects.get(action="member.profile_update", object_id=str(member.pk))
    assert record.actor == member.user
    assert record.before["display_name"] == "Lin Mei"


@pytest.mark.parametrize("who", ["operator", "member", "other_member"])
def test_each_persona_patches_only_their_own_profile(request, operator, member, other_member, who):
    me = request.getfixturevalue(who)
    client = {"operator": "api_operator", "member": "api_member", "other_member": "api_other"}[who]

    response = request.getfixturevalue(client).patch(ME, {"bio": f"I am {who}."}, format="json")

    assert response.status_code == 200
    assert response.json()["id"] == me.pk
    bios = dict(Member.objects.filter(pk__in=[operator.pk, member.pk, other_member.pk]).values_list("pk", "bio"))
    assert bios == {pk: (f"I am {who}." if pk == me.pk else "") for pk in (operator.pk, member.pk, other_member.pk)}


def test_patch_me_with_one_field_leaves_the_rest(api_member, member):
    member.bio = "Original bio."
    member.save()

    response = api_member.patch(ME, {"locale": "zh-hans"}, format="json")

    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.bio, member.display_name, member.locale) == ("Original bio.", "Lin Mei", "zh-hans")


def test_patch_me_ignores_privileged_and_unknown_fields(api_member, member, other_member):
    TagFactory(name="vip")
    original = Member.objects.get(pk=member.pk)
    email = member.user.email

    response = api_member.patch(
        ME,
        {
            "id": other_member.pk,
            "user": other_member.user_id,
            "email": "hijack@example.com",
            "tags": ["vip"],
            "joined_at": "2001-01-01T00:00:00Z",
            "avatar": "avatars/evil.png",
            "is_staff": True,
            "bio": "Allowed change.",
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["id"] == member.pk
    member.refresh_from_db()
    member.user.refresh_from_db()
    assert member.bio == "Allowed change."
    assert member.user_id == original.user_id
    assert member.user.email == email
    assert member.user.is_staff is False
    assert list(member.tags.all()) == []
    assert member.joined_at == original.joined_at
    assert not member.avatar
    other_member.refresh_from_db()
    assert other_member.user_id != member.user_id
    assert User.objects.filter(email="hijack@example.com").count() == 0


def test_patch_me_with_nothing_editable_changes_nothing(api_member, member):
    response = api_member.patch(ME, {"email": "new@example.com", "joined_at": "2001-01-01T00:00:00Z"}, format="json")

    assert response.status_code == 200
    assert response.json()["email"] == member.user.email
    assert not AuditLog.objects.filter(action="member.profile_update").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"locale": "fr"}, "locale"),
        ({"locale": ""}, "locale"),
        ({"locale": None}, "locale"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"time_zone": "asia/shanghai "}, "time_zone"),
        ({"time_zone": 8}, "time_zone"),
        ({"display_name": ""}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"display_name": None}, "display_name"),
        ({"display_name": "x" * 81}, "display_name"),
        ({"display_name": ["Lin"]}, "display_name"),
        ({"display_name": "Lin\x00Mei"}, "display_name"),
        ({"bio": "b" * 2001}, "bio"),
        ({"bio": {"text": "hi"}}, "bio"),
    ],
)
def test_patch_me_rejects_bad_values_with_field_messages(api_member, member, payload, field):
    before = Member.objects.get(pk=member.pk)

    response = api_member.patch(ME, payload, format="json")

    assert response.status_code == 400, response.content
    messages = response.json()[field]
    assert isinstance(messages, list) and all(isinstance(m, str) and m for m in messages)
    member.refresh_from_db()
    assert (member.display_name, member.bio, member.locale, member.time_zone) == (
        before.display_name,
        before.bio,
        before.locale,
        before.time_zone,
    )
    assert not AuditLog.objects.filter(action="member.profile_update").exists()


def test_patch_me_reports_every_bad_field_at_once(api_member):
    response = api_member.patch(ME, {"locale": "fr", "time_zone": "Nowhere/Town"}, format="json")

    assert response.status_code == 400
    assert set(response.json()) == {"locale", "time_zone"}


@pytest.mark.parametrize("body", ['{"display_name": "Lin"', "{display_name: 'Lin'}", "[]", '"Lin"', "null", "\x00"])
def test_patch_me_with_a_malformed_body_is_400(api_member, member, body):
    response = api_member.generic("PATCH", ME, body, content_type="application/json")

    assert response.status_code == 400, response.content
    member.refresh_from_db()
    assert member.display_name == "Lin Mei"


def test_patch_me_with_an_unsupported_media_type_is_415(api_member):
    response = api_member.generic("PATCH", ME, "<member/>", content_type="application/xml")

    assert response.status_code == 415


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_me_takes_only_get_and_patch(api_member, method):
    assert getattr(api_member, method)(ME, {"display_name": "x"}, format="json").status_code == 405
