"""Notifications grown up: fan-out to many members, unsubscribe links, digests and bounces.

`community.services.notify` stays the one-member path; this module adds what a program with thousands of
members needs. Every function here is a write path (audited where a person acts) or a small read it needs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from community import notification_kinds
from community.errors import ServiceError
from community.models import Notification, NotificationEmailSetting, NotificationPreference
from members.models import Member

logger = logging.getLogger(__name__)

UNSUBSCRIBE_SALT = "hearth.notifications.unsubscribe"
ALL_KINDS = "*"
EMAIL_BATCH = 200  # notifications per e-mail task after a fan-out
ID_CHUNK = 5000


# --- e-mail mode (frequency, bounce) ------------------------------------------------------------------------


def email_mode(*, member: Member) -> str:
    """'immediate', 'daily', 'weekly' or 'bounced' for this member's address."""
    setting = NotificationEmailSetting.objects.filter(member=member).only("frequency", "bounced_at").first()
    return _mode(setting)


def _mode(setting: NotificationEmailSetting | None) -> str:
    if setting is None:
        return NotificationEmailSetting.Frequency.IMMEDIATE
    if setting.bounced_at is not None:
        return "bounced"
    return setting.frequency


def status_for_mode(mode: str) -> str:
    if mode == "bounced":
        return Notification.EmailStatus.BOUNCED
    if mode in (NotificationEmailSetting.Frequency.DAILY, NotificationEmailSetting.Frequency.WEEKLY):
        return Notification.EmailStatus.DIGEST
    return Notification.EmailStatus.PENDING


def status_for_mode_sql(*, setting: str) -> str:
    """`status_for_mode(_mode(...))` as an SQL expression over a NotificationEmailSetting row joined as `setting`
    (all NULL when the member has none), so one statement can both read the setting and store the status."""
    digest = ", ".join(
        f"'{frequency.value}'"
        for frequency in (NotificationEmailSetting.Frequency.DAILY, NotificationEmailSetting.Frequency.WEEKLY)
    )
    return (
        f"CASE WHEN {setting}.bounced_at IS NOT NULL THEN '{Notification.EmailStatus.BOUNCED.value}' "
        f"WHEN {setting}.frequency IN ({digest}) THEN '{Notification.EmailStatus.DIGEST.value}' "
        f"ELSE '{Notification.EmailStatus.PENDING.value}' END"
    )


def email_frequency_set(*, member: Member, frequency: str, actor: Any | None = None) -> NotificationEmailSetting:
    """Choose each-message e-mail or a daily/weekly digest. Waiting messages follow the new choice."""
    from community.services import audit_record, model_snapshot

    if frequency not in NotificationEmailSetting.Frequency.values:
        raise ServiceError(_("Choose how often you get e-mail."), field="frequency")
    with transaction.atomic():
        setting, _created = NotificationEmailSetting.objects.select_for_update().get_or_create(member=member)
        before = model_snapshot(setting)
        if setting.frequency == frequency:
            return setting
        setting.frequency = frequency
        setting.save(update_fields=["frequency"])
        if frequency == NotificationEmailSetting.Frequency.IMMEDIATE:
            # Messages held for a digest are sent one by one by the pending sweep instead.
            Notification.objects.filter(member=member, email_status=Notification.EmailStatus.DIGEST).update(
                email_status=Notification.EmailStatus.PENDING
            )
        audit_record(
            actor=actor if actor is not None else member.user,
            action="notification_email.frequency_set",
            obj=setting,
            before=before,
            after=model_snapshot(setting),
        )
    return setting


def email_bounce_record(*, email: str, reason: str = "", actor: Any | None = None) -> int:
    """Mark an address bounced: nothing more is e-mailed to it (pending messages stop retrying).

    Returns how many members the address belongs to (0 or 1); an unknown address is ignored, so a bounce
    feed can be replayed.
    """
    from community.services import audit_record, model_snapshot

    members = list(Member.objects.filter(user__email__iexact=email.strip()))
    for member in members:
        with transaction.atomic():
            setting, _created = NotificationEmailSetting.objects.select_for_update().get_or_create(member=member)
            if setting.bounced_at is not None:
                continue
            before = model_snapshot(setting)
            setting.bounced_at = timezone.now()
            setting.bounce_reason = reason[:255]
            setting.save(update_fields=["bounced_at", "bounce_reason"])
            Notification.objects.filter(
                member=member,
                email_status__in=[Notification.EmailStatus.PENDING, Notification.EmailStatus.DIGEST],
            ).update(email_status=Notification.EmailStatus.BOUNCED)
            audit_record(
                actor=actor,
                action="notification_email.bounced",
                obj=setting,
                before=before,
                after=model_snapshot(setting),
            )
    return len(members)


