"""Leaderboard reads.

Where a board comes from:

- a finished period that has been frozen: its snapshot (never changes);
- otherwise, with Redis configured and the period's board marked ready by a rebuild: Redis sorted sets, kept
  up to date on every award (see `rewards.services.leaderboards`); each process keeps the top rows it read
  until an award or a rebuild changes them, so a read mostly asks Redis for the caller's own place only;
- otherwise: the ledger, in one grouped SQL query with DENSE_RANK, cached for a second.

Ranks are dense (equal points share a rank; the next total takes the next number). Redis' own ZREVRANK is not
dense, so every board keeps a companion set of its distinct positive scores: a member's dense rank is one plus
the number of distinct scores above theirs. Members with equal points are listed newest member first, the
same order in Redis (reverse lexicographic on zero-padded ids) and in SQL.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from members.models import Member, Tag
from rewards.models import LeaderboardSnapshot, LeaderboardSnapshotRow, PointEntry
from rewards.models.leaderboards import Period, PeriodKind, period_parse
from rewards.selectors.leaderboard_redis import board_keys as board_keys
from rewards.selectors.leaderboard_redis import key_prefix as key_prefix
from rewards.selectors.leaderboard_redis import member_token as member_token
from rewards.selectors.leaderboard_redis import ready_key as ready_key
from rewards.selectors.leaderboard_redis import redis_client as redis_client
from rewards.selectors.leaderboard_redis import redis_script as redis_script
from rewards.selectors.leaderboard_redis import run_pipeline as run_pipeline
from rewards.selectors.leaderboard_redis import segment_index_key as segment_index_key
from rewards.sql import ids_in

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000
_PERIOD_KINDS = frozenset(PeriodKind.values)
SQL_CACHE_SECONDS = 1  # short: an award must show on the live board within a second even without Redis
SQL_CACHE_VERSION_KEY = "rewards:leaderboards:sql-version"

# One board read, atomic and in one round trip. KEYS: ready mark, board, distinct scores and, when it lives in this
# Redis, the SQL-board cache version (every award raises it after moving the boards). ARGV: the member ("" for
# none), how many top rows (0 for none), and the tag ("stamp|version") of the top rows the caller holds already.
# Reply: {0} when the board is not ready, else {1, stamp, version, own score, distinct scores above it} and, when
# the caller's copy of the top is missing or out of date, the top rows and the board's total.
READ_SCRIPT = """
local stamp = redis.call('GET', KEYS[1])
if not stamp then return {0} end
local version = ''
if KEYS[4] then version = redis.call('GET', KEYS[4]) or '0' end
local reply = {1, stamp, version, '0', -1}
if ARGV[1] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) > 0 then
    reply[4] = score
    reply[5] = redis.call('ZCOUNT', KEYS[3], '(' .. score, '+inf')
  end
end
local limit = tonumber(ARGV[2])
if limit > 0 and (version == '' or ARGV[3] ~= stamp .. '|' .. version) then
  reply[6] = redis.call('ZREVRANGEBYSCORE', KEYS[2], '+inf', '(0', 'WITHSCORES', 'LIMIT', 0, limit)
  reply[7] = redis.call('ZCOUNT', KEYS[2], '(0', '+inf')
