"""Levels: thresholds on lifetime points, optionally with an activity condition.

The ledger calls `levels_evaluate` after every posting, inside the posting transaction and while it holds the
members' balance rows, so evaluations of one member never overlap. Promotion is immediate (the member is
notified and "level_reached" goes on the activity stream); falling below a level only starts its grace period
(`MemberLevel.below_since`), and the daily `levels_review` moves members down once it has passed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from community import domain_events, notification_kinds
from community import selectors as community_selectors
from community import services as community_services
from community.db import prepared_cursor
from community.models import Activity
from community.notification_kinds import NotificationKind
from community.services import audit_record, model_snapshot
from members.models import Member
from rewards.models import Level, MemberLevel, PointBalance, Privilege
from rewards.services.config_cache import ConfigCache
from rewards.sql import ids_in, int_array_literal

logger = logging.getLogger(__name__)

LEVEL_UP = notification_kinds.register(NotificationKind("level_up", _("Reaching a new level")))
LEVEL_REACHED = "level_reached"
EVALUATE_CHUNK = 1000
LADDER_CACHE_KEY = "rewards:level-ladder:v2"
LADDER_CACHE_SECONDS = 60
# Up to this many promotions at once are announced in the posting's own transaction; more go to a worker.
ANNOUNCE_INLINE_MAX = 20
ANNOUNCE_TASK_CHUNK = 500

# (name msgid, lifetime points, privileges, shop discount %, minimum active days in 30)
DEFAULT_LEVELS: tuple[tuple[str, int, list[str], int, int | None], ...] = (
    (gettext_noop("Newcomer"), 0, [], 0, None),
    (gettext_noop("Active"), 100, [Privilege.EARLY_ACCESS.value], 0, None),
    (
        gettext_noop("Core"),
        500,
        [Privilege.EARLY_ACCESS.value, Privilege.EXCLUSIVE_EVENTS.value, Privilege.SHOP_DISCOUNT.value],
        5,
        None,
    ),
    (
        gettext_noop("Super"),
        2000,
        [
            Privilege.EARLY_ACCESS.value,
            Privilege.PRIORITY_SUPPORT.value,
            Privilege.EXCLUSIVE_EVENTS.value,
            Privilege.SHOP_DISCOUNT.value,
        ],
        10,
        8,
    ),
)


@dataclass(frozen=True)
class LevelChange:
    member_id: int
    before: Level | None
    after: Level | None


def _load_ladder() -> list[Level]:
    return list(Level.objects.order_by("threshold"))


# Read on every award (see rewards.services.config_cache); saving or deleting a level forgets it.
_LADDER = ConfigCache(key=LADDER_CACHE_KEY, load=_load_ladder, shared_seconds=LADDER_CACHE_SECONDS)


def level_ladder(*, cached: bool = False) -> list[Level]:
    """The levels, lowest first. `cached` (for the per-award evaluation) reads a copy that saving or deleting a
    level forgets."""
    return _LADDER.get() if cached else _load_ladder()


def level_ladder_forget(**_kwargs: Any) -> None:
    _LADDER.forget()


def level_watch_points() -> tuple[frozenset[int], int | None]:
    """What a points change must touch to possibly change a level: the thresholds, and the lowest threshold of
    a level with an activity condition (at or above it, any posting may qualify the member)."""
    ladder = _LADDER.get()
    conditional = [level.threshold for level in ladder if level.has_activity_condition()]
    return frozenset(level.threshold for level in ladder), min(conditional, default=None)


def member_level_state_sql(member_column: str) -> str | None:
    """A scalar SQL expression for the level the member whose id is `member_column` holds, as [level id, 1 if
    below it since some time else 0], or NULL without a level (PostgreSQL; None elsewhere). A posting reads it
    with its balance, so `level_may_change` can tell without a query whether evaluating the member would do
    anything."""
    if connection.vendor != "postgresql":
        return None
    return (
        f"(SELECT ARRAY[ml.level_id, (ml.below_since IS NOT NULL)::int] FROM {MemberLevel._meta.db_table} ml "  # noqa: S608
        f"WHERE ml.member_id = {member_column})"
    )


def level_may_change(*, lifetime: int, level_id: int | None, below: bool) -> bool:
    """Whether `levels_evaluate` could change anything for a member with these lifetime points who holds
    `level_id` (None: no level yet), `below` their level's requirements or not. It acts only when the points
    reach a different level than the one held (a promotion, possibly held back by activity, or the start of
    a grace period) or while a grace period runs; otherwise evaluating is a no-op."""
    ladder = _LADDER.get()
    reached = _by_points(ladder, lifetime)
    if level_id is None:
        return reached >= 0
    current = next((index for index, level in enumerate(ladder) if level.pk == level_id), None)
    return current is None or reached != current or below


def _active_days(member_ids: Iterable[int], window: int, *, today: date) -> dict[int, int]:
    """Distinct local days with any activity in the last `window` days, per member."""
    ids = list(member_ids)
    if not ids:
        return {}
    since = today - timedelta(days=window - 1)
    rows = (
        Activity.objects.filter(member_id__in=ids_in(ids), local_date__gte=since, local_date__lte=today)
        .values("member_id")
        .annotate(days=Count("local_date", distinct=True))
        .order_by()
    )
    return {row["member_id"]: row["days"] for row in rows}


class _ActivityCheck:
    """Answers "does this member meet this level's activity condition?", one grouped query per window."""

    def __init__(self, member_ids: Iterable[int], today: date) -> None:
        self.member_ids = list(member_ids)
        self.today = today
        self.by_window: dict[int, dict[int, int]] = {}

    def meets(self, member_id: int, level: Level) -> bool:
        if not level.has_activity_condition():
            return True
        window = level.active_days_window
        if window not in self.by_window:
            self.by_window[window] = _active_days(self.member_ids, window, today=self.today)
        return self.by_window[window].get(member_id, 0) >= (level.min_active_days or 0)


def _by_points(ladder: Sequence[Level], lifetime: int) -> int:
    """Index of the highest level the points reach, or -1."""
    reached = -1
    for index, level in enumerate(ladder):
        if level.threshold <= lifetime:
            reached = index
    return reached


def _qualified(ladder: Sequence[Level], lifetime: int, member_id: int, check: _ActivityCheck, floor: int = -1) -> int:
    """Index of the highest level above `floor` the member fully qualifies for (points and activity), or -1."""
    for index in range(_by_points(ladder, lifetime), floor, -1):
        if check.meets(member_id, ladder[index]):
            return index
    return -1


def _is_level_up(before: Level | None, after: Level) -> bool:
    # Getting the entry level (0 points) with one's first points is not news; anything higher is.
    return after.threshold > (before.threshold if before is not None else 0)


@dataclass(frozen=True)
class KnownLevel:
    """A member's state as a posting read it with their balance: lifetime points after it (current: the posting
    holds the row) and the level held (None: none; possibly older, see `_promote_known`)."""

    lifetime: int
    level_id: int | None


def levels_evaluate(
    *,
    member_ids: Sequence[int],
    now: datetime | None = None,
    unleveled: Mapping[int, int] | None = None,
    known: Mapping[int, KnownLevel] | None = None,
    members: Mapping[int, Member] | None = None,
) -> list[LevelChange]:
    """Promote (at once) or start the demotion grace period for these members. Returns the promotions.

    `known` is what a posting read with a member's balance (`unleveled`: members it saw holding no level, with
    their lifetime points): a promotion due is written without reading the member's state again, on condition
    that they still hold the level read; anything else is read and evaluated as usual (see `_promote_known`).
    `members`: member objects the caller holds (ideally with their user), which the announcement uses."""
    ids = sorted(set(member_ids))
    if not ids:
        return []
    ladder = level_ladder(cached=True)
    if not ladder:
        return []
    now = now or timezone.now()
    read = {member_id: KnownLevel(lifetime, None) for member_id, lifetime in (unleveled or {}).items()}
    read.update(known or {})
    promotions: list[LevelChange] = []
    for start in range(0, len(ids), EVALUATE_CHUNK):
        promotions += _evaluate_chunk(ids[start : start + EVALUATE_CHUNK], ladder, now, read)
    if promotions:
        _announce(promotions, now, members=members or {})
    return promotions


_FIRST_LEVEL_INSERT = (
    f"INSERT INTO {MemberLevel._meta.db_table} (member_id, level_id, reached_at, below_since) "  # noqa: S608
    "VALUES (%s, %s, %s, NULL) ON CONFLICT DO NOTHING RETURNING member_id"
)
_PROMOTE_HELD = (
    f"UPDATE {MemberLevel._meta.db_table} SET level_id = %s, reached_at = %s, below_since = NULL "  # noqa: S608
    "WHERE member_id = %s AND level_id = %s RETURNING member_id"
)


def _promote_known(
    known: Mapping[int, KnownLevel], ladder: list[Level], now: datetime, check: _ActivityCheck
) -> tuple[list[LevelChange], set[int]]:
    """Promote members whose state a posting read, without reading it again: a first level is inserted unless
    the member holds one, a higher one set only while they hold the level read (the posting's read may predate
    a concurrent change it then waited for). Returns the promotions made and the members left for the full
    evaluation: those the statement did not settle, and every member with no promotion due."""
    position = {level.pk: index for index, level in enumerate(ladder)}
    promotions: list[LevelChange] = []
    left: set[int] = set()
    for member_id, state in known.items():
        current = -1 if state.level_id is None else position.get(state.level_id, -1)
        target = _qualified(ladder, state.lifetime, member_id, check, floor=current)
        if target <= current:
            left.add(member_id)
            continue
        with prepared_cursor() as cursor:
            if state.level_id is None:
                cursor.execute(_FIRST_LEVEL_INSERT, [member_id, ladder[target].pk, now])
            else:
                cursor.execute(_PROMOTE_HELD, [ladder[target].pk, now, member_id, state.level_id])
            written = cursor.fetchone() is not None
        if written:
            promotions.append(LevelChange(member_id, ladder[current] if current >= 0 else None, ladder[target]))
        else:
            left.add(member_id)
    return promotions, left


def _evaluate_chunk(
    ids: list[int], ladder: list[Level], now: datetime, known: Mapping[int, KnownLevel]
) -> list[LevelChange]:
    position = {level.pk: index for index, level in enumerate(ladder)}
    check = _ActivityCheck(ids, timezone.localdate(now))
    promotions, left = _promote_known({pk: known[pk] for pk in ids if pk in known}, ladder, now, check)
    ids = [pk for pk in ids if pk not in known or pk in left]
    if not ids:
        return promotions
    rows = (
        Member.objects.filter(pk__in=ids_in(ids))
        .order_by()
        .values_list("pk", "point_balance__lifetime", "member_level__level_id", "member_level__below_since")
    )
    new_rows: list[MemberLevel] = []
    moving_up: dict[int, list[int]] = {}
    mark_below: list[int] = []
    clear_below: list[int] = []
    for member_id, lifetime, level_id, below_since in rows:
        lifetime = lifetime or 0
        current = position.get(level_id, -1) if level_id is not None else -1
        reached = _by_points(ladder, lifetime)
        if reached > current:
            target = _qualified(ladder, lifetime, member_id, check, floor=current)
            if target > current:
                before = ladder[current] if current >= 0 else None
                if level_id is None:
                    new_rows.append(MemberLevel(member_id=member_id, level=ladder[target], reached_at=now))
                else:
                    moving_up.setdefault(target, []).append(member_id)
                promotions.append(LevelChange(member_id, before, ladder[target]))
                continue
        if level_id is None:
            continue
        if reached < current and below_since is None:
            mark_below.append(member_id)
        elif reached >= current and below_since is not None and check.meets(member_id, ladder[current]):
            clear_below.append(member_id)
    if new_rows:
        _insert_member_levels(new_rows)
    for target, member_ids in moving_up.items():  # one UPDATE per level reached, however many members
        MemberLevel.objects.filter(member_id__in=ids_in(member_ids)).update(
            level=ladder[target], reached_at=now, below_since=None
        )
    if mark_below:
        MemberLevel.objects.filter(member_id__in=ids_in(mark_below), below_since__isnull=True).update(below_since=now)
    if clear_below:
        MemberLevel.objects.filter(member_id__in=ids_in(clear_below)).update(below_since=None)
    return promotions


_MEMBER_LEVELS_INSERT = (
    f"INSERT INTO {MemberLevel._meta.db_table} (member_id, level_id, reached_at, below_since) "  # noqa: S608
    "SELECT v.member_id, v.level_id, %s::timestamptz, NULL "
    "FROM unnest(%s::bigint[], %s::bigint[]) AS v(member_id, level_id) ON CONFLICT DO NOTHING"
)


def _insert_member_levels(rows: list[MemberLevel]) -> None:
    """First levels, skipping members who got one meanwhile. On PostgreSQL one statement with two array
    parameters: a bulk award gives hundreds of members their first level."""
    if connection.vendor != "postgresql" or len({row.reached_at for row in rows}) != 1:
        MemberLevel.objects.bulk_create(rows, ignore_conflicts=True)
        return
    members = int_array_literal(row.member_id for row in rows)
    levels = int_array_literal(row.level_id for row in rows)
    with connection.cursor() as cursor:
        cursor.execute(_MEMBER_LEVELS_INSERT, [rows[0].reached_at, members, levels])


def level_reached_key(*, member_id: int, level_id: int, reached_at: datetime) -> str:
    """The dedupe key of the "level_reached" activity of one promotion: announcing it again records nothing."""
    return f"{LEVEL_REACHED}:{member_id}:{level_id}:{reached_at.timestamp():.6f}"


def _announce(promotions: list[LevelChange], reached_at: datetime, *, members: Mapping[int, Member]) -> None:
    """Tell promoted members and put the promotions on the stream (badges read "level_reached")."""
    newsworthy = [change for change in promotions if change.after and _is_level_up(change.before, change.after)]
    if not newsworthy:
        return
    inline = len(newsworthy) <= ANNOUNCE_INLINE_MAX
    # Messages sent here need each member's user; a worker sends the rest and loads its own, and the stream
    # needs no more than the member's id and time zone (the hooks on it, point rules and badges, go by ids).
    # Members the caller holds are not loaded again.
    known = {change.member_id: members[change.member_id] for change in newsworthy if change.member_id in members}
    missing = [change.member_id for change in newsworthy if change.member_id not in known]
    if missing:
        members_query = Member.objects.select_related("user") if inline else Member.objects.only("id", "time_zone")
        known.update((member.pk, member) for member in members_query.filter(pk__in=ids_in(missing)))
    now = timezone.now()
    entries = [
        community_services.ActivityInput(
            member=known[change.member_id],
            verb=LEVEL_REACHED,
            occurred_at=now,
            target=change.after,
            data={"level": change.after.name, "level_id": change.after.pk, "threshold": change.after.threshold},
            dedupe_key=level_reached_key(member_id=change.member_id, level_id=change.after.pk, reached_at=reached_at),
        )
        for change in newsworthy
        if change.after is not None
    ]
    # One insert for everyone promoted together (a bulk award can promote hundreds); hooks still see each one.
    # Keyed, so the rows go through the stream's keyed insert (one statement, no ORM objects to build; a single
    # promotion's row is one prepared statement).
    community_services.activities_record_bulk(entries=entries)
    domain_events.publish_many(
        "level.changed",
        [
            _level_changed_payload(
                member_id=change.member_id, level=change.after, previous=change.before, direction="up"
            )
            for change in newsworthy
        ],
    )
    pairs = [(change.member_id, change.after.pk) for change in newsworthy if change.after is not None]
    if inline:
        _notify_promoted(pairs, members=known, levels={change.after.pk: change.after for change in newsworthy})
        return
    # A bulk award can promote hundreds at once: their messages are written by a worker once this commits, so
    # the award itself stays quick.
    from rewards.tasks.points import levels_notify_promoted_task

    def enqueue() -> None:
        for start in range(0, len(pairs), ANNOUNCE_TASK_CHUNK):
            levels_notify_promoted_task.delay([list(pair) for pair in pairs[start : start + ANNOUNCE_TASK_CHUNK]])

    transaction.on_commit(enqueue, robust=True)


def _level_changed_payload(
    *, member_id: int, level: Level | None, previous: Level | None, direction: str
) -> dict[str, Any]:
    return {
        "member_id": member_id,
        "level_id": level.pk if level is not None else None,
        "level": str(level.name) if level is not None else None,
        "previous_level_id": previous.pk if previous is not None else None,
        "direction": direction,
    }


def _publish_level_changed(*, member_id: int, level: Level | None, previous: Level | None, direction: str) -> None:
    domain_events.publish(
        "level.changed",
        _level_changed_payload(member_id=member_id, level=level, previous=previous, direction=direction),
    )


def _notify_promoted(
    pairs: Sequence[tuple[int, int]], *, members: dict[int, Member], levels: Mapping[int, Level] | None = None
) -> int:
    if levels is None:
        levels = Level.objects.in_bulk({level_id for _member_id, level_id in pairs})
    url = reverse("rewards:points")
    sent = 0
    for member_id, level_id in pairs:
        member, level = members.get(member_id), levels.get(level_id)
        if member is None or level is None:
            continue
        community_services.notify(
            member=member,
            kind=LEVEL_UP.key,
            url=url,
            context={
                "name": member.display_name,
                "level": level.name,
                "level_id": level.pk,
                "privileges": level.privileges,
                "shop_discount_percent": level.shop_discount_percent,
            },
        )
        sent += 1
    return sent


def levels_notify_promoted(*, promotions: Sequence[tuple[int, int]]) -> int:
    """Send the level-up messages of a bulk promotion: (member id, level id) pairs. Idempotent: a member who
    already has the message for that level, or no longer holds it, gets nothing. Returns how many were sent."""
    wanted = {(int(member_id), int(level_id)) for member_id, level_id in promotions}
    if not wanted:
        return 0
    member_ids = sorted({member_id for member_id, _level_id in wanted})
    holding = set(MemberLevel.objects.filter(member_id__in=member_ids).values_list("member_id", "level_id").order_by())
    told = {
        (member_id, context.get("level_id"))
        for member_id, context in community_selectors.notification_contexts_of_kind(
            member_ids=member_ids, kind=LEVEL_UP.key
        )
    }
    due = sorted(pair for pair in wanted & holding if pair not in told)
    if not due:
        return 0
    members = Member.objects.select_related("user").in_bulk([member_id for member_id, _level_id in due])
    with transaction.atomic():
        return _notify_promoted(due, members=members)


# --- the daily review: activity conditions and due demotions ----------------------------------------------


@dataclass(frozen=True)
class LevelReview:
    marked_below: int
    demoted: int
    kept: int


def levels_review(*, now: datetime | None = None) -> LevelReview:
    """Start the grace period for members who no longer meet their level's activity condition, then move
    down everyone whose grace period is over and who still does not qualify. Idempotent."""
    now = now or timezone.now()
    marked = _mark_activity_lapses(now)
    demoted = kept = 0
    due = MemberLevel.objects.filter(below_since__isnull=False).select_related("level").order_by("below_since")
    for member_level in due.iterator(chunk_size=500):
        if member_level.below_since + timedelta(days=member_level.level.demotion_grace_days) > now:
            continue
        if _finalise_demotion(member_id=member_level.member_id, now=now):
            demoted += 1
        else:
            kept += 1
    return LevelReview(marked_below=marked, demoted=demoted, kept=kept)


def _mark_activity_lapses(now: datetime) -> int:
    marked = 0
    today = timezone.localdate(now)
    for level in Level.objects.filter(min_active_days__isnull=False, min_active_days__gt=0):
        holders = list(
            MemberLevel.objects.filter(level=level, below_since__isnull=True).values_list("member_id", flat=True)
        )
        for start in range(0, len(holders), EVALUATE_CHUNK):
            chunk = holders[start : start + EVALUATE_CHUNK]
            days = _active_days(chunk, level.active_days_window, today=today)
            lapsed = [member_id for member_id in chunk if days.get(member_id, 0) < (level.min_active_days or 0)]
            if lapsed:
                marked += MemberLevel.objects.filter(
                    member_id__in=lapsed, level=level, below_since__isnull=True
                ).update(below_since=now)
    return marked


def _finalise_demotion(*, member_id: int, now: datetime) -> bool:
    """Move one member to the level they qualify for now; True when they went down."""
    with transaction.atomic():
        # The ledger holds this row while it evaluates levels: taking it first keeps the two from crossing.
        balance = PointBalance.objects.select_for_update().filter(member_id=member_id).first()
        member_level = (
            MemberLevel.objects.select_for_update()
            .select_related("level")
            .filter(member_id=member_id, below_since__isnull=False)
            .first()
        )
        if member_level is None:
            return False
        ladder = level_ladder()
        position = {level.pk: index for index, level in enumerate(ladder)}
        current = position[member_level.level_id]
        lifetime = balance.lifetime if balance is not None else 0
        target = _qualified(ladder, lifetime, member_id, _ActivityCheck([member_id], timezone.localdate(now)))
        before = model_snapshot(member_level)
        if target >= current:
            member_level.below_since = None
            member_level.save(update_fields=["below_since"])
            return False
        previous = member_level.level
        if target < 0:  # no level is left (the ladder has no 0-point level): the member holds none
            audit_record(actor=None, action="member_level.demote", obj=member_level, before=before, after=None)
            member_level.delete()
            _publish_level_changed(member_id=member_id, level=None, previous=previous, direction="down")
            return True
        _publish_level_changed(member_id=member_id, level=ladder[target], previous=previous, direction="down")
        member_level.level = ladder[target]
        member_level.reached_at = now
        member_level.below_since = None
        member_level.save(update_fields=["level", "reached_at", "below_since"])
        audit_record(
            actor=None,
            action="member_level.demote",
            obj=member_level,
            before=before,
            after=model_snapshot(member_level),
        )
        return True


# --- defaults ---------------------------------------------------------------------------------------------


def levels_install_defaults(*, actor: Any | None = None) -> int:
    """Create the default levels that are missing (matched on name or threshold). Returns how many."""
    created = 0
    with transaction.atomic():
        names = set(Level.objects.values_list("name", flat=True))
        thresholds = set(Level.objects.values_list("threshold", flat=True))
        for name, threshold, privileges, discount, min_active_days in DEFAULT_LEVELS:
            if name in names or threshold in thresholds:
                continue
            level = Level.objects.create(
                name=name,
                threshold=threshold,
                privileges=privileges,
                shop_discount_percent=discount,
                min_active_days=min_active_days,
            )
            audit_record(actor=actor, action="level.create", obj=level, after=model_snapshot(level))
            created += 1
    return created
