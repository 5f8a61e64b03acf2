"""Point rules: which activities earn (or cost) points, applied to the activity stream as it is recorded.

`rules_apply` is registered as an activity hook (see `rewards.apps`): it runs inside the transaction that records
the activities, so an award commits or rolls back together with what earned it. Each (rule, activity) pair has
one ledger idempotency key, so an activity evaluated twice still awards once per rule.

Caps are counted from the rule's own ledger entries, in the member's local days and ISO weeks. The key carries
the activity's local ISO week and day (``rule:<id>:<year>-W<week>:<date>:activity:<id>``), so one indexed query
on the member's entries counts today's and this week's awards without joining the activity stream.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from community.db import prepared_cursor
from community.errors import ServiceError
from community.models import Activity
from community.services import audit_record, model_snapshot
from rewards.models import PointBalance, PointEntry, PointRule
from rewards.services.config_cache import ConfigCache
from rewards.services.ledger import BulkAward, LedgerResult, points_award, points_award_bulk, points_deduct

logger = logging.getLogger(__name__)

MAX_RULE_POINTS = 1_000_000
RULES_CACHE_KEY = "rewards:point-rules:v2"
RULES_CACHE_SECONDS = 60
# Changing any of these changes what a member earns, so the rule gets a new version (history keeps the old one).
VERSIONED_FIELDS = ("points", "daily_cap", "weekly_cap", "cooldown_seconds", "first_time_only", "conditions")
EDITABLE_FIELDS = (
    "name",
    "verb",
    "description",
    *VERSIONED_FIELDS,
    "active_from",
    "active_until",
    "is_active",
)

# The program's starting rules: (verb, name, points, limits). Names are translation msgids.
DEFAULT_RULES: tuple[tuple[str, str, int, dict[str, Any]], ...] = (
    ("checked_in", gettext_noop("Daily check-in"), 2, {"daily_cap": 1}),
    ("question_answered", gettext_noop("Answering a question"), 5, {"daily_cap": 3}),
    ("feedback_submitted", gettext_noop("Submitting feedback"), 3, {"daily_cap": 5}),
    ("feedback_accepted", gettext_noop("Feedback accepted"), 20, {}),
    ("event_attended", gettext_noop("Attending an event"), 10, {}),
    ("survey_answered", gettext_noop("Answering a survey"), 5, {}),
    ("reported_for_spam", gettext_noop("Reported for spam"), -20, {}),
)


# --- matching ---------------------------------------------------------------------------------------------


def conditions_match(conditions: Mapping[str, Any] | None, data: Mapping[str, Any] | None) -> bool:
    """True when every condition holds for the activity's data: equal values, or one of a list's values."""
    data = data or {}
    for key, expected in (conditions or {}).items():
        if key not in data:
            return False
        actual = data[key]
        if isinstance(expected, list) and not isinstance(actual, list):
            if actual not in expected:
                return False
        elif actual != expected:
            return False
    return True


def rule_is_active_at(rule: PointRule, moment: datetime) -> bool:
    if not rule.is_active:
        return False
    if rule.active_from is not None and moment < rule.active_from:
        return False
    return not (rule.active_until is not None and moment >= rule.active_until)


def rule_matches(rule: PointRule, activity: Activity) -> bool:
    return (
        rule.verb == activity.verb
        and rule_is_active_at(rule, activity.occurred_at)
        and conditions_match(rule.conditions, activity.data)
    )


def _week_prefix(rule_id: int, local_date: date) -> str:
    year, week, _weekday = local_date.isocalendar()
    return f"rule:{rule_id}:{year}-W{week:02d}:"


def rule_award_key(rule: PointRule, activity: Activity) -> str:
    """The ledger key of this rule's award for this activity: the same pair always gets the same key."""
    return rule_award_key_for(rule_id=rule.pk, local_date=activity.local_date, activity_id=activity.pk)


def rule_award_key_for(*, rule_id: int, local_date: date, activity_id: int) -> str:
    return f"{_week_prefix(rule_id, local_date)}{local_date.isoformat()}:activity:{activity_id}"


def _has_limits(rule: PointRule) -> bool:
    return bool(rule.daily_cap or rule.weekly_cap or rule.cooldown_seconds or rule.first_time_only)


_LOCK_BALANCE = f"SELECT member_id FROM {PointBalance._meta.db_table} WHERE member_id = %s"  # noqa: S608
# Written out (not built by the ORM) because every capped award runs it. LIKE needs its wildcards escaped:
# the prefixes are made of digits, letters, "-" and ":" only, so none occur.
_EARLIER_AWARDS = (
    "SELECT COUNT(*), COUNT(*) FILTER (WHERE idempotency_key LIKE %s), "  # noqa: S608
    "COUNT(*) FILTER (WHERE idempotency_key LIKE %s), MAX(created_at) "
    f"FROM {PointEntry._meta.db_table} WHERE member_id = %s AND rule_id = %s AND idempotency_key <> %s"
)


