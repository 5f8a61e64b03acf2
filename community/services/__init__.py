"""Write paths shared by the whole community: the activity stream, notifications, the audit log
(`community.services.audit`), API tokens (`community.services.tokens`) and operators' follow-up tasks
(`community.services.follow_ups`). The audit, token and follow-up functions are importable from here too."""

from __future__ import annotations

import json
import logging
import smtplib
from collections.abc import Mapping, Sequence
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

from community import activity_hooks, notification_kinds, notifications
from community.db import RowInsert, prepared_cursor
from community.models import (
    Activity,
    Notification,
    NotificationEmailSetting,
    NotificationPreference,
)
from community.services.audit import audit_record as audit_record
from community.services.audit import audit_record_bulk as audit_record_bulk
from community.services.audit import jsonable
from community.services.audit import model_snapshot as model_snapshot
from community.services.follow_ups import follow_up_task_file as follow_up_task_file
from community.services.tokens import TOKEN_PREFIX_LENGTH as TOKEN_PREFIX_LENGTH
from community.services.tokens import api_token_clean_scopes as api_token_clean_scopes
from community.services.tokens import api_token_create as api_token_create
from community.services.tokens import api_token_hash as api_token_hash
from community.services.tokens import api_token_revoke as api_token_revoke
from community.services.tokens import api_token_scopes_set as api_token_scopes_set
from members.models import Member

logger = logging.getLogger(__name__)

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
        data=jsonable(dict(data or {})),
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


_activity_row_insert = RowInsert(Activity)
_ACTIVITY_DATA = Activity._meta.get_field("data")
# The columns as record_activity fills them; a model with other columns takes the generic insert.
_ACTIVITY_COLUMNS = ("member_id", "verb", "target_type_id", "target_id", "data", "occurred_at", "local_date")
_ACTIVITY_COLUMNS += ("dedupe_key", "recorded_at")
_ACTIVITY_DIRECT = tuple(field.column for field in _activity_row_insert.fields) == _ACTIVITY_COLUMNS


def _activity_insert(activity: Activity) -> None:
    """Insert one activity with a prepared statement: every award starts here. The values go as they are (the
    fields' own preparation cost more than the insert), all but the JSON, which its field encodes."""
    activity.recorded_at = timezone.now()
    if not _ACTIVITY_DIRECT:
        _activity_row_insert(activity)
        return
    params = [
        activity.member_id,
        activity.verb,
        activity.target_type_id,
        activity.target_id,
        _ACTIVITY_DATA.get_db_prep_save(activity.data, connection),
        activity.occurred_at,
        activity.local_date,
        activity.dedupe_key,
        activity.recorded_at,
    ]
    with prepared_cursor() as cursor:
        cursor.execute(_activity_row_insert.sql, params)
        activity.pk = cursor.fetchone()[0]
    activity._state.adding = False
    activity._state.db = connection.alias


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


_ONE_KEYED_INSERT = (
    f"INSERT INTO {Activity._meta.db_table} ({', '.join(field.column for field in _activity_row_insert.fields)}) "  # noqa: S608
    f"VALUES ({', '.join(['%s'] * len(_activity_row_insert.fields))}) "
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id"
)


def _record_one_keyed(entry: ActivityInput) -> list[Activity]:
    """One keyed activity (a level-up's "level_reached"), as the batch path records it — a key recorded before
    adds nothing, the hooks run with a new row in this transaction — in one prepared statement: the batch
    path's savepoint and JSON document cost a single row more than the row itself (PostgreSQL)."""
    target = entry.target
    activity = Activity(
        member=entry.member,
        verb=entry.verb,
        target_type=ContentType.objects.get_for_model(type(target)) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        data=jsonable(dict(entry.data)),
        occurred_at=entry.occurred_at,
        local_date=local_date_for(entry.member, entry.occurred_at),
        dedupe_key=entry.dedupe_key,
    )
    params = [
        field.get_db_prep_save(field.pre_save(activity, True), connection) for field in _activity_row_insert.fields
    ]
    with transaction.atomic(savepoint=False):
        with prepared_cursor() as cursor:
            cursor.execute(_ONE_KEYED_INSERT, params)
            row = cursor.fetchone()
        if row is None:
            return []
        activity.pk = row[0]
        activity._state.adding = False
        activity._state.db = connection.alias
        activity_hooks.run([activity])
    return [activity]