end
return reply
"""


# --- segments ----------------------------------------------------------------------------------------------


def member_segments(member_ids: Iterable[int] | None) -> dict[int, list[str]]:
    """The leaderboard segments each member belongs to (None: every member who has one).

    For now a member's segments are the operator tags on their profile; the segmentation capability will
    replace this one function.
    """
    through = Member.tags.through
    rows = through.objects.all()
    if member_ids is not None:
        ids = list(member_ids)
        if not ids:
            return {}
        if len(ids) == 1:
            return _one_member_segments(ids[0])
        rows = rows.filter(member_id__in=ids_in(ids))
    segments: dict[int, list[str]] = defaultdict(list)
    for member_id, name in rows.values_list("member_id", "tag__name").order_by("member_id", "tag__name"):
        segments[member_id].append(name)
    return dict(segments)


_ONE_MEMBER_SEGMENTS = (
    f"SELECT t.name FROM {Member.tags.through._meta.db_table} mt JOIN {Tag._meta.db_table} t "  # noqa: S608
    "ON t.id = mt.tag_id WHERE mt.member_id = %s ORDER BY t.name"
)


def member_segments_sql(member_column: str) -> str | None:
    """A scalar SQL expression for the segments of the member whose id is `member_column`, as an array of names
    in name order (PostgreSQL; None elsewhere). Lets a posting read them along with its balance, saving the
    round trip of `member_segments` on every award."""
    if connection.vendor != "postgresql":
        return None
    return (
        f"(SELECT array_agg(t.name ORDER BY t.name) FROM {Member.tags.through._meta.db_table} mt "  # noqa: S608
        f"JOIN {Tag._meta.db_table} t ON t.id = mt.tag_id WHERE mt.member_id = {member_column})"
    )


def _one_member_segments(member_id: int) -> dict[int, list[str]]:
    # Every single award asks this; written out so the ORM does not rebuild the join each time.
    with connection.cursor() as cursor:
        cursor.execute(_ONE_MEMBER_SEGMENTS, [member_id])
        names = [name for (name,) in cursor.fetchall()]
    return {member_id: names} if names else {}


def segment_names() -> list[str]:
    """Every segment a board can be shown for."""
    return list(Tag.objects.order_by("name").values_list("name", flat=True))


# --- results -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeaderboardRow:
    rank: int
    member_id: int
    display_name: str
    points: int


@dataclass(frozen=True)
class Leaderboard:
    period: Period
    segment: str
    rows: list[LeaderboardRow]  # live boards are shared between reads (see _tops): never changed in place
    total: int  # members on the board (more than zero points in the period)
    source: str  # "snapshot", "redis" or "sql"
    snapshot: LeaderboardSnapshot | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Standing:
    """A member's place on a board: `rank` is None when they have no points in the period (or segment)."""

    member_id: int
    rank: int | None
    points: int


# The current period of each kind, per process: (time zone, kind) -> period. Nearly every read asks for one.
_current: dict[tuple[str, str], Period] = {}


def _current_period(period_kind: str) -> Period:
    held = _current.get((settings.TIME_ZONE, period_kind))
    if held is not None and (held.starts_at is None or held.starts_at <= timezone.now() < held.ends_at):
        return held
    period = period_parse(period_kind, None)
    if len(_current) >= 64:
        _current.clear()
    _current[(settings.TIME_ZONE, period_kind)] = period
    return period


def leaderboard_period(period_kind: str, period_key: str | None = None) -> Period:
    """The period a request names, or a ServiceError naming the bad field."""
    if not period_key and period_kind in _PERIOD_KINDS:
        return _current_period(period_kind)
    if period_kind not in PeriodKind.values:
        raise ServiceError(
            _("Choose a period: %(choices)s.") % {"choices": ", ".join(PeriodKind.values)}, field="period"
        )
    try:
        return period_parse(period_kind, period_key)
    except ValueError:
        raise ServiceError(_("This is not a valid period key."), field="key") from None


def _check_segment(segment: str) -> str:
    segment = segment or ""
    if len(segment) > 64:
        raise ServiceError(_("A segment name has at most 64 characters."), field="segment")
    return segment


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ServiceError(_("The limit must be from 1 to %(max)d.") % {"max": MAX_LIMIT}, field="limit")
    return limit


# --- the frozen source -------------------------------------------------------------------------------------


def _frozen_snapshot(period: Period, segment: str) -> tuple[bool, LeaderboardSnapshot | None]:
    """(frozen?, the segment's snapshot). A frozen period without a snapshot for the segment had nobody in it."""
    if period.is_all_time or not period.has_ended():
        return False, None
    found = {
        s.segment: s
        for s in LeaderboardSnapshot.objects.filter(
            period_kind=period.kind, period_key=period.key, segment__in={"", segment}
        )
    }
    if "" not in found:
        return False, None
    return True, found.get(segment)


def _snapshot_top(period: Period, segment: str, snapshot: LeaderboardSnapshot | None, limit: int) -> Leaderboard:
    rows: list[LeaderboardRow] = []
    if snapshot is not None:
        rows = [
            LeaderboardRow(row.rank, row.member_id, row.member.display_name, row.points)
            for row in snapshot.rows.select_related("member").order_by("rank", "-member_id")[:limit]
        ]
    total = snapshot.member_count if snapshot is not None else 0
    return Leaderboard(period, segment, rows, total, "snapshot", snapshot)


# --- the Redis source --------------------------------------------------------------------------------------