def _lock_member_points(member_id: int) -> None:
    """Serialise rule evaluation per member on their balance row (the ledger updates the same row, so the
    order of locks is always the same): two activities racing can then never both squeeze under a cap."""
    # SQLite has no row locks (it serialises every write transaction anyway).
    lock = f"{_LOCK_BALANCE} FOR UPDATE" if connection.features.has_select_for_update else _LOCK_BALANCE
    with prepared_cursor() as cursor:
        cursor.execute(lock, [member_id])
        if cursor.fetchone() is not None:
            return
        PointBalance.objects.bulk_create([PointBalance(member_id=member_id)], ignore_conflicts=True)
        cursor.execute(lock, [member_id])


# PostgreSQL: the lock and the count in one statement. The count reads the statement's snapshot, taken before
# the lock was granted, so it misses a posting the lock waited for. Every posting moves the balance row, so that
# shows as the locked row being a newer version (another ctid) than the one the snapshot sees; then the count is
# run again, now that the lock is held. Otherwise no posting for the member committed since the snapshot.
_LOCK_AND_COUNT = (
    f"SELECT b.ctid = (SELECT s.ctid FROM {PointBalance._meta.db_table} s WHERE s.member_id = b.member_id), c.* "  # noqa: S608
    f"FROM {PointBalance._meta.db_table} b CROSS JOIN LATERAL ({_EARLIER_AWARDS}) c "
    "WHERE b.member_id = %s FOR UPDATE OF b"
)


def _earlier_awards(*, member_id: int, rule_id: int, week_prefix: str, day_prefix: str, key: str) -> Sequence[Any]:
    """(total, this week, today, last award time) of the rule's earlier awards to the member, counted while
    holding the member's balance row (see `_lock_member_points`)."""
    params = [f"{week_prefix}%", f"{day_prefix}%", member_id, rule_id, key]
    with prepared_cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_LOCK_AND_COUNT, [*params, member_id])
            row = cursor.fetchone()
            if row is None:  # no balance row yet: create it (this transaction then holds it) and ask again
                PointBalance.objects.bulk_create([PointBalance(member_id=member_id)], ignore_conflicts=True)
                cursor.execute(_LOCK_AND_COUNT, [*params, member_id])
                row = cursor.fetchone()
            if row is not None and row[0]:
                return row[1:]
            if row is None:
                _lock_member_points(member_id)
        else:
            _lock_member_points(member_id)
        cursor.execute(_EARLIER_AWARDS, params)
        return cursor.fetchone()


def _within_limits(rule: PointRule, activity: Activity, key: str) -> bool:
    if not _has_limits(rule):
        return True
    week_prefix = _week_prefix(rule.pk, activity.local_date)
    day_prefix = f"{week_prefix}{activity.local_date.isoformat()}:"
    # Earlier awards of this rule; this activity's own entry (if evaluated before) does not count against it.
    total, this_week, today, last_at = _earlier_awards(
        member_id=activity.member_id, rule_id=rule.pk, week_prefix=week_prefix, day_prefix=day_prefix, key=key
    )
    if isinstance(last_at, str):  # SQLite hands back text
        last_at = datetime.fromisoformat(last_at)
        last_at = last_at if timezone.is_aware(last_at) else timezone.make_aware(last_at, UTC)
    counts = {"total": total, "this_week": this_week, "today": today, "last_at": last_at}
    if rule.first_time_only and counts["total"]:
        return False
    if rule.daily_cap is not None and counts["today"] >= rule.daily_cap:
        return False
    if rule.weekly_cap is not None and counts["this_week"] >= rule.weekly_cap:
        return False
    return not (
        rule.cooldown_seconds
        and counts["last_at"] is not None
        and counts["last_at"] > timezone.now() - timedelta(seconds=rule.cooldown_seconds)
    )


# --- applying rules to activities -------------------------------------------------------------------------


def rule_apply(*, rule: PointRule, activity: Activity) -> LedgerResult | None:
    """Award (or deduct) this rule's points for this activity if it matches and the limits allow.

    Returns the ledger result, or None when nothing was posted (no match, a limit reached, nothing to deduct).
    """
    if not rule_matches(rule, activity):
        return None
    key = rule_award_key(rule, activity)
    # Joins the caller's transaction (the activity's) without a savepoint; the lock needs a transaction.
    with transaction.atomic(savepoint=False):
        if not _within_limits(rule, activity, key):
            return None
        if rule.points > 0:
            return points_award(
                member=activity.member,
                amount=rule.points,
                reason=rule.name,
                idempotency_key=key,
                rule=rule,
                source=activity,
            )
        return points_deduct(
            member=activity.member,
            amount=-rule.points,
            reason=rule.name,
            idempotency_key=key,
            rule=rule,
            source=activity,
        )


