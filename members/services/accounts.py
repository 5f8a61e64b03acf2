"""Write paths for accounts and member profiles."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from community import domain_events
from community.errors import ServiceError
from community.services import audit_record, model_snapshot, notify
from members.models import Member, Tag

PROFILE_FIELDS = (
    "display_name",
    "avatar",
    "bio",
    "locale",
    "time_zone",
    "age_band",
    "occupation",
    "interests",
    "needs",
)


def _default_display_name(user: Any) -> str:
    return (user.email.split("@", 1)[0] or "member")[:80]


def member_create(
    *,
    user: Any,
    display_name: str = "",
    locale: str | None = None,
    time_zone: str | None = None,
    actor: Any | None = None,
    welcome: bool = True,
) -> Member:
    """Create the community profile for a new account and greet the member by name."""
    with transaction.atomic():
        member = Member(user=user, display_name=(display_name.strip() or _default_display_name(user))[:80])
        if locale:
            member.locale = locale
        if time_zone:
            member.time_zone = time_zone
        member.full_clean(exclude=["user", "avatar"])
        member.save()
        audit_record(actor=actor or user, action="member.create", obj=member, after=model_snapshot(member))
        if welcome:
            notify(member=member, kind="welcome", context={"name": member.display_name}, url="/")
    return member


def member_ensure(*, user: Any, actor: Any | None = None) -> Member:
    """The account's profile, created on first need for accounts made outside sign-up (e.g. createsuperuser).

    Uses the profile already loaded on `user` when there is one, so a request pays for it once.
    """
    try:
        return user.member
    except Member.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            return member_create(user=user, actor=actor, welcome=False)
    except IntegrityError:  # a concurrent request created it first
        member = Member.objects.get(user=user)
        user.member = member
        return member


def member_profile_update(*, member: Member, actor: Any, **changes: Any) -> Member:
    """Change profile fields (display name, avatar, bio, language, time zone)."""
    unknown = set(changes) - set(PROFILE_FIELDS)
    if unknown:
        raise ValueError(f"Not profile fields: {', '.join(sorted(unknown))}")
    if not changes:
        return member
    if "avatar" in changes and not changes["avatar"]:
        changes["avatar"] = ""  # a form's "clear" arrives as False; no picture is stored as an empty name
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        before = model_snapshot(member, changes)
        for name, value in changes.items():
            setattr(member, name, value)
        member.full_clean(exclude=["user"])
        member.save()
        audit_record(
            actor=actor,
            action="member.profile_update",
            obj=member,
            before=before,
            after=model_snapshot(member, changes),
        )
    return member


def member_tags_set(*, member: Member, tags: list[Tag], actor: Any) -> Member:
    """Replace the operator-assigned tags of a member."""
    with transaction.atomic():
        before = sorted(member.tags.values_list("name", flat=True))
        member.tags.set(tags)
        after = sorted(tag.name for tag in tags)
        audit_record(actor=actor, action="member.tags_set", obj=member, before={"tags": before}, after={"tags": after})
    return member


@transaction.atomic
def member_remove(*, member: Member, actor: Any, reason: str) -> Member:
    """Remove a member from the program (移出社群): an operator's or moderator's decision, with its reason, audited.

    The account stays (the ledger and feedback keep their author) but the member no longer takes part: the portal
    and the API refuse contributions from anyone whose status is not active.
    """
    reason = reason.strip()
    if not reason:
        raise ServiceError(_("Give a reason for removing the member."), field="reason")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == Member.Status.REMOVED:
        raise ServiceError(_("This member has already been removed."))
    before = model_snapshot(member, ["status", "left_at"])
    member.status = Member.Status.REMOVED
    member.left_at = timezone.now()
    member.save(update_fields=["status", "left_at"])
    audit_record(
        actor=actor,
        action="member.remove",
        obj=member,
        before=before,
        after={**model_snapshot(member, ["status", "left_at"]), "reason": reason},
    )
    domain_events.publish("member.removed", {"member_id": member.pk, "reason": reason})
    return member