def _dense(reply: list[Any]) -> list[tuple[int, int, int]]:
    """(rank, member id, points) from a WITHSCORES reply already in descending score order from the top of a
    board. The reply is read as Redis sent it — pairs of member and score (RESP3), or member, score, member …
    (RESP2) — since redis-py's callback rewrote every RESP3 score into its RESP2 shape: a tenth of a board read."""
    if reply and isinstance(reply[0], list | tuple):
        pairs: Iterable[Any] = reply
    else:
        pairs = zip(reply[::2], reply[1::2], strict=True)
    ranked = []
    rank, previous = 0, None
    for token, score in pairs:
        if score != previous:
            rank, previous = rank + 1, score
        ranked.append((rank, int(token), int(float(score))))
    return ranked


NAME_CACHE_SECONDS = 60  # a renamed member shows under the new name on live boards within a minute
NAME_CACHE_SIZE = 100_000
# Display names of members on live boards, per process: a board read then costs one Redis round trip and no
# query. Forgotten when the boards are rebuilt (the "ready" stamp changes) and after NAME_CACHE_SECONDS.
_names: dict[str, Any] = {"stamp": None, "entries": {}}
_clock = time.monotonic


def _display_names(member_ids: list[int], stamp: str) -> tuple[dict[int, str], float]:
    """The names, and the monotonic time the first of them is to be read again."""
    if _names["stamp"] != stamp or len(_names["entries"]) > NAME_CACHE_SIZE:
        _names.update(stamp=stamp, entries={})
    entries: dict[int, tuple[str, float]] = _names["entries"]
    now = _clock()
    fresh_until = now + NAME_CACHE_SECONDS
    names: dict[int, str] = {}
    for member_id in member_ids:
        hit = entries.get(member_id)
        if hit is not None and hit[1] > now:
            names[member_id] = hit[0]
            fresh_until = min(fresh_until, hit[1])
    missing = [member_id for member_id in member_ids if member_id not in names]
    if missing:
        fetched = dict(Member.objects.filter(pk__in=missing).values_list("pk", "display_name"))
        for member_id, name in fetched.items():
            entries[member_id] = (name, now + NAME_CACHE_SECONDS)
        names.update(fetched)
    return names, fresh_until


# The top rows of live boards, per process, by (kind, key, segment, limit): (tag, good until, board). A board
# does not change while its tag (rebuild stamp and award version, see READ_SCRIPT) does not: a read then fetches
# and ranks nothing but the caller's own place. Kept no longer than the names in it.
_tops: dict[tuple[str, str, str, int], tuple[str, float, Leaderboard]] = {}
TOPS_CACHE_SIZE = 1_000
_version_keys: dict[int, tuple[Any, str, str | None]] = {}  # id(cache backend) -> (backend, REDIS_URL, key)


def _version_key() -> str | None:
    """The Redis key of the SQL-board cache version when the cache is the boards' Redis (server and database)."""
    from community.cache import PooledClientRedisCache

    # The backend itself (one per thread): `cache` is a proxy, never an instance of the backend's class.
    backend = caches[DEFAULT_CACHE_ALIAS]
    url = getattr(settings, "REDIS_URL", "") or ""
    held = _version_keys.get(id(backend))
    if held is not None and held[0] is backend and held[1] == url:
        return held[2]
    key = None
    if isinstance(backend, PooledClientRedisCache) and backend.shares_server(url):
        key = backend.make_and_validate_key(SQL_CACHE_VERSION_KEY)
    if len(_version_keys) >= 64:
        _version_keys.clear()
    _version_keys[id(backend)] = (backend, url, key)
    return key


