"""Write paths shared by the whole community: the activity stream, notifications, the audit log, API tokens."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import smtplib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
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
    record = AuditLog(
        actor=actor,
        action=action,
        object_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None else "",
        object_repr=str(obj)[:200] if obj is not None else "",
        before=_jsonable(dict(before)) if before is not None else None,
        after=_jsonable(dict(after)) if after is not None else None,
    )
    _audit_insert(record)
    return record


class _RowInsert:
    """One model instance inserted with a statement written once per model: audit records and activities are
    written on every award, and the ORM's save() took longer to build its INSERT than the database took to run it.
    Values are prepared by the fields themselves, as save() would (`pre_save` fills defaults and auto dates)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.fields = [field for field in model._meta.concrete_fields if not field.primary_key]
        self.sql = (
            f"INSERT INTO {model._meta.db_table} ({', '.join(field.column for field in self.fields)}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(self.fields))}) RETURNING id"
        )

    def __call__(self, obj: models.Model) -> None:
        params = [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in self.fields]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            obj.pk = cursor.fetchone()[0]
        obj._state.adding = False
        obj._state.db = connection.alias


_audit_insert = _RowInsert(AuditLog)


def audit_record_bulk(*, entries: Sequence[Mapping[str, Any]], actor: Any | None = None) -> int:
    """Record many state changes by one actor (None: the system) in one INSERT. Each entry is a mapping with
    `action` and optionally `obj`, `before`, `after`, as for `audit_record`. Returns how many were written."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    rows = []
    for entry in entries:
        obj = entry.get("obj")
        before, after = entry.get("before"), entry.get("after")
        rows.append(
            AuditLog(
                actor=actor,
                action=entry["action"],
                object_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
                object_id=str(obj.pk) if obj is not None else "",
                object_repr=str(obj)[:200] if obj is not None else "",
                before=_jsonable(dict(before)) if before is not None else None,
                after=_jsonable(dict(after)) if after is not None else None,
            )
        )
    return len(AuditLog.objects.bulk_create(rows, batch_size=1000))


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
            _activity_insert(activity)
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


_activity_row_insert = _RowInsert(Activity)


def _activity_insert(activity: Activity) -> None:
    """Insert one activity with a prepared statement: every award starts here."""
    activity.recorded_at = timezone.now()
    _activity_row_insert(activity)


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
    activities_record_bulk_returning(entries=entries, batch_size=batch_size)
    return len(entries)


def activities_record_bulk_returning(*, entries: Sequence[ActivityInput], batch_size: int = 2000) -> list[Activity]:
    """`activities_record_bulk`, answering with the activities this call actually recorded.

    They come in the order the hooks saw them (occurred_at, then id). An entry whose `dedupe_key` was recorded
    before, by a concurrent writer, or by an earlier entry of the same call is not among them.
    """
    for entry in entries:
        if timezone.is_naive(entry.occurred_at):
            raise ValueError("occurred_at must be timezone-aware.")
    content_types: dict[type, ContentType] = {}
    for entry in entries:
        if entry.target is not None and type(entry.target) not in content_types:
            content_types[type(entry.target)] = ContentType.objects.get_for_model(type(entry.target))
    unkeyed = [entry for entry in entries if entry.dedupe_key is None]
    keyed: dict[str, ActivityInput] = {}
    for entry in entries:
        if entry.dedupe_key is not None:
            keyed.setdefault(entry.dedupe_key, entry)  # the first entry with a key wins, as one at a time would
    with transaction.atomic():
        # Rows without a key cannot conflict, so the database hands back their ids; keyed rows may race another
        # writer, so they are inserted ignoring conflicts.
        recorded = _activity_rows(unkeyed, content_types)
        Activity.objects.bulk_create(recorded, batch_size=batch_size)
        if connection.vendor == "postgresql":
            # The database itself says which keys were new (RETURNING): no look-up before, no read-back after.
            # Product usage events arrive by the thousand, so this path is the hot one.
            recorded += _insert_keyed_returning(list(keyed.values()), content_types, batch_size=batch_size)
        else:
            chunk = min(connection.features.max_query_params or KEY_LOOKUP_CHUNK, KEY_LOOKUP_CHUNK)
            seen = _dedupe_keys_recorded(list(keyed), chunk=chunk)
            new_keys = [key for key in keyed if key not in seen]
            Activity.objects.bulk_create(
                _activity_rows([keyed[key] for key in new_keys], content_types),
                batch_size=batch_size,
                ignore_conflicts=True,
            )
            recorded += _activities_with_dedupe_keys(new_keys, chunk=chunk)
        recorded.sort(key=lambda activity: (activity.occurred_at, activity.pk))
        activity_hooks.run(recorded)
    return recorded


def _activity_rows(entries: Sequence[ActivityInput], content_types: Mapping[type, ContentType]) -> list[Activity]:
    return [
        Activity(
            member=entry.member,
            verb=entry.verb,
            target_type=content_types[type(entry.target)] if entry.target is not None else None,
            target_id=str(entry.target.pk) if entry.target is not None else "",
            data=_jsonable(dict(entry.data)),
            occurred_at=entry.occurred_at,
            local_date=local_date_for(entry.member, entry.occurred_at),
            dedupe_key=entry.dedupe_key,
        )
        for entry in entries
    ]


# The activity's concrete fields, in the order Activity.from_db() takes them.
_ACTIVITY_ATTNAMES = tuple(activity_field.attname for activity_field in Activity._meta.concrete_fields)


def _insert_keyed_returning(
    entries: list[ActivityInput], content_types: Mapping[type, ContentType], *, batch_size: int
) -> list[Activity]:
    """PostgreSQL: insert keyed entries with one `INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING` per batch;
    returns the activities actually inserted (a key recorded before, or by a concurrent writer, is skipped).

    Only the inserted rows become model instances: a re-sent batch costs one statement and no objects."""
    table = Activity._meta.db_table
    now = timezone.now()
    inserted: list[Activity] = []
    # The batch travels as one JSON document (one parameter): quoting thousands of values one by one costs more
    # than the insert itself. Keys recorded before are filtered out ahead of the insert (NOT EXISTS), so a
    # re-sent row draws no id from the sequence; ON CONFLICT still settles a race with a concurrent writer.
    sql = (
        f"INSERT INTO {table} (member_id, verb, target_type_id, target_id, data, occurred_at, local_date, "  # noqa: S608
        "dedupe_key, recorded_at) SELECT u.m, u.v, u.t, u.i, u.d, u.o, u.l, u.k, %s "
        "FROM jsonb_to_recordset(%s::jsonb) AS u(m bigint, v text, t integer, i text, d jsonb, o timestamptz, "
        f"l date, k text) WHERE NOT EXISTS (SELECT 1 FROM {table} AS a WHERE a.dedupe_key = u.k) "
        "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id, dedupe_key"
    )
    zones: dict[str, ZoneInfo] = {}
    member_field, target_type_field = Activity._meta.get_field("member"), Activity._meta.get_field("target_type")
    for start in range(0, len(entries), batch_size):
        batch = entries[start : start + batch_size]
        records = []
        for entry in batch:
            member = entry.member
            zone = zones.get(member.time_zone)
            if zone is None:
                zone = zones[member.time_zone] = ZoneInfo(member.time_zone)
            target = entry.target
            records.append(
                {
                    "m": member.pk,
                    "v": entry.verb,
                    "t": content_types[type(target)].pk if target is not None else None,
                    "i": str(target.pk) if target is not None else "",
                    "d": entry.data if type(entry.data) is dict else dict(entry.data),
                    "o": entry.occurred_at.isoformat(),
                    "l": entry.occurred_at.astimezone(zone).date().isoformat(),
                    "k": entry.dedupe_key,
                }
            )
        # Encoded as `_jsonable` would encode each entry's data, so what is stored and handed to the hooks match.
        document = json.dumps(records, cls=DjangoJSONEncoder)
        with connection.cursor() as cursor:
            cursor.execute(sql, [now, document])
            returned = cursor.fetchall()
        if not returned:
            continue
        stored = json.loads(document)
        position = {entry.dedupe_key: index for index, entry in enumerate(batch)}
        alias = connection.alias
        for pk, key in returned:
            index = position[key]
            entry, record = batch[index], stored[index]
            values = {
                "id": pk,
                "member_id": record["m"],
                "verb": entry.verb,
                "target_type_id": record["t"],
                "target_id": record["i"],
                "data": record["d"],
                "occurred_at": entry.occurred_at,
                "local_date": date.fromisoformat(record["l"]),
                "dedupe_key": key,
                "recorded_at": now,
            }
            activity = Activity.from_db(alias, None, [values[name] for name in _ACTIVITY_ATTNAMES])
            member_field.set_cached_value(activity, entry.member)
            if entry.target is not None:
                target_type_field.set_cached_value(activity, content_types[type(entry.target)])
            inserted.append(activity)
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
