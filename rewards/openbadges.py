"""Open Badges 2.0 hosted verification: the issuer profile, a BadgeClass per badge and an Assertion per award,
served as public JSON-LD at stable addresses (see `rewards.openbadges_urls`).

Ids are absolute URLs built from settings.SITE_URL, so they must stay put once awards are shared: the paths
live under /rewards/badges/ob/. The recipient is the member's e-mail, salted and hashed (never published).
"""

from __future__ import annotations

import hashlib
import json
from email.utils import parseaddr
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

from rewards.models import Badge, BadgeAward

CONTEXT = "https://w3id.org/openbadges/v2"
CONTENT_TYPE = "application/ld+json"


def absolute(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


def issuer_id() -> str:
    return absolute(reverse("rewards:ob_issuer"))


def badge_class_id(badge: Badge) -> str:
    return absolute(reverse("rewards:ob_badge_class", args=[badge.slug]))


def assertion_id(award: BadgeAward) -> str:
    return absolute(reverse("rewards:ob_assertion", args=[award.assertion_uuid]))


def badge_image_url(badge: Badge) -> str:
    if badge.image:
        url = badge.image.url
        return url if url.startswith(("http://", "https://")) else absolute(url if url.startswith("/") else f"/{url}")
    return absolute(reverse("rewards:ob_badge_image", args=[badge.slug]))


def recipient_identity(email: str, salt: str) -> str:
    """The hashed recipient identity: "sha256$" + hex(sha256(email + salt)), e-mail lower-cased as stored."""
    return "sha256$" + hashlib.sha256(f"{email.strip().lower()}{salt}".encode()).hexdigest()


def issuer_profile() -> dict[str, Any]:
    name = getattr(settings, "HEARTH_BADGE_ISSUER_NAME", "") or _("Hearth community")
    email = getattr(settings, "HEARTH_BADGE_ISSUER_EMAIL", "") or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    profile = {
        "@context": CONTEXT,
        "type": "Issuer",
        "id": issuer_id(),
        "name": str(name),
        "url": f"{settings.SITE_URL}/",
    }
    if email:
        profile["email"] = email
    return profile


def badge_class(badge: Badge) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "BadgeClass",
        "id": badge_class_id(badge),
        "name": badge.name,
        "description": badge.description or badge.criteria_explained(),
        "image": badge_image_url(badge),
        "criteria": {"narrative": badge.criteria_explained()},
        "issuer": issuer_id(),
        "tags": [badge.tier, *(["title"] if badge.is_title else [])],
    }


def assertion(award: BadgeAward) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "Assertion",
        "id": assertion_id(award),
        "recipient": {
            "type": "email",
            "hashed": True,
            "salt": award.recipient_salt,
            "identity": recipient_identity(award.member.user.email, award.recipient_salt),
        },
        "badge": badge_class_id(award.badge),
        "issuedOn": award.awarded_at.isoformat(),
        "verification": {"type": "hosted"},
    }


def _json(data: dict[str, Any], status: int = 200, content_type: str = CONTENT_TYPE) -> HttpResponse:
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), status=status, content_type=f"{content_type}; charset=utf-8"
    )
    # Verifiers and badge backpacks fetch these from other origins.
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
@cache_control(public=True, max_age=300)
def issuer_view(request: HttpRequest) -> HttpResponse:
    return _json(issuer_profile())


@require_safe
@cache_control(public=True, max_age=300)
def badge_class_view(request: HttpRequest, slug: str) -> HttpResponse:
    badge = get_object_or_404(Badge, slug=slug)
    return _json(badge_class(badge))


@require_safe
@cache_control(public=True, max_age=3600)
def badge_image_view(request: HttpRequest, slug: str) -> HttpResponse:
    """A square SVG of the badge's emoji on its colour, for badges without an uploaded image."""
    badge = get_object_or_404(Badge, slug=slug)
    ring = {"gold": "#f0b400", "silver": "#a8b0b8", "bronze": "#b87333"}.get(badge.tier, "#b87333")
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">'
        f"<title>{escape(badge.name)}</title>"
        f'<circle cx="128" cy="128" r="120" fill="{escape(badge.colour)}" stroke="{ring}" stroke-width="12"/>'
        '<text x="128" y="150" font-size="110" text-anchor="middle" dominant-baseline="middle">'
        f"{escape(badge.emoji)}</text>"
        "</svg>"
    )
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_safe
@cache_control(no_cache=True)
def assertion_view(request: HttpRequest, assertion_uuid: Any) -> HttpResponse:
    award = BadgeAward.objects.select_related("badge", "member__user").filter(assertion_uuid=assertion_uuid).first()
    if award is None:
        return _json({"error": "not found"}, status=404, content_type="application/json")
    if award.revoked_at is not None:
        # Open Badges 2.0 hosted verification: a revoked assertion answers 410 Gone with revoked: true.
        return _json(
            {
                "@context": CONTEXT,
                "type": "Assertion",
                "id": assertion_id(award),
                "revoked": True,
                "revocationReason": award.revoked_reason,
            },
            status=410,
        )
    return _json(assertion(award))