def _redis_read(
    client: redis.Redis, period: Period, segment: str, *, limit: int | None, member_id: int | None
) -> tuple[Leaderboard | None, Standing | None] | None:
    """The top `limit` and/or one member's standing in one round trip; None when the board is not ready."""
    keys = board_keys(period.kind, period.key, segment)
    version = _version_key()
    script_keys = [ready_key(period.kind, period.key), keys.board, keys.scores]
    if version is not None:
        script_keys.append(version)
    top_key = (period.kind, period.key, segment, limit or 0)
    held = _tops.get(top_key) if limit is not None else None
    if held is not None and held[1] <= _clock():
        held = None
    token = member_token(member_id) if member_id is not None else ""
    args = [token, limit or 0, held[0] if held is not None else ""]
    answer = redis_script(client, "read", READ_SCRIPT).run(keys=script_keys, args=args)
    if not answer[0]:
        return None
    stamp, version_seen = answer[1], answer[2]
    board = standing = None
    if limit is not None:
        if len(answer) > 5:
            ranked = _dense(answer[5])
            names, fresh_until = _display_names([member for _rank, member, _points in ranked], stamp)
            rows = [LeaderboardRow(rank, m, names[m], points) for rank, m, points in ranked if m in names]
            board = Leaderboard(period, segment, rows, int(answer[6]), "redis")
            if version_seen:
                if len(_tops) >= TOPS_CACHE_SIZE:
                    _tops.clear()
                _tops[top_key] = (f"{stamp}|{version_seen}", fresh_until, board)
        else:  # the script found the copy held current
            assert held is not None
            board = held[2]
    if member_id is not None:
        points = int(float(answer[3]))
        standing = Standing(member_id, int(answer[4]) + 1, points) if points > 0 else Standing(member_id, None, 0)
    return board, standing


# --- the SQL source ----------------------------------------------------------------------------------------


def leaderboard_totals_sql(period: Period, segment: str) -> tuple[str, list[Any]]:
    """SQL for each member's positive points total in the period (and segment), and its parameters."""
    entries = PointEntry._meta.db_table
    joins, where, params = "", [], []
    if segment:
        through = Member.tags.through._meta.db_table
        tags = Tag._meta.db_table
        joins = f" JOIN {through} mt ON mt.member_id = e.member_id JOIN {tags} tg ON tg.id = mt.tag_id"
        where.append("tg.name = %s")
        params.append(segment)
    if period.starts_at is not None:
        adapt = connection.ops.adapt_datetimefield_value
        where += ["e.created_at >= %s", "e.created_at < %s"]
        params += [adapt(period.starts_at), adapt(period.ends_at)]
    condition = f" WHERE {' AND '.join(where)}" if where else ""
    sql = (
        f"SELECT e.member_id AS member_id, SUM(e.lifetime_delta) AS points FROM {entries} e{joins}{condition} "  # noqa: S608
        "GROUP BY e.member_id HAVING SUM(e.lifetime_delta) > 0"
    )
    return sql, params