def _load_rules_by_verb() -> dict[str, list[PointRule]]:
    by_verb: dict[str, list[PointRule]] = defaultdict(list)
    for rule in PointRule.objects.filter(is_active=True).order_by("pk"):
        by_verb[rule.verb].append(rule)
    return dict(by_verb)


# Every recorded activity needs the active rules, and they change rarely (see rewards.services.config_cache).
_RULES = ConfigCache(key=RULES_CACHE_KEY, load=_load_rules_by_verb, shared_seconds=RULES_CACHE_SECONDS)


def _active_rules_by_verb() -> dict[str, list[PointRule]]:
    return _RULES.get()


def rules_cache_forget(**_kwargs: Any) -> None:
    _RULES.forget()


def rules_for_verbs(verbs: set[str]) -> dict[str, list[PointRule]]:
    by_verb = _active_rules_by_verb()
    return {verb: by_verb[verb] for verb in verbs if verb in by_verb}


# From this many plain awards in one batch of activities (an import, a batch of product events), they are posted
# with one bulk call instead of one by one.
BULK_RULE_AWARDS_MIN = 10


def _plain_award(rule: PointRule) -> bool:
    """An award that depends on nothing but the activity: no cap, cooldown or first-time limit, no deduction."""
    return rule.points > 0 and not _has_limits(rule)


def rules_apply(activities: Sequence[Activity]) -> None:
    """The activity hook: apply every active rule whose verb and conditions match each new activity.

    A batch's plain awards (see `_plain_award`), when there are at least BULK_RULE_AWARDS_MIN of them, go to the
    ledger in one `points_award_bulk` call, with the keys, amounts, reasons and sources `rule_apply` would give
    them; limited rules and deductions are applied one activity at a time, in order, as always."""
    if not activities:
        return
    by_verb = rules_for_verbs({activity.verb for activity in activities})
    if not by_verb:
        return
    plain: list[tuple[PointRule, Activity]] = []
    one_by_one: list[tuple[PointRule, Activity]] = []
    for activity in activities:
        for rule in by_verb.get(activity.verb, ()):
            (plain if _plain_award(rule) else one_by_one).append((rule, activity))
    if len(plain) < BULK_RULE_AWARDS_MIN:
        one_by_one, plain = [(r, a) for a in activities for r in by_verb.get(a.verb, ())], []
    if plain:
        awards = [
            BulkAward(
                member_id=activity.member_id,
                amount=rule.points,
                idempotency_key=rule_award_key(rule, activity),
                reason=rule.name,
                rule=rule,
                source=activity,
            )
            for rule, activity in plain
            if rule_matches(rule, activity)
        ]
        if awards:
            points_award_bulk(awards=awards)
    for rule, activity in one_by_one:
        rule_apply(rule=rule, activity=activity)


def points_for_activity(*, activity: Activity, since: datetime | None = None) -> int:
    """Lifetime points the rules gave (or took) for this activity."""
    entries = PointEntry.objects.filter(
        member_id=activity.member_id,
        rule__isnull=False,
        source_type=ContentType.objects.get_for_model(Activity),
        source_id=str(activity.pk),
    )
    if since is not None:
        entries = entries.filter(created_at__gte=since)
    return sum(entries.values_list("lifetime_delta", flat=True))


# --- operator changes -------------------------------------------------------------------------------------


