"""Write paths shared by the whole community: the activity stream, notifications, the audit log, API tokens."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import smtplib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, models, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from community import activity_hooks, notification_kinds, notifications
from community.errors import ServiceError
from community.models import Activity, ApiToken, AuditLog, FollowUpTask, Notification, NotificationPreference
from members.models import Member

logger = logging.getLogger(__name__)

# --- audit log --------------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if value is not None else None


def model_snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` (foreign keys as ids), for an audit record's before/after."""
    wanted = set(fields) if fields is not None else None
    snapshot: dict[str, Any] = {}
    for model_field in obj._meta.concrete_fields:
        if wanted is not None and model_field.name not in wanted:
            continue
        if model_field.name in {"password", "key_hash"}:
            continue
        value = getattr(obj, model_field.attname)
        if isinstance(model_field, models.FileField):
            value = value.name if value else ""
        snapshot[model_field.name] = value
    return _jsonable(snapshot)


def audit_record(
    *,
    actor: Any | None,
    action: str,
    obj: models.Model | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> AuditLog:
    """Record one state change. `actor` is the acting user (None for the system itself)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return AuditLog.objects.create(
        actor=actor,
        action=action,
        object_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=_jsonable(dict(before)) if before is not None else None,
        after=_jsonable(dict(after)) if after is not None else None,
    )


# --- activity stream --------------------------------------------------------------------------------------


def local_date_for(member: Member, moment: datetime):
    """The calendar day `moment` falls on in the member's own time zone."""
    return moment.astimezone(ZoneInfo(member.time_zone)).date()


def record_activity(
    *,
    member: Member,
    verb: str,
    target: models.Model | None = None,
    data: Mapping[str, Any] | None = None,
    occurred_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> Activity:
    """Record one member action on the activity stream.

    With `dedupe_key`, recording the same key again (a retried request, a re-sent event) returns the
    activity already recorded instead of adding a second one. The registered activity hooks (point rules,
    badges) run with each new activity inside the same transaction, so they commit or roll back together.
    """
    if not verb or len(verb) > 64:
        raise ValueError("verb must be 1 to 64 characters.")
    occurred_at = occurred_at or timezone.now()
    if timezone.is_naive(occurred_at):
        raise ValueError("occurred_at must be timezone-aware.")
    activity = Activity(
        member=member,
        verb=verb,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        data=_jsonable(dict(data or {})),
        occurred_at=occurred_at,
        local_date=local_date_for(member, occurred_at),
        dedupe_key=dedupe_key,
    )
    with transaction.atomic():
        if dedupe_key is None:
            activity.save()
        else:
            # A replay is the common case for a retried sender: answer it with one indexed read, no failed insert.
            existing = Activity.objects.filter(dedupe_key=dedupe_key).first()
            if existing is not None:
                return existing
            try:
                with transaction.atomic():
                    activity.save()
            except IntegrityError:
                # Lost a race for the same key; anything else (a bad foreign key) is a real error.
                existing = Activity.objects.filter(dedupe_key=dedupe_key).first()
                if existing is None:
                    raise
                return existing
        # Point rules, badges and the like react in this transaction: they commit or roll back with the activity.
        activity_hooks.run([activity])
    return activity


@dataclass(frozen=True)
class ActivityInput:
    member: Member
    verb: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    target: models.Model | None = None
    dedupe_key: str | None = None


# At most this many dedupe keys per lookup (fewer where the database allows fewer query parameters).
KEY_LOOKUP_CHUNK = 5000


def activities_record_bulk(*, entries: Sequence[ActivityInput], batch_size: int = 2000) -> int:
    """Record many activities in a few INSERTs (imports, an event's attendees). Keys already seen are skipped.

    Returns the number of entries handed to the database; entries whose `dedupe_key` exists are ignored. The
    activity hooks run once, inside the same transaction, with the activities this call actually recorded.
    """
    content_types: dict[type, ContentType] = {}
    rows = []
    for entry in entries:
        if timezone.is_naive(entry.occurred_at):
            raise ValueError("occurred_at must be timezone-aware.")
        target_type = None
        if entry.target is not None:
            model = type(entry.target)
            if model not in content_types:
                content_types[model] = ContentType.objects.get_for_model(model)
            target_type = content_types[model]
        rows.append(
            Activity(
                member=entry.member,
                verb=entry.verb,
                target_type=target_type,
                target_id=str(entry.target.pk) if entry.target is not None else "",
                data=_jsonable(dict(entry.data)),
                occurred_at=entry.occurred_at,
                local_date=local_date_for(entry.member, entry.occurred_at),
                dedupe_key=entry.dedupe_key,
            )
        )
    unkeyed = [row for row in rows if row.dedupe_key is None]
    keyed: dict[str, Activity] = {}
    for row in rows:
        if row.dedupe_key is not None:
            keyed.setdefault(row.dedupe_key, row)  # the first entry with a key wins, as one at a time would
    chunk = min(connection.features.max_query_params or KEY_LOOKUP_CHUNK, KEY_LOOKUP_CHUNK)
    with transaction.atomic():
        # Rows without a key cannot conflict, so the database hands back their ids; keyed rows may race another
        # writer, so they are inserted ignoring conflicts.
        Activity.objects.bulk_create(unkeyed, batch_size=batch_size)
        if connection.vendor == "postgresql":
            # The database itself says which keys were new (RETURNING): no look-up before, no read-back after.
            # Product usage events arrive by the thousand, so this path is the hot one.
            recorded_keyed = _insert_keyed_returning(list(keyed.values()), batch_size=batch_size)
        else:
            seen = _dedupe_keys_recorded(list(keyed), chunk=chunk)
            new_keys = [key for key in keyed if key not in seen]
            Activity.objects.bulk_create([keyed[key] for key in new_keys], batch_size=batch_size, ignore_conflicts=True)
            recorded_keyed = _activities_with_dedupe_keys(new_keys, chunk=chunk)
        recorded = unkeyed + recorded_keyed
        recorded.sort(key=lambda activity: (activity.occurred_at, activity.pk))
        activity_hooks.run(recorded)
    return len(rows)


def _insert_keyed_returning(rows: list[Activity], *, batch_size: int) -> list[Activity]:
    """PostgreSQL: insert keyed rows with one `INSERT … SELECT unnest(…) ON CONFLICT DO NOTHING RETURNING` per
    batch; returns the rows actually inserted (a key recorded before, or by a concurrent writer, is skipped)."""
    table = Activity._meta.db_table
    now = timezone.now()
    inserted: list[Activity] = []
    # The batch travels as one JSON document (one parameter): quoting thousands of array elements one by one
    # costs more than the insert itself.
    sql = (
        f"INSERT INTO {table} (member_id, verb, target_type_id, target_id, data, occurred_at, local_date, "  # noqa: S608
        "dedupe_key, recorded_at) SELECT u.m, u.v, u.t, u.i, u.d, u.o, u.l, u.k, %s "
        "FROM jsonb_to_recordset(%s::jsonb) AS u(m bigint, v text, t integer, i text, d jsonb, o timestamptz, "
        "l date, k text) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key"
    )
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        document = json.dumps(
            [
                {
                    "m": row.member_id,
                    "v": row.verb,
                    "t": row.target_type_id,
                    "i": row.target_id,
                    "d": row.data,
                    "o": row.occurred_at.isoformat(),
                    "l": row.local_date.isoformat(),
                    "k": row.dedupe_key,
                }
                for row in batch
            ],
            cls=DjangoJSONEncoder,
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, document])
            returned = cursor.fetchall()
        by_key = {row.dedupe_key: row for row in batch}
        for pk, key in returned:
            row = by_key[key]
            row.pk = pk
            row.recorded_at = now
            row._state.adding = False
            row._state.db = connection.alias
            inserted.append(row)
    return inserted


def _dedupe_keys_recorded(keys: list[str], *, chunk: int) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), chunk):
        found.update(
            Activity.objects.filter(dedupe_key__in=keys[start : start + chunk]).values_list("dedupe_key", flat=True)
        )
    return found