def _sql_top(period: Period, segment: str, limit: int) -> Leaderboard:
    totals, params = leaderboard_totals_sql(period, segment)
    members = Member._meta.db_table
    sql = (
        "SELECT t.member_id, m.display_name, t.points, DENSE_RANK() OVER (ORDER BY t.points DESC), "  # noqa: S608
        f"COUNT(*) OVER () FROM ({totals}) t JOIN {members} m ON m.id = t.member_id "
        "ORDER BY t.points DESC, t.member_id DESC LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        fetched = cursor.fetchall()
    rows = [LeaderboardRow(int(rank), member_id, name, int(points)) for member_id, name, points, rank, _t in fetched]
    total = int(fetched[0][4]) if fetched else 0
    return Leaderboard(period, segment, rows, total, "sql")


def _sql_standing(member_id: int, period: Period, segment: str) -> Standing:
    totals, params = leaderboard_totals_sql(period, segment)
    sql = (
        f"WITH totals AS ({totals}) SELECT own.points, "  # noqa: S608
        "(SELECT COUNT(DISTINCT t.points) FROM totals t WHERE t.points > own.points) "
        "FROM totals own WHERE own.member_id = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, member_id])
        found = cursor.fetchone()
    if found is None:
        return Standing(member_id, None, 0)
    return Standing(member_id, int(found[1]) + 1, int(found[0]))


def sql_cache_bump() -> None:
    """Forget cached SQL boards (called after every posting commits)."""
    if hasattr(cache, "count"):  # community.cache's Redis backend: one round trip
        cache.count(SQL_CACHE_VERSION_KEY)
        return
    try:
        cache.incr(SQL_CACHE_VERSION_KEY)
    except ValueError:
        cache.add(SQL_CACHE_VERSION_KEY, 1, timeout=None)


def sql_cache_bump_queue(pipe: Any) -> bool:
    """Queue the bump on a live-board pipeline when the cache lives in the same Redis (one round trip less per
    award). False when it does not, and `sql_cache_bump()` must be called instead."""
    key = _version_key()
    if key is None:
        return False
    pipe.incr(key)
    return True


def _sql_cached(what: str, period: Period, segment: str, compute: Any) -> Any:
    version = cache.get(SQL_CACHE_VERSION_KEY, 0)
    digest = hashlib.sha256(segment.encode()).hexdigest()[:16]
    key = f"rewards:leaderboards:sql:{version}:{period.kind}:{period.key}:{digest}:{what}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, SQL_CACHE_SECONDS)
    return value


# --- public reads ------------------------------------------------------------------------------------------


def _read(
    period: Period, segment: str, *, limit: int | None, member: Member | None
) -> tuple[Leaderboard | None, Standing | None]:
    member_id = member.pk if member is not None else None
    frozen, snapshot = _frozen_snapshot(period, segment)
    if frozen:
        board = _snapshot_top(period, segment, snapshot, limit) if limit is not None else None
        standing = None
        if member_id is not None:
            row = snapshot.rows.filter(member_id=member_id).first() if snapshot is not None else None
            standing = Standing(member_id, row.rank, row.points) if row is not None else Standing(member_id, None, 0)
        return board, standing
    client = redis_client()
    if client is not None:
        try:
            found = _redis_read(client, period, segment, limit=limit, member_id=member_id)
        except redis.RedisError:
            logger.warning("Leaderboard read from Redis failed; reading the ledger instead", exc_info=True)
            found = None
        if found is not None:
            return found
    board = None
    if limit is not None:
        board = _sql_cached(f"top:{limit}", period, segment, lambda: _sql_top(period, segment, limit))
    standing = None
    if member_id is not None:
        standing = _sql_cached(f"me:{member_id}", period, segment, lambda: _sql_standing(member_id, period, segment))
    return board, standing


def leaderboard_top(
    *, period_kind: str, period_key: str | None = None, segment: str = "", limit: int = 100
) -> Leaderboard:
    """The top `limit` members of a board with dense ranks and display names."""
    period = leaderboard_period(period_kind, period_key)
    board, _standing = _read(period, _check_segment(segment), limit=_check_limit(limit), member=None)
    assert board is not None
    return board


def leaderboard_rank_for(
    *, member: Member, period_kind: str, period_key: str | None = None, segment: str = ""
) -> Standing:
    """The member's own dense rank and points on a board, wherever they are on it."""
    period = leaderboard_period(period_kind, period_key)
    _board, standing = _read(period, _check_segment(segment), limit=None, member=member)
    assert standing is not None
    return standing


def leaderboard_with_standing(
    *, member: Member | None, period_kind: str, period_key: str | None = None, segment: str = "", limit: int = 100
) -> tuple[Leaderboard, Standing | None]:
    """The top of a board and the member's own place on it, read together (one Redis round trip)."""
    period = leaderboard_period(period_kind, period_key)
    board, standing = _read(period, _check_segment(segment), limit=_check_limit(limit), member=member)
    assert board is not None
    return board, standing


def leaderboard_snapshots(
    *, period_kind: str | None = None, segment: str | None = None
) -> QuerySet[LeaderboardSnapshot]:
    """Frozen boards, latest first."""
    snapshots = LeaderboardSnapshot.objects.all()
    if period_kind:
        snapshots = snapshots.filter(period_kind=period_kind)
    if segment is not None:
        snapshots = snapshots.filter(segment=segment)
    return snapshots.order_by("-ends_at", "period_kind", "segment", "-id")


def snapshot_top_rows(
    *, snapshots: Iterable[LeaderboardSnapshot], top: int = 10
) -> dict[int, list[LeaderboardSnapshotRow]]:
    """The top rows (rank ≤ `top`) of several snapshots in one query, by snapshot id."""
    ids = [snapshot.pk for snapshot in snapshots]
    rows: dict[int, list[LeaderboardSnapshotRow]] = {pk: [] for pk in ids}
    if not ids:
        return rows
    for row in (
        LeaderboardSnapshotRow.objects.filter(snapshot_id__in=ids, rank__lte=top)
        .select_related("member")
        .order_by("snapshot_id", "rank", "-member_id")
    ):
        rows[row.snapshot_id].append(row)
    return rows


def leaderboard_latest_snapshots(
    *, segment: str = "", kinds: Iterable[str] = ("month", "week")
) -> list[LeaderboardSnapshot]:
    """The most recent frozen board of each kind (e.g. last month's and last week's), for "past periods"."""
    latest = []
    for kind in kinds:
        snapshot = leaderboard_snapshots(period_kind=kind, segment=segment).first()
        if snapshot is not None:
            latest.append(snapshot)
    return latest