def _clean_int(value: Any, *, field: str, minimum: int, maximum: int, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError(_("Enter a whole number."), field=field)
    if not minimum <= value <= maximum:
        raise ServiceError(_("Enter a number from %(min)d to %(max)d.") % {"min": minimum, "max": maximum}, field=field)
    return value


def point_rule_validate(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check a rule's fields (all of them, or the ones being changed); returns them normalised.

    Raises ServiceError naming the field at fault.
    """
    cleaned = dict(fields)
    unknown = sorted(set(cleaned) - set(EDITABLE_FIELDS))
    if unknown:
        raise ServiceError(_("These fields cannot be set: %(names)s.") % {"names": ", ".join(unknown)})
    if "name" in cleaned:
        name = (cleaned["name"] or "").strip()
        if not name or len(name) > 100:
            raise ServiceError(_("A rule needs a name of at most 100 characters."), field="name")
        cleaned["name"] = name
    if "verb" in cleaned:
        verb = (cleaned["verb"] or "").strip()
        if not verb or len(verb) > 64 or any(ch.isspace() for ch in verb):
            raise ServiceError(
                _("The verb is one word of at most 64 characters, e.g. question_answered."), field="verb"
            )
        cleaned["verb"] = verb
    if "description" in cleaned:
        cleaned["description"] = cleaned["description"] or ""
    if "points" in cleaned:
        points = _clean_int(cleaned["points"], field="points", minimum=-MAX_RULE_POINTS, maximum=MAX_RULE_POINTS)
        if points == 0:
            raise ServiceError(_("A rule must give or take at least one point."), field="points")
    for cap in ("daily_cap", "weekly_cap"):
        if cap in cleaned:
            _clean_int(cleaned[cap], field=cap, minimum=1, maximum=1_000_000, allow_none=True)
    if "cooldown_seconds" in cleaned:
        cleaned["cooldown_seconds"] = _clean_int(
            cleaned["cooldown_seconds"] or 0, field="cooldown_seconds", minimum=0, maximum=366 * 86_400
        )
    if "first_time_only" in cleaned:
        cleaned["first_time_only"] = bool(cleaned["first_time_only"])
    if "is_active" in cleaned:
        cleaned["is_active"] = bool(cleaned["is_active"])
    if "conditions" in cleaned:
        conditions = cleaned["conditions"] or {}
        if not isinstance(conditions, dict) or not all(isinstance(key, str) and key for key in conditions):
            raise ServiceError(
                _('Conditions must be an object of names to values, e.g. {"category": "bug"}.'), field="conditions"
            )
        cleaned["conditions"] = conditions
    for moment in ("active_from", "active_until"):
        value = cleaned.get(moment)
        if value is not None and (not isinstance(value, datetime) or timezone.is_naive(value)):
            raise ServiceError(_("Enter a date and time with a time zone."), field=moment)
    return cleaned


def _check_dates(rule: PointRule) -> None:
    if rule.active_from and rule.active_until and rule.active_until <= rule.active_from:
        raise ServiceError(_("The end must be after the start."), field="active_until")


def point_rule_create(
    *,
    actor: Any | None,
    name: str,
    verb: str,
    points: int,
    description: str = "",
    daily_cap: int | None = None,
    weekly_cap: int | None = None,
    cooldown_seconds: int = 0,
    first_time_only: bool = False,
    conditions: Mapping[str, Any] | None = None,
    active_from: datetime | None = None,
    active_until: datetime | None = None,
    is_active: bool = True,
) -> PointRule:
    fields = point_rule_validate(
        {
            "name": name,
            "verb": verb,
            "points": points,
            "description": description,
            "daily_cap": daily_cap,
            "weekly_cap": weekly_cap,
            "cooldown_seconds": cooldown_seconds,
            "first_time_only": first_time_only,
            "conditions": conditions if conditions is not None else {},
            "active_from": active_from,
            "active_until": active_until,
            "is_active": is_active,
        }
    )
    rule = PointRule(**fields)
    _check_dates(rule)
    with transaction.atomic():
        rule.save()
        audit_record(actor=actor, action="point_rule.create", obj=rule, after=model_snapshot(rule))
    return rule


def point_rule_update(*, actor: Any | None, rule: PointRule, **changes: Any) -> PointRule:
    """Change a rule. A change to what it awards (points, caps, cooldown, conditions) bumps its version;
    entries already posted keep the version they were awarded under, so history is never rescored."""
    changes = point_rule_validate(changes)
    with transaction.atomic():
        rule = PointRule.objects.select_for_update().get(pk=rule.pk)
        before = model_snapshot(rule)
        changed = {name for name, value in changes.items() if getattr(rule, name) != value}
        if not changed:
            return rule
        for name in changed:
            setattr(rule, name, changes[name])
        _check_dates(rule)
        if changed & set(VERSIONED_FIELDS):
            rule.version += 1
        rule.save()
        audit_record(actor=actor, action="point_rule.update", obj=rule, before=before, after=model_snapshot(rule))
    return rule


def point_rules_install_defaults(*, actor: Any | None = None) -> int:
    """Create the default rules that are missing (matched on verb and name); never changes existing ones.

    Returns how many were created. Safe to run any number of times (deploys, migrations, demo seeding).
    """
    created = 0
    with transaction.atomic():
        existing = set(PointRule.objects.values_list("verb", "name"))
        for verb, name, points, limits in DEFAULT_RULES:
            if (verb, name) in existing:
                continue
            point_rule_create(actor=actor, name=name, verb=verb, points=points, **limits)
            created += 1
    return created