def _activities_with_dedupe_keys(keys: list[str], *, chunk: int) -> list[Activity]:
    activities: list[Activity] = []
    for start in range(0, len(keys), chunk):
        activities.extend(Activity.objects.select_related("member").filter(dedupe_key__in=keys[start : start + chunk]))
    return activities


# --- notifications ----------------------------------------------------------------------------------------


def notification_channels(*, member: Member, kind: str) -> tuple[bool, bool]:
    """(in_portal, email) for this member and kind: the member's preference, else the kind's defaults."""
    kind_def = notification_kinds.get(kind)
    preference = NotificationPreference.objects.filter(member=member, kind=kind).first()
    if preference is None:
        return kind_def.in_portal_default, kind_def.email_default
    return preference.in_portal, preference.email


def notify(
    *, member: Member, kind: str, context: Mapping[str, Any] | None = None, url: str = ""
) -> Notification | None:
    """Tell a member something: an inbox entry and/or an email, per their preference, in their language.

    The email is sent by a Celery task once the surrounding transaction commits. Returns None when the
    member has switched off every channel for this kind.
    """
    in_portal, by_email = notification_channels(member=member, kind=kind)
    if not (in_portal or by_email):
        return None
    template_context = {**(context or {}), "member": member, "site_url": settings.SITE_URL}
    with translation.override(member.locale):
        title = render_to_string(f"notifications/{kind}/title.txt", template_context).strip()
        body = render_to_string(f"notifications/{kind}/body.txt", template_context).strip()
    can_email = by_email and member.user.is_active and bool(member.user.email)
    # A digest reader's e-mail waits for the digest; a bounced address gets none.
    email_status = (
        notifications.status_for_mode(notifications.email_mode(member=member))
        if can_email
        else Notification.EmailStatus.SKIPPED
    )
    notification = Notification.objects.create(
        member=member,
        kind=kind,
        title=title[:200],
        body=body,
        url=url,
        context=_jsonable(dict(context or {})),
        show_in_portal=in_portal,
        email_status=email_status,
    )
    if email_status == Notification.EmailStatus.PENDING:
        from community.tasks import notification_send_email

        # Robust: with the broker down the change still succeeds; the email stays pending for the sweep.
        transaction.on_commit(lambda: notification_send_email.delay(notification.pk), robust=True)
    return notification


