"""Open Badges 2.0 hosted verification: public JSON-LD documents whose ids are the URLs they are served at."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from urllib.parse import urlsplit

import jsonschema
import pytest
from django.conf import settings
from django.test import override_settings

from rewards.services.badges import badge_grant, badge_revoke
from tests.rewards.factories_badges import BadgeFactory

pytestmark = pytest.mark.django_db

CONTEXT = "https://w3id.org/openbadges/v2"
ISSUER = "/rewards/badges/ob/issuer.json"

# The required properties of the Open Badges 2.0 classes (IMS Global OBv2.0, "Profile", "BadgeClass",
# "Assertion", "IdentityObject", "VerificationObject").
URL = {"type": "string", "pattern": r"^https?://[^\s]+$"}
PROFILE_SCHEMA = {
    "type": "object",
    "required": ["@context", "type", "id", "name", "url"],
    "properties": {
        "@context": {"const": CONTEXT},
        "type": {"enum": ["Issuer", "Profile"]},
        "id": URL,
        "name": {"type": "string", "minLength": 1},
        "url": URL,
        "email": {"type": "string", "pattern": "@"},
    },
}
BADGE_CLASS_SCHEMA = {
    "type": "object",
    "required": ["@context", "type", "id", "name", "description", "image", "criteria", "issuer"],
    "properties": {
        "@context": {"const": CONTEXT},
        "type": {"const": "BadgeClass"},
        "id": URL,
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string", "minLength": 1},
        "image": URL,
        "criteria": {"anyOf": [URL, {"type": "object", "anyOf": [{"required": ["id"]}, {"required": ["narrative"]}]}]},
        "issuer": URL,
        "tags": {"type": "array", "items": {"type": "string"}},
    },
}
ASSERTION_SCHEMA = {
    "type": "object",
    "required": ["@context", "type", "id", "recipient", "badge", "verification", "issuedOn"],
    "properties": {
        "@context": {"const": CONTEXT},
        "type": {"const": "Assertion"},
        "id": URL,
        "recipient": {
            "type": "object",
            "required": ["type", "hashed", "identity"],
            "properties": {
                "type": {"const": "email"},
                "hashed": {"const": True},
                "salt": {"type": "string"},
                "identity": {"type": "string", "pattern": r"^sha256\$[0-9a-f]{64}$"},
            },
        },
        "badge": URL,
        "verification": {"type": "object", "required": ["type"], "properties": {"type": {"const": "hosted"}}},
        "issuedOn": {"type": "string", "minLength": 10},
    },
}


def local_path(url: str) -> str:
    assert url.startswith(settings.SITE_URL + "/"), url
    return urlsplit(url).path


def fetch(client, url_or_path: str, status: int = 200) -> dict:
    path = local_path(url_or_path) if url_or_path.startswith("http") else url_or_path
    response = client.get(path)
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/ld+json")
    assert response["Access-Control-Allow-Origin"] == "*"
    return json.loads(response.content)


@pytest.fixture
def held(member, operator):
    badge = BadgeFactory(slug="community-star", name="社区达人", is_title=True, tier="gold")
    return badge_grant(badge=badge, member=member, actor=operator.user, reason="Runs the meetups")


def test_the_issuer_profile(client):
    profile = fetch(client, ISSUER)
    jsonschema.validate(profile, PROFILE_SCHEMA)
    assert profile["id"] == settings.SITE_URL + ISSUER
    assert profile["url"] == settings.SITE_URL + "/"


def test_a_badge_class(client):
    badge = BadgeFactory(slug="week-streak", name="7-day streak", criteria={"type": "streak", "days": 7})
    document = fetch(client, f"/rewards/badges/ob/classes/{badge.slug}.json")
    jsonschema.validate(document, BADGE_CLASS_SCHEMA)
    assert document["id"] == f"{settings.SITE_URL}/rewards/badges/ob/classes/week-streak.json"
    assert document["criteria"] == {"narrative": "Check in 7 days in a row."}
    assert fetch(client, document["issuer"])["name"]
    image = client.get(local_path(document["image"]))
    assert image.status_code == 200 and image["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in image.content and b"7-day streak" in image.content


def test_an_assertion_is_public_and_verifiable_by_following_its_links(client, held, member):
    """What a verifier does for hosted verification: fetch the assertion at its id, then its badge, then the
    issuer; check each id is where it was fetched from, on the issuer's origin, and the recipient hash."""
    url = f"{settings.SITE_URL}/rewards/badges/ob/assertions/{held.assertion_uuid}.json"
    assertion = fetch(client, url)
    jsonschema.validate(assertion, ASSERTION_SCHEMA)
    assert assertion["id"] == url
    badge = fetch(client, assertion["badge"])
    jsonschema.validate(badge, BADGE_CLASS_SCHEMA)
    assert badge["id"] == assertion["badge"] and badge["name"] == "社区达人"
    issuer = fetch(client, badge["issuer"])
    assert issuer["id"] == badge["issuer"]
    assert urlsplit(assertion["id"]).netloc == urlsplit(issuer["url"]).netloc

    recipient = assertion["recipient"]
    expected = hashlib.sha256((member.user.email + recipient["salt"]).encode()).hexdigest()
    assert recipient["identity"] == f"sha256${expected}"
    assert member.user.email not in json.dumps(assertion)
    assert datetime.fromisoformat(assertion["issuedOn"]) == held.awarded_at


def test_the_json_keeps_chinese_readable(client, held):
    response = client.get(f"/rewards/badges/ob/classes/{held.badge.slug}.json")
    assert "社区达人".encode() in response.content


def test_a_revoked_assertion_answers_410_with_the_reason(client, held, operator):
    badge_revoke(award=held, actor=operator.user, reason="Left the program")
    document = fetch(client, f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json", status=410)
    assert document["revoked"] is True and document["revocationReason"] == "Left the program"
    assert "recipient" not in document


def test_unknown_documents_are_404(client, held):
    assert client.get("/rewards/badges/ob/assertions/00000000-0000-4000-8000-000000000000.json").status_code == 404
    assert client.get("/rewards/badges/ob/assertions/not-a-uuid.json").status_code == 404
    assert client.get("/rewards/badges/ob/classes/no-such-badge.json").status_code == 404
    assert client.get("/rewards/badges/ob/classes/no-such-badge.svg").status_code == 404


def test_documents_are_read_only(client, held):
    assert client.post(ISSUER).status_code == 405
    assert client.delete(f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json").status_code == 405


@pytest.mark.parametrize("persona", ["web_member", "web_operator"])
def test_signed_in_people_see_the_same_document(persona, request, client, held):
    anonymous = client.get(f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json").content
    signed_in = request.getfixturevalue(persona)
    assert signed_in.get(f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json").content == anonymous


def test_ids_follow_the_configured_site_url(client, held):
    with override_settings(SITE_URL="https://community.example.com"):
        document = fetch(client, f"/rewards/badges/ob/assertions/{held.assertion_uuid}.json")
    assert document["id"].startswith("https://community.example.com/rewards/badges/ob/assertions/")
    assert document["badge"] == "https://community.example.com/rewards/badges/ob/classes/community-star.json"


def test_an_uploaded_image_is_used_as_is(client):
    from django.core.files.base import ContentFile

    badge = BadgeFactory(slug="with-image")
    badge.image.save("star.svg", ContentFile(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), save=True)
    document = fetch(client, "/rewards/badges/ob/classes/with-image.json")
    assert document["image"].startswith("http") and document["image"].endswith(".svg")
    assert "/ob/classes/" not in document["image"]