def activities_record_bulk_returning(*, entries: Sequence[ActivityInput], batch_size: int = 2000) -> list[Activity]:
    """`activities_record_bulk`, answering with the activities this call actually recorded.

    They come in the order the hooks saw them (occurred_at, then id). An entry whose `dedupe_key` was recorded
    before, by a concurrent writer, or by an earlier entry of the same call is not among them.
    """
    for entry in entries:
        if timezone.is_naive(entry.occurred_at):
            raise ValueError("occurred_at must be timezone-aware.")
    if len(entries) == 1 and entries[0].dedupe_key is not None and connection.vendor == "postgresql":
        return _record_one_keyed(entries[0])
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
            data=jsonable(dict(entry.data)),
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
        # Encoded as `jsonable` would encode each entry's data, so what is stored and handed to the hooks match.
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


def _notify_statement() -> tuple[str, tuple[str, ...]]:
    """The one statement `notify` runs, and the names of its parameters in order. It reads the member's
    preference for the kind and their e-mail setting, and inserts the notification only when a channel is on,
    with the e-mail status those decide (`can_email`: the account is active and has an address)."""
    in_portal = ("COALESCE(pref.in_portal, %s)", ("in_portal_default",))
    email = ("COALESCE(pref.email, %s)", ("email_default",))
    status = notifications.status_for_mode_sql(setting="email_setting")
    skipped = Notification.EmailStatus.SKIPPED.value
    computed = {
        "read_at": ("NULL", ()),
        "show_in_portal": in_portal,
        "email_status": (f"CASE WHEN {email[0]} AND %s THEN {status} ELSE '{skipped}' END", (*email[1], "can_email")),
        "email_attempts": ("0", ()),
        "email_sent_at": ("NULL", ()),
    }
    expressions, names = [], []
    columns = [field.column for field in Notification._meta.concrete_fields if not field.primary_key]
    for column in columns:
        expression, slots = computed.get(column, ("%s", (column,)))
        expressions.append(expression)
        names.extend(slots)
    sql = (
        f"INSERT INTO {Notification._meta.db_table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {', '.join(expressions)} FROM (SELECT 1 AS one) AS one_row "
        f"LEFT JOIN {NotificationPreference._meta.db_table} pref ON pref.member_id = %s AND pref.kind = %s "
        f"LEFT JOIN {NotificationEmailSetting._meta.db_table} email_setting ON email_setting.member_id = %s "
        f"WHERE {in_portal[0]} OR {email[0]} "
        "RETURNING id, show_in_portal, email_status"
    )
    names.extend(("member_id", "kind", "member_id", *in_portal[1], *email[1]))
    return sql, tuple(names)


_NOTIFY_SQL, _NOTIFY_PARAMS = _notify_statement()
_NOTIFICATION_CONTEXT = Notification._meta.get_field("context")


def notify(
    *, member: Member, kind: str, context: Mapping[str, Any] | None = None, url: str = ""
) -> Notification | None:
    """Tell a member something: an inbox entry and/or an email, per their preference, in their language.

    The email is sent by a Celery task once the surrounding transaction commits. Returns None when the
    member has switched off every channel for this kind.

    One prepared statement reads the channels and the e-mail setting and inserts the row: on a level-up inside
    an award, the ORM's two lookups and create() cost more than everything else the message needs. The text is
    rendered first, so a member with every channel off costs a render that is thrown away.
    """
    kind_def = notification_kinds.get(kind)
    template_context = {**(context or {}), "member": member, "site_url": settings.SITE_URL}
    with translation.override(member.locale):
        title = render_to_string(f"notifications/{kind}/title.txt", template_context).strip()
        body = render_to_string(f"notifications/{kind}/body.txt", template_context).strip()
    # Read before the statement decides the e-mail channel: callers load it with the member (select_related).
    user = member.user
    stored_context = jsonable(dict(context or {}))
    created_at = timezone.now()
    values = {
        "in_portal_default": kind_def.in_portal_default,
        "email_default": kind_def.email_default,
        # A digest reader's e-mail waits for the digest (status "digest"); a bounced address gets none.
        "can_email": user.is_active and bool(user.email),
        "member_id": member.pk,
        "kind": kind,
        "title": title[:200],
        "body": body,
        "url": url,
        "context": _NOTIFICATION_CONTEXT.get_db_prep_save(stored_context, connection),
        "created_at": created_at,
    }
    # A column the model gains and notify does not fill fails here (KeyError) rather than taking no value.
    params = [values[name] for name in _NOTIFY_PARAMS]
    with prepared_cursor() as cursor:
        cursor.execute(_NOTIFY_SQL, params)
        row = cursor.fetchone()
    if row is None:
        return None
    notification = Notification(
        member=member,
        kind=kind,
        title=values["title"],
        body=body,
        url=url,
        context=stored_context,
        created_at=created_at,
        show_in_portal=bool(row[1]),
        email_status=row[2],
    )
    notification.pk = row[0]
    notification._state.adding = False
    notification._state.db = connection.alias
    if notification.email_status == Notification.EmailStatus.PENDING:
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