def notifications_mark_read(*, member: Member, notification_ids: Sequence[int] | None = None) -> int:
    """Mark the member's unread notifications read (all, or just those ids). Returns how many changed."""
    unread = Notification.objects.filter(member=member, read_at__isnull=True)
    if notification_ids is not None:
        unread = unread.filter(pk__in=notification_ids)
    return unread.update(read_at=timezone.now())


PREFERENCE_FIELDS = ("kind", "in_portal", "email")


def notification_preference_set(
    *, member: Member, kind: str, in_portal: bool, email: bool, actor: Any | None = None
) -> NotificationPreference:
    """Choose the channels one kind of notification reaches the member by. `actor` defaults to the member."""
    notification_kinds.get(kind)
    with transaction.atomic():
        preference, created = NotificationPreference.objects.select_for_update().get_or_create(
            member=member, kind=kind, defaults={"in_portal": in_portal, "email": email}
        )
        before = None if created else model_snapshot(preference, PREFERENCE_FIELDS)
        if not created:
            if (preference.in_portal, preference.email) == (in_portal, email):
                return preference
            preference.in_portal, preference.email = in_portal, email
            preference.save(update_fields=["in_portal", "email"])
        audit_record(
            actor=actor if actor is not None else member.user,
            action="notification_preference.set",
            obj=preference,
            before=before,
            after=model_snapshot(preference, PREFERENCE_FIELDS),
        )
    return preference


def notification_email_send(*, notification_id: int) -> bool:
    """Send a pending notification's email once. Returns True when this call sent it.

    The row is locked while sending so two workers never both send; a failure is counted and retried by
    the scheduled sweep until the attempt limit.
    """
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("member__user")
            .filter(pk=notification_id, email_status=Notification.EmailStatus.PENDING)
            .first()
        )
        if notification is None:
            return False
        member = notification.member
        if notifications.email_mode(member=member) == "bounced":
            notification.email_status = Notification.EmailStatus.BOUNCED
            notification.save(update_fields=["email_status"])
            return False
        context = {
            "notification": notification,
            "member": member,
            "site_url": settings.SITE_URL,
            "unsubscribe_url": notifications.unsubscribe_url(member_id=member.pk, kind=notification.kind),
        }
        with translation.override(member.locale):
            text = render_to_string("notifications/email.txt", context)
            html = render_to_string("notifications/email.html", context)
        message = EmailMultiAlternatives(
            subject=notification.title,
            body=text,
            to=[member.user.email],
            from_email=settings.DEFAULT_FROM_EMAIL,
            headers=notifications.email_headers(member_id=member.pk, kind=notification.kind),
        )
        message.attach_alternative(html, "text/html")
        notification.email_attempts += 1
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as error:
            # The server refused the address itself: a permanent failure, retrying would never help.
            notification.save(update_fields=["email_attempts"])
            notifications.email_bounce_record(email=member.user.email, reason=str(error)[:255])
            return False
        except Exception:  # any transport failure: count it, keep the row pending for the retry sweep
            logger.exception("Sending notification %s by email failed", notification.pk)
            if notification.email_attempts >= settings.HEARTH_NOTIFICATION_EMAIL_MAX_ATTEMPTS:
                notification.email_status = Notification.EmailStatus.FAILED
            notification.save(update_fields=["email_attempts", "email_status"])
            return False
        notification.email_status = Notification.EmailStatus.SENT
        notification.email_sent_at = timezone.now()
        notification.save(update_fields=["email_attempts", "email_status", "email_sent_at"])
        return True


