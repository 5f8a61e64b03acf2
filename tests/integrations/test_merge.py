"""An operator merges two member records: what can move moves, points through the ledger, audited."""

from __future__ import annotations

from community.models import Activity, AuditLog, Notification
from integrations.models import ExternalIdentity
from integrations.services.identities import external_identity_link
from members.models import Member
from rewards.models import PointBalance, PointEntry
from rewards.services.ledger import points_award, points_spend
from tests.factories import ActivityFactory, NotificationFactory, TagFactory
from tests.integrations.conftest import token_client

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
