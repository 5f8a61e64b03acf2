"""Batches of keyed activities from a feed (product usage events): one statement per batch, no model per row.

The caller knows each row's member id and local day already (it looked the members up in bulk), so nothing here
loads a member unless an activity hook asks for one, and then all of a batch's members come in one query.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import signals
from django.db.models.base import ModelState
from django.utils import timezone
from django.utils.functional import SimpleLazyObject

from community import activity_hooks
from community.models import Activity
from members.models import Member


@dataclass(frozen=True, slots=True)
class KeyedActivity:
    """One activity of a feed: its member by id, its member-local day, and a dedupe key unique to it."""

    member_id: int
    verb: str
    data: dict[str, Any]  # plain JSON values
    occurred_at: datetime
    local_date: date
    dedupe_key: str


_TABLE = Activity._meta.db_table
# One statement per batch. The batch travels as one JSON document (one parameter). Keys recorded before are
# filtered out ahead of the insert (NOT EXISTS), so a re-sent row draws no id from the sequence; ON CONFLICT
# settles a race with a concurrent writer of the same key; RETURNING says which keys were new.
_INSERT_SQL = (
    f"INSERT INTO {_TABLE} (member_id, verb, target_type_id, target_id, data, occurred_at, local_date, "  # noqa: S608
    "dedupe_key, recorded_at) SELECT u.m, u.v, NULL, '', u.d, u.o, u.l, u.k, %s "
    "FROM jsonb_to_recordset(%s::jsonb) AS u(m bigint, v text, d jsonb, o timestamptz, l date, k text) "
    f"WHERE NOT EXISTS (SELECT 1 FROM {_TABLE} AS a WHERE a.dedupe_key = u.k) "
    "ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING RETURNING id, dedupe_key"
)
# The activity's concrete fields, in the order Activity.from_db() takes them.
_ATTNAMES = tuple(activity_field.attname for activity_field in Activity._meta.concrete_fields)


def activities_record_keyed(*, activities: Sequence[KeyedActivity]) -> list[Activity]:
    """Record keyed activities, skipping keys recorded before, earlier in the call, or by a concurrent writer;
    run the activity hooks (point rules, badges) on the new ones in (occurred_at, id) order, in the same
    transaction, and return them in that order."""
    unique: dict[str, KeyedActivity] = {}
    for activity in activities:
        if timezone.is_naive(activity.occurred_at):
            raise ValueError("occurred_at must be timezone-aware.")
        unique.setdefault(activity.dedupe_key, activity)  # the first row with a key wins
    if not unique:
        return []
    if connection.vendor != "postgresql":
        return _record_portably(list(unique.values()))
    now = timezone.now()
    document = json.dumps(
        [
            {
                "m": row.member_id,
                "v": row.verb,
                "d": row.data,
                "o": row.occurred_at.isoformat(),
                "l": row.local_date.isoformat(),
                "k": row.dedupe_key,
            }
            for row in unique.values()
        ],
        cls=DjangoJSONEncoder,
        separators=(",", ":"),
    )
    with transaction.atomic(savepoint=False):
        with connection.cursor() as cursor:
            cursor.execute(_INSERT_SQL, [now, document])
            returned = cursor.fetchall()
        recorded = _activities_for_hooks(returned, unique, now)
        activity_hooks.run(recorded)
    return recorded


def _record_portably(rows: list[KeyedActivity]) -> list[Activity]:
    # Other databases (a development SQLite file) take the general bulk path, which loads the members.
    from community.services import ActivityInput, activities_record_bulk_returning

    members = Member.objects.in_bulk({row.member_id for row in rows})
    return activities_record_bulk_returning(
        entries=[
            ActivityInput(
                member=members[row.member_id],
                verb=row.verb,
                occurred_at=row.occurred_at,
                data=row.data,
                dedupe_key=row.dedupe_key,
            )
            for row in rows
        ]
    )


class _BatchMembers:
    """The members of a batch's new activities, loaded with one query the first time a hook reads any of them:
    hooks that react to the batch's verbs get members without a query per activity, and a batch no hook reads
    members for (no point rule or badge for its verbs) costs no query and no model instances."""

    def __init__(self, member_ids: set[int]) -> None:
        self._ids = member_ids
        self._loaded: dict[int, Member] | None = None

    def get(self, member_id: int) -> Member:
        if self._loaded is None:
            self._loaded = Member.objects.in_bulk(self._ids)
        return self._loaded[member_id]

    def lazy(self, member_id: int) -> Member:
        return SimpleLazyObject(partial(self.get, member_id))  # type: ignore[return-value]


def _activities_for_hooks(
    returned: Sequence[tuple[int, str]], rows: dict[str, KeyedActivity], now: datetime
) -> list[Activity]:
    """The activities just inserted, as the hooks take them: in (occurred_at, id) order, each with its member at
    hand (see `_BatchMembers`).

    They are made as `Model.from_db()` would make them, without running `__init__` field by field (a third of a
    batch's Python time went there); while anything listens to Activity's pre_init / post_init signals, they are
    made by `from_db()` itself."""
    alias = connection.alias
    member_ids = {rows[key].member_id for _pk, key in returned}
    members = _BatchMembers(member_ids)
    lazy = {member_id: members.lazy(member_id) for member_id in member_ids}
    plain = not (signals.pre_init.has_listeners(Activity) or signals.post_init.has_listeners(Activity))
    new, cache_name = Activity.__new__, Activity._meta.get_field("member").cache_name
    activities = []
    for pk, key in returned:
        row = rows[key]
        values = {
            "id": pk,
            "member_id": row.member_id,
            "verb": row.verb,
            "target_type_id": None,
            "target_id": "",
            "data": row.data,
            "occurred_at": row.occurred_at,
            "local_date": row.local_date,
            "dedupe_key": key,
            "recorded_at": now,
        }
        if plain:
            activity = new(Activity)
            state = ModelState()
            state.adding, state.db, state.fields_cache = False, alias, {cache_name: lazy[row.member_id]}
            values["_state"] = state
            activity.__dict__ = values
        else:
            activity = Activity.from_db(alias, None, [values[attname] for attname in _ATTNAMES])
            activity._state.fields_cache[cache_name] = lazy[row.member_id]
        activities.append(activity)
    activities.sort(key=lambda activity: (activity.occurred_at, activity.pk))
    return activities