def email_bounce_clear(*, member: Member, actor: Any) -> NotificationEmailSetting:
    """The member fixed their address: e-mail them again (new messages only)."""
    from community.services import audit_record, model_snapshot

    with transaction.atomic():
        setting, _created = NotificationEmailSetting.objects.select_for_update().get_or_create(member=member)
        if setting.bounced_at is None:
            return setting
        before = model_snapshot(setting)
        setting.bounced_at = None
        setting.bounce_reason = ""
        setting.save(update_fields=["bounced_at", "bounce_reason"])
        audit_record(
            actor=actor,
            action="notification_email.bounce_cleared",
            obj=setting,
            before=before,
            after=model_snapshot(setting),
        )
    return setting


# --- one-click unsubscribe ----------------------------------------------------------------------------------


def unsubscribe_token(*, member_id: int, kind: str) -> str:
    """A signed token that switches one kind's e-mail off (or every kind's, with kind="*"). No expiry: old
    e-mails keep working."""
    return signing.dumps({"m": member_id, "k": kind}, salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_url(*, member_id: int, kind: str) -> str:
    return f"{settings.SITE_URL}/notifications/unsubscribe/{unsubscribe_token(member_id=member_id, kind=kind)}/"


def unsubscribe_token_read(token: str) -> tuple[Member, str]:
    """The member and kind a token names; ServiceError when it is forged or the member is gone."""
    try:
        payload = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        member = Member.objects.select_related("user").get(pk=int(payload["m"]))
        kind = str(payload["k"])
    except (signing.BadSignature, KeyError, TypeError, ValueError, Member.DoesNotExist):
        raise ServiceError(_("This unsubscribe link is not valid."), field="token") from None
    if kind != ALL_KINDS and kind not in notification_kinds.KINDS:
        raise ServiceError(_("This unsubscribe link is not valid."), field="token")
    return member, kind


def unsubscribe(*, token: str) -> tuple[Member, list[str]]:
    """Switch off e-mail for the token's kind (or all kinds). Safe to repeat. Returns the kinds switched off."""
    from community.services import notification_channels, notification_preference_set

    member, kind = unsubscribe_token_read(token)
    kinds = list(notification_kinds.KINDS) if kind == ALL_KINDS else [kind]
    with transaction.atomic():
        for key in kinds:
            in_portal, by_email = notification_channels(member=member, kind=key)
            if by_email:
                notification_preference_set(
                    member=member, kind=key, in_portal=in_portal, email=False, actor=member.user
                )
    return member, kinds


def email_headers(*, member_id: int, kind: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe headers: mail clients show an unsubscribe button that POSTs the link."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(member_id=member_id, kind=kind)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# --- fan-out ------------------------------------------------------------------------------------------------


def _chunks(values: Sequence[Any], size: int = ID_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def notify_bulk(
    *,
    members: Sequence[Member],
    kind: str,
    context: Mapping[str, Any] | None = None,
    url: str = "",
    batch_size: int = 2000,
) -> int:
    """Tell many members the same thing in a few INSERTs: rendered once per language (the context is shared,
    so the templates must not use `member`), preferences read in bulk, e-mails queued in batches after commit.

    `members` must have `user` loaded (select_related). Returns how many notifications were created.
    """
    from community.services.audit import jsonable

    kind_def = notification_kinds.get(kind)
    member_ids = [member.pk for member in members]
    preferences: dict[int, tuple[bool, bool]] = {}
    settings_by_member: dict[int, NotificationEmailSetting] = {}
    for chunk in _chunks(member_ids):
        for pref in NotificationPreference.objects.filter(kind=kind, member_id__in=chunk):
            preferences[pref.member_id] = (pref.in_portal, pref.email)
        for setting in NotificationEmailSetting.objects.filter(member_id__in=chunk).only(
            "member_id", "frequency", "bounced_at"
        ):
            settings_by_member[setting.member_id] = setting
    rendered: dict[str, tuple[str, str]] = {}
    base_context = {**(context or {}), "site_url": settings.SITE_URL}
    stored_context = jsonable(dict(context or {}))
    now = timezone.now()
    rows = []
    for member in members:
        in_portal, by_email = preferences.get(member.pk, (kind_def.in_portal_default, kind_def.email_default))
        if not (in_portal or by_email):
            continue
        if member.locale not in rendered:
            with translation.override(member.locale):
                rendered[member.locale] = (
                    render_to_string(f"notifications/{kind}/title.txt", base_context).strip()[:200],
                    render_to_string(f"notifications/{kind}/body.txt", base_context).strip(),
                )
        title, body = rendered[member.locale]
        can_email = by_email and member.user.is_active and bool(member.user.email)
        status = (
            status_for_mode(_mode(settings_by_member.get(member.pk))) if can_email else Notification.EmailStatus.SKIPPED
        )
        rows.append(
            Notification(
                member=member,
                kind=kind,
                title=title,
                body=body,
                url=url,
                context=stored_context,
                created_at=now,
                show_in_portal=in_portal,
                email_status=status,
            )
        )
    with transaction.atomic():
        created = Notification.objects.bulk_create(rows, batch_size=batch_size)
        pending = [row.pk for row in created if row.email_status == Notification.EmailStatus.PENDING]
        if pending:
            from community.tasks import notification_emails_send_batch

            def enqueue() -> None:
                for chunk in _chunks(pending, EMAIL_BATCH):
                    notification_emails_send_batch.delay(list(chunk))

            transaction.on_commit(enqueue, robust=True)
    return len(created)


# --- digests ------------------------------------------------------------------------------------------------


def digest_member_ids(*, frequency: str) -> list[int]:
    """Members on this digest frequency with messages waiting."""
    return list(
        Notification.objects.filter(
            email_status=Notification.EmailStatus.DIGEST,
            member__email_setting__frequency=frequency,
            member__email_setting__bounced_at__isnull=True,
        )
        .order_by()
        .values_list("member_id", flat=True)
        .distinct()
    )


def digest_send(*, member_id: int, now: datetime | None = None) -> int:
    """E-mail one member every message waiting for their digest, in one e-mail. Returns how many it held.

    The waiting rows are locked and marked sent in the same transaction, so a second run finds nothing.
    """
    now = now or timezone.now()
    with transaction.atomic():
        member = Member.objects.select_related("user").get(pk=member_id)
        waiting = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(member_id=member_id, email_status=Notification.EmailStatus.DIGEST)
            .order_by("created_at", "id")
        )
        if not waiting:
            return 0
        if not (member.user.is_active and member.user.email) or email_mode(member=member) == "bounced":
            Notification.objects.filter(pk__in=[n.pk for n in waiting]).update(
                email_status=Notification.EmailStatus.SKIPPED
            )
            return 0
        context = {
            "member": member,
            "notifications": waiting,
            "site_url": settings.SITE_URL,
            "unsubscribe_url": unsubscribe_url(member_id=member.pk, kind=ALL_KINDS),
        }
        with translation.override(member.locale):
            subject = _("Your community digest: %(count)d messages") % {"count": len(waiting)}
            text = render_to_string("notifications/digest.txt", context)
            html = render_to_string("notifications/digest.html", context)
        message = EmailMultiAlternatives(
            subject=subject,
            body=text,
            to=[member.user.email],
            from_email=settings.DEFAULT_FROM_EMAIL,
            headers=email_headers(member_id=member.pk, kind=ALL_KINDS),
        )
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except Exception:
            logger.exception("Sending the digest to member %s failed", member_id)
            return 0  # left waiting: the next run tries again
        Notification.objects.filter(pk__in=[n.pk for n in waiting]).update(
            email_status=Notification.EmailStatus.SENT, email_sent_at=now
        )
        NotificationEmailSetting.objects.filter(member_id=member_id).update(last_digest_at=now)
    return len(waiting)