# --- API tokens -------------------------------------------------------------------------------------------

TOKEN_PREFIX_LENGTH = 8


def api_token_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_token_clean_scopes(scopes: Iterable[str] | None) -> list[str]:
    """Known scope names, sorted and without repeats; an empty list means a full-access token."""
    from integrations import scopes as scope_registry

    cleaned = sorted({str(scope).strip() for scope in (scopes or [])})
    unknown = scope_registry.unknown(cleaned)
    if unknown:
        raise ServiceError(_("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(unknown)}, field="scopes")
    return cleaned


def api_token_create(
    *, user: Any, name: str, expires_at: datetime | None = None, scopes: Iterable[str] | None = None
) -> tuple[ApiToken, str]:
    """Create a named token; returns it with the secret, which is shown once and never stored.

    `scopes` narrows what the token may do (see `integrations.scopes`); none means full access.
    """
    scopes = api_token_clean_scopes(scopes)
    name = name.strip()
    if not name:
        raise ServiceError(_("A token needs a name."), field="name")
    if len(name) > 100:
        raise ServiceError(_("Keep the name to 100 characters."), field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError(_("The expiry must be in the future."), field="expires_at")
    raw_key = f"hth_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name,
                    prefix=raw_key[4 : 4 + TOKEN_PREFIX_LENGTH],
                    key_hash=api_token_hash(raw_key),
                    expires_at=expires_at,
                    scopes=scopes,
                )
        except IntegrityError:
            raise ServiceError(_("You already have an active token with this name."), field="name") from None
        audit_record(actor=user, action="api_token.create", obj=token, after=model_snapshot(token))
    return token, raw_key


def api_token_revoke(*, actor: Any, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            before = model_snapshot(token)
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(actor=actor, action="api_token.revoke", obj=token, before=before, after=model_snapshot(token))
    return token


def api_token_scopes_set(*, actor: Any, token: ApiToken, scopes: Iterable[str]) -> ApiToken:
    """Change what a token may do (its owner in the portal or API, an operator in the admin); audited."""
    cleaned = api_token_clean_scopes(scopes)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise ServiceError(_("This token is revoked."), field="scopes")
        if token.scopes != cleaned:
            before = model_snapshot(token, ["scopes"])
            token.scopes = cleaned
            token.save(update_fields=["scopes"])
            audit_record(
                actor=actor, action="api_token.scopes_set", obj=token, before=before, after={"scopes": cleaned}
            )
    return token


# --- follow-up tasks ----------------------------------------------------------------------------------------


def follow_up_task_file(
    *,
    kind: str,
    title: str,
    member: Member | None = None,
    target: models.Model | None = None,
    detail: str = "",
    url: str = "",
    due_at: datetime | None = None,
    dedupe_key: str | None = None,
    actor: Any | None = None,
) -> tuple[FollowUpTask, bool]:
    """File an operator follow-up task; with a `dedupe_key` a second call returns the first task (created=False).

    Jobs pass a key such as "member_quiet:<member id>:<date>" so a run repeated for the same day files nothing new.
    """
    if dedupe_key is not None:
        existing = FollowUpTask.objects.filter(dedupe_key=dedupe_key).first()
        if existing is not None:
            return existing, False
    task = FollowUpTask(
        kind=kind,
        title=title[:200],
        detail=detail,
        member=member,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        url=url,
        due_at=due_at,
        dedupe_key=dedupe_key,
    )
    try:
        with transaction.atomic():
            task.save()
    except IntegrityError:
        existing = FollowUpTask.objects.filter(dedupe_key=dedupe_key).first() if dedupe_key else None
        if existing is None:
            raise
        return existing, False
    audit_record(actor=actor, action="follow_up_task.file", obj=task, after=model_snapshot(task))
    return task, True
