"""Leaderboards: live boards moved on every posting, rebuilt from the ledger, and frozen when a period ends.

The ledger is the source of truth. With Redis configured, each board (all-time, the month, the ISO week and the
day, in the program's time zone, for everyone and for each segment) is a sorted set moved by ZINCRBY once the
posting transaction commits, so an award shows at once; `leaderboard_rebuild` recomputes the boards from the
ledger in a few grouped queries and swaps them in atomically. Without Redis, reads query the ledger directly.
Finished periods are frozen into `LeaderboardSnapshot` rows that never change.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from community.errors import ServiceError
from community.services import audit_record
from members.models import Member, Tag
from rewards.models import LeaderboardSnapshot, LeaderboardSnapshotRow, PointEntry
from rewards.models.leaderboards import Period, period_containing, program_zone
from rewards.selectors.leaderboards import (
    board_keys,
    key_prefix,
    leaderboard_period,
    leaderboard_totals_sql,
    member_segments,
    member_token,
    ready_key,
    redis_client,
    redis_script,
    run_pipeline,
    segment_index_key,
    sql_cache_bump,
    sql_cache_bump_queue,
)

logger = logging.getLogger(__name__)

LIVE_KINDS = ("month", "week", "day")
# How long a finished period's live board stays in Redis (its frozen snapshot is what shows afterwards).
RETENTION = {"day": timedelta(days=2), "week": timedelta(days=8), "month": timedelta(days=35)}
ALL_TIME_RETENTION = timedelta(days=35)
TEMP_KEY_SECONDS = 3600  # a rebuild that dies half-way leaves nothing behind for long

# Move members on several boards by deltas, keeping each board's distinct-scores set (for dense ranks) in step,
# and the period's index of segments with a board. Four keys per board: board, distinct scores, score counts,
# segment index. ARGV, per board: expire-at (unix seconds; 0 = never), segment ("" for everyone), the number of
# pairs, then member, delta pairs. A key after the boards' (4n + 1 keys) is a counter to increment: the SQL
# boards' cache version, so that an award is one call. One call per award moves all its boards. A board's members
# are read with one ZMSCORE and written with one ZADD, and each distinct score's count moves once, however many
# members share it: a bulk award moves thousands of members.
INCREMENT_SCRIPT = """
local a = 1
for b = 0, math.floor(#KEYS / 4) - 1 do
  local board, scores, counts, index = KEYS[4 * b + 1], KEYS[4 * b + 2], KEYS[4 * b + 3], KEYS[4 * b + 4]
  local at, segment, n = tonumber(ARGV[a]), ARGV[a + 1], tonumber(ARGV[a + 2])
  a = a + 3
  local members, deltas = {}, {}
  for i = 1, n do
    local member, delta = ARGV[a], tonumber(ARGV[a + 1])
    a = a + 2
    if deltas[member] == nil then
      members[#members + 1] = member
      deltas[member] = delta
    else
      deltas[member] = deltas[member] + delta
    end
  end
  local moved = {}
  for first = 1, #members, 500 do
    local chunk = {}
    for i = first, math.min(first + 499, #members) do chunk[#chunk + 1] = members[i] end
    local old = redis.call('ZMSCORE', board, unpack(chunk))
    local adds, removes = {}, {}
    for i, member in ipairs(chunk) do
      local before = old[i] and tonumber(old[i]) or 0
      local after = before + deltas[member]
      if before > 0 then
        local text = string.format('%.0f', before)
        moved[text] = (moved[text] or 0) - 1
      end
      if after > 0 then
        local text = string.format('%.0f', after)
        moved[text] = (moved[text] or 0) + 1
      end
      if after == 0 then
        removes[#removes + 1] = member
      else
        adds[#adds + 1] = after
        adds[#adds + 1] = member
      end
    end
    if #adds > 0 then redis.call('ZADD', board, unpack(adds)) end
    if #removes > 0 then redis.call('ZREM', board, unpack(removes)) end
  end
  for text, by in pairs(moved) do
    if by ~= 0 then
      local count = redis.call('HINCRBY', counts, text, by)
      if count <= 0 then
        redis.call('HDEL', counts, text)
        redis.call('ZREM', scores, text)
      elseif count - by <= 0 then
        redis.call('ZADD', scores, text, text)
      end
    end
  end
  if segment ~= '' then
    redis.call('SADD', index, segment)
  end
  if at > 0 then
    redis.call('EXPIREAT', board, at)
    redis.call('EXPIREAT', scores, at)
    redis.call('EXPIREAT', counts, at)
    if segment ~= '' then redis.call('EXPIREAT', index, at) end
  end
end
if #KEYS % 4 == 1 then redis.call('INCR', KEYS[#KEYS]) end
return a - 1
"""
INCREMENT_CHUNK = 1000  # member moves per script call (each call holds Redis while it runs)


# Fill a new board from a JSON array of [member, score] pairs, with its distinct positive scores and their counts.
# KEYS: board, distinct scores, score counts (all new). ARGV: the JSON, seconds to live.
LOAD_SCRIPT = """
local items = cjson.decode(ARGV[1])
local counts, batch = {}, {}
for _, pair in ipairs(items) do
  batch[#batch + 1] = pair[2]
  batch[#batch + 1] = pair[1]
  if #batch >= 2000 then
    redis.call('ZADD', KEYS[1], unpack(batch))
    batch = {}
  end
  local score = tonumber(pair[2])
  if score > 0 then
    local text = string.format('%.0f', score)
    counts[text] = (counts[text] or 0) + 1
  end
end
if #batch > 0 then redis.call('ZADD', KEYS[1], unpack(batch)) end
local fields, scores = {}, {}
for text, count in pairs(counts) do
  fields[#fields + 1] = text
  fields[#fields + 1] = count
  scores[#scores + 1] = text
  scores[#scores + 1] = text
  if #fields >= 2000 then
    redis.call('HSET', KEYS[3], unpack(fields))
    redis.call('ZADD', KEYS[2], unpack(scores))
    fields, scores = {}, {}
  end
end
if #fields > 0 then
  redis.call('HSET', KEYS[3], unpack(fields))
  redis.call('ZADD', KEYS[2], unpack(scores))
end
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return #items
"""


def _expire_at(period: Period) -> int:
    """When a board's keys expire (unix seconds). All-time boards live ALL_TIME_RETENTION past their last write;
    the nightly rebuild renews them (and their "ready" mark, which never outlives the board)."""
    if period.ends_at is None:
        return int(time.time() + ALL_TIME_RETENTION.total_seconds())
    return int((period.ends_at + RETENTION[period.kind]).timestamp())


# The live periods of each local day seen lately: every award needs its moment's four (all-time, month, week,
# day), and nearly all awards fall on a handful of days.
_PERIODS_BY_DAY: dict[tuple[str, date], tuple[Period, ...]] = {}
PERIODS_BY_DAY_MAX = 64


def _periods_of(moment: datetime) -> tuple[Period, ...]:
    day = (settings.TIME_ZONE, moment.astimezone(program_zone()).date())
    periods = _PERIODS_BY_DAY.get(day)
    if periods is None:
        if len(_PERIODS_BY_DAY) >= PERIODS_BY_DAY_MAX:
            _PERIODS_BY_DAY.clear()
        periods = (period_containing("all"), *(period_containing(kind, moment) for kind in LIVE_KINDS))
        _PERIODS_BY_DAY[day] = periods
    return periods


# --- live updates ------------------------------------------------------------------------------------------


Increments = dict[tuple[Period, str], dict[int, int]]


def leaderboard_entries_posted(*, entries: Sequence[Any]) -> None:
    """Add new entries' lifetime points to the live boards once the transaction commits.

    `entries` are the ledger's PostedEntry records. Nothing here can fail the posting: Redis trouble is
    logged, and the nightly rebuild from the ledger puts the boards right.
    """
    moving = [entry for entry in entries if entry.lifetime_delta]
    if not moving:
        return
    if redis_client() is None:
        transaction.on_commit(sql_cache_bump)
        return
    # Postings that read the member's segments with their balance bring them along; the rest are looked up.
    segments: dict[int, Sequence[str]] = {e.member_id: e.segments for e in moving if e.segments is not None}
    unknown = {entry.member_id for entry in moving if entry.segments is None}
    if unknown:
        segments.update(member_segments(unknown))
    increments: Increments = defaultdict(lambda: defaultdict(int))
    periods_at: dict[datetime, list[Period]] = {}  # a bulk award's entries share one moment
    for entry in moving:
        periods = periods_at.get(entry.created_at)
        if periods is None:
            periods = periods_at[entry.created_at] = _periods_of(entry.created_at)
        for period in periods:
            increments[(period, "")][entry.member_id] += entry.lifetime_delta
            for segment in segments.get(entry.member_id, ()):
                increments[(period, segment)][entry.member_id] += entry.lifetime_delta
    transaction.on_commit(lambda: _push(increments))


# The keys of the boards awards move lately: building them is most of the cost of queueing one award's moves.
_BOARD_KEYS: dict[tuple[Period, str, str], tuple[Any, str, int | None]] = {}
BOARD_KEYS_MAX = 4096


def _board_keys(period: Period, segment: str, prefix: str) -> tuple[Any, str, int | None]:
    """(board keys, segment index key, expire-at if the period ends; all-time's moves with each write)."""
    held = _BOARD_KEYS.get((period, segment, prefix))
    if held is None:
        if len(_BOARD_KEYS) >= BOARD_KEYS_MAX:
            _BOARD_KEYS.clear()
        held = _BOARD_KEYS[(period, segment, prefix)] = (
            board_keys(period.kind, period.key, segment, prefix=prefix),
            segment_index_key(period.kind, period.key, prefix=prefix),
            None if period.ends_at is None else _expire_at(period),
        )
    return held


def _queue_increments(pipe: Any, script: Any, increments: Increments, *, prefix: str, expire: bool = True) -> None:
    """Queue script calls that apply `increments`: the boards go together, up to INCREMENT_CHUNK moves a call."""
    keys: list[str] = []
    args: list[Any] = []
    moves = 0

    def flush() -> None:
        nonlocal keys, args, moves
        if keys:
            script(keys=keys, args=args, client=pipe)
        keys, args, moves = [], [], 0

    for (period, segment), per_member in increments.items():
        board, index, fixed_at = _board_keys(period, segment, prefix)
        at = (_expire_at(period) if fixed_at is None else fixed_at) if expire else 0
        pending = [(member_token(member_id), delta) for member_id, delta in per_member.items() if delta]
        for start in range(0, len(pending), INCREMENT_CHUNK):
            chunk = pending[start : start + INCREMENT_CHUNK]
            if moves + len(chunk) > INCREMENT_CHUNK:
                flush()
            keys += [board.board, board.scores, board.counts, index]
            # A rebuild's replay (no expiry) leaves the segment index to the swap, which writes it afresh.
            args += [at, segment if expire else "", len(chunk)]
            for token, delta in chunk:
                args += [token, delta]
            moves += len(chunk)
    flush()


class _Calls:
    """Collects the script calls `_queue_increments` makes, to send them without a pipeline when there is one."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[Any]]] = []
        self.counter: str | None = None

    def __call__(self, *, keys: list[str], args: list[Any], client: Any) -> None:
        self.calls.append((keys, args))

    def incr(self, key: str) -> None:  # what sql_cache_bump_queue asks of a pipeline
        self.counter = key


def _push(increments: Increments) -> None:
    client = redis_client()
    bumped = [False]  # the SQL-board cache version went up with the moves
    try:
        if client is None:
            return
        increment = redis_script(client, "increment", INCREMENT_SCRIPT)
        calls = _Calls()
        _queue_increments(None, calls, increments, prefix=key_prefix())
        bumped[0] = sql_cache_bump_queue(calls)
        if len(calls.calls) == 1 and calls.counter is not None:
            # An award's moves: one script call, which also bumps the version (no pipeline to build).
            keys, args = calls.calls[0]
            _evalsha(client, increment, [*keys, calls.counter], args)
            return

        def fill(pipe: Any) -> None:
            for keys, args in calls.calls:
                increment(keys=keys, args=args, client=pipe)
            if calls.counter is not None:
                pipe.incr(calls.counter)

        run_pipeline(client, fill)
    except redis.RedisError:
        bumped[0] = False
        logger.exception("Moving the live leaderboards failed; the next rebuild from the ledger will repair them")
    finally:
        if not bumped[0]:
            sql_cache_bump()


def _evalsha(client: redis.Redis, script: Any, keys: list[str], args: list[Any]) -> None:
    """Run a loaded script once; if Redis has lost it (a restart), load it again and run it once more."""
    try:
        client.evalsha(script.sha, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        script.reload()
        client.evalsha(script.sha, len(keys), *keys, *args)


# --- rebuild from the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildResult:
    periods: int
    boards: int
    members: int
    seconds: float


def live_periods(now: datetime | None = None) -> list[Period]:
    """The periods the live boards cover: all-time, and the previous, current and next month, week and day.

    The next periods are built too (empty), so a board is complete from the first second of its period.
    """
    periods = [period_containing("all")]
    for kind in LIVE_KINDS:
        current = period_containing(kind, now)
        periods += [current.previous(), current, current.next()]
    return periods


def _sums(periods: Sequence[Period], max_id: int) -> dict[Period, dict[int, int]]:
    """Each member's non-zero points total per period, from the ledger entries up to `max_id`, in one grouped
    scan of the ledger (a FILTERed sum per period)."""
    table = PointEntry._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    # Each entry moves at most MAX_ENTRY_POINTS (< 2^31), so the sum can run on 4-byte integers into an 8-byte
    # total, which PostgreSQL adds up several times faster than the exact numeric it uses for sums of bigints.
    delta = "CAST(lifetime_delta AS INTEGER)"
    columns, params = [], []
    for period in periods:
        if period.is_all_time:
            columns.append(f"SUM({delta})")
        else:
            columns.append(f"SUM({delta}) FILTER (WHERE created_at >= %s AND created_at < %s)")
            params += [adapt(period.starts_at), adapt(period.ends_at)]
    sums: dict[Period, dict[int, int]] = {period: {} for period in periods}
    if not periods:
        return sums
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT member_id, {', '.join(columns)} FROM {table} WHERE id <= %s GROUP BY member_id",  # noqa: S608
            [*params, max_id],
        )
        for member_id, *points in cursor.fetchall():
            for period, value in zip(periods, points, strict=True):
                if value:
                    sums[period][member_id] = int(value)
    return sums


def _write_board(pipe: Any, script: Any, keys: Any, scores: dict[int, int], tokens: dict[int, str]) -> None:
    # One script call per board with the whole board as JSON: Redis builds the sorted set, the distinct scores
    # and their counts itself, far faster than sending each member as a separate command argument.
    payload = json.dumps([[tokens[member_id], points] for member_id, points in scores.items()])
    script(keys=[keys.board, keys.scores, keys.counts], args=[payload, TEMP_KEY_SECONDS], client=pipe)


def leaderboard_rebuild(
    *, periods: Sequence[Period] | None = None, actor: Any | None = None, now: datetime | None = None
) -> RebuildResult:
    """Rebuild the live boards of `periods` (default: `live_periods()`) from the ledger and swap them in.

    Entries posted while the rebuild runs are replayed onto the new boards before the swap, so nothing that
    committed before the replay is lost or counted twice. Without Redis there is nothing to rebuild: reads
    already come from the ledger.
    """
    started = time.perf_counter()
    periods = list(dict.fromkeys(periods if periods is not None else live_periods(now)))
    client = redis_client()
    if client is None:
        sql_cache_bump()
        return RebuildResult(len(periods), 0, 0, time.perf_counter() - started)

    max_id = PointEntry.objects.aggregate(top=Max("id"))["top"] or 0
    sums = _sums(periods, max_id)
    ranked_members = set().union(*sums.values()) if sums else set()
    all_segments = member_segments(None) if ranked_members else {}
    boards: dict[tuple[Period, str], dict[int, int]] = {}
    for period, scores in sums.items():
        boards[(period, "")] = scores
        for member_id, points in scores.items():
            for segment in all_segments.get(member_id, ()):
                boards.setdefault((period, segment), {})[member_id] = points

    prefix = key_prefix()
    temp_prefix = f"{prefix}:tmp:{uuid.uuid4().hex}"
    load = redis_script(client, "load", LOAD_SCRIPT)
    tokens = {member_id: member_token(member_id) for member_id in ranked_members}

    def fill_boards(pipe: Any) -> None:
        for (period, segment), scores in boards.items():
            if scores:
                keys = board_keys(period.kind, period.key, segment, prefix=temp_prefix)
                _write_board(pipe, load, keys, scores, tokens)

    run_pipeline(client, fill_boards)

    # Entries that committed since the board totals were read.
    replay: dict[tuple[Period, str], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    wanted = set(periods)
    late = list(
        PointEntry.objects.filter(id__gt=max_id)
        .exclude(lifetime_delta=0)
        .values_list("member_id", "lifetime_delta", "created_at")
    )
    late_segments = member_segments({member_id for member_id, _d, _c in late}) if late else {}
    for member_id, delta, created_at in late:
        for period in _periods_of(created_at):
            if period in wanted:
                for segment in ("", *late_segments.get(member_id, ())):
                    replay[(period, segment)][member_id] += delta
                    boards.setdefault((period, segment), {})
    if replay:
        increment = redis_script(client, "increment", INCREMENT_SCRIPT)
        run_pipeline(client, lambda pipe: _queue_increments(pipe, increment, replay, prefix=temp_prefix, expire=False))

    _swap(client, boards, periods, prefix=prefix, temp_prefix=temp_prefix)
    result = RebuildResult(len(periods), len(boards), len(ranked_members), time.perf_counter() - started)
    sql_cache_bump()
    if actor is not None:
        audit_record(
            actor=actor,
            action="leaderboards.rebuild",
            after={
                "periods": [f"{period.kind}:{period.key}" for period in periods],
                "boards": result.boards,
                "members": result.members,
            },
        )
    return result


def _swap(
    client: redis.Redis,
    boards: dict[tuple[Period, str], Any],
    periods: Sequence[Period],
    *,
    prefix: str,
    temp_prefix: str,
) -> None:
    """Replace the live keys by the rebuilt ones in one MULTI/EXEC; drop boards of segments now empty."""
    pairs = []
    for period, segment in boards:
        temp = board_keys(period.kind, period.key, segment, prefix=temp_prefix)
        live = board_keys(period.kind, period.key, segment, prefix=prefix)
        pairs += [
            (temp.board, live.board, period),
            (temp.scores, live.scores, period),
            (temp.counts, live.counts, period),
        ]
    pipe = client.pipeline(transaction=False)
    for temp, _live, _period in pairs:
        pipe.exists(temp)
    for period in periods:
        pipe.smembers(segment_index_key(period.kind, period.key, prefix=prefix))
    answers = pipe.execute()
    exists, old_indexes = answers[: len(pairs)], answers[len(pairs) :]

    new_segments: dict[Period, set[str]] = defaultdict(set)
    for period, segment in boards:
        if segment:
            new_segments[period].add(segment)
    stamp = timezone.now().isoformat()
    pipe = client.pipeline(transaction=True)
    for (temp, live, period), present in zip(pairs, exists, strict=True):
        if present:
            pipe.rename(temp, live)
            pipe.expireat(live, _expire_at(period))
        else:
            pipe.delete(live)
    for period, old in zip(periods, old_indexes, strict=True):
        for segment in set(old) - new_segments[period]:
            stale = board_keys(period.kind, period.key, segment, prefix=prefix)
            pipe.delete(stale.board, stale.scores, stale.counts)
        index = segment_index_key(period.kind, period.key, prefix=prefix)
        pipe.delete(index)
        if new_segments[period]:
            pipe.sadd(index, *sorted(new_segments[period]))
        marker = ready_key(period.kind, period.key, prefix=prefix)
        pipe.set(marker, stamp)
        pipe.expireat(index, _expire_at(period))
        pipe.expireat(marker, _expire_at(period))
    pipe.execute()


def leaderboard_forget(*, periods: Sequence[Period] | None = None) -> None:
    """Drop the live boards' “ready” marks so reads go to the ledger until the next rebuild (e.g. after a restore)."""
    client = redis_client()
    if client is None:
        return
    periods = periods if periods is not None else live_periods()
    client.delete(*(ready_key(period.kind, period.key) for period in periods))


# --- frozen snapshots --------------------------------------------------------------------------------------


def _insert_rows(snapshot: LeaderboardSnapshot, period: Period, segment: str) -> int:
    totals, params = leaderboard_totals_sql(period, segment)
    rows = LeaderboardSnapshotRow._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {rows} (snapshot_id, rank, member_id, points) "  # noqa: S608
            f"SELECT %s, DENSE_RANK() OVER (ORDER BY t.points DESC), t.member_id, t.points FROM ({totals}) t",
            [snapshot.pk, *params],
        )
        return max(cursor.rowcount, 0)


def _segments_with_points(period: Period) -> list[str]:
    totals, params = leaderboard_totals_sql(period, "")
    through = Member.tags.through._meta.db_table
    tags = Tag._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT tg.name FROM ({totals}) t JOIN {through} mt ON mt.member_id = t.member_id "  # noqa: S608
            f"JOIN {tags} tg ON tg.id = mt.tag_id ORDER BY tg.name",
            params,
        )
        return [name for (name,) in cursor.fetchall()]


def leaderboard_snapshot_freeze(
    *, period_kind: str, period_key: str, actor: Any | None = None, now: datetime | None = None
) -> list[LeaderboardSnapshot]:
    """Freeze a finished period: one snapshot for everyone and one per segment with points, with dense ranks.

    Idempotent: a period already frozen is returned as it is and never changes, even if later entries arrive.
    Members who reach a rank that a badge asks for are awarded it.
    """
    period = leaderboard_period(period_kind, period_key)
    if period.is_all_time:
        raise ServiceError(_("All-time never ends, so it cannot be frozen."), field="period")
    if not period.has_ended(now):
        raise ServiceError(_("This period has not ended yet."), field="key", code="period_not_finished")
    frozen = LeaderboardSnapshot.objects.filter(period_kind=period.kind, period_key=period.key)
    if frozen.filter(segment="").exists():
        return list(frozen.order_by("segment"))
    try:
        with transaction.atomic():
            snapshots = []
            for segment in ["", *_segments_with_points(period)]:
                snapshot = LeaderboardSnapshot.objects.create(
                    period_kind=period.kind,
                    period_key=period.key,
                    segment=segment,
                    starts_at=period.starts_at,
                    ends_at=period.ends_at,
                )
                snapshot.member_count = _insert_rows(snapshot, period, segment)
                snapshot.save(update_fields=["member_count"])
                snapshots.append(snapshot)
            if actor is not None:
                audit_record(
                    actor=actor,
                    action="leaderboards.freeze",
                    obj=snapshots[0],
                    after={"period": f"{period.kind}:{period.key}", "segments": len(snapshots)},
                )
            from rewards.services.badges import badges_evaluate_after_freeze

            badges_evaluate_after_freeze(snapshots=snapshots)
    except IntegrityError:
        # Frozen by a concurrent run a moment ago: theirs is the snapshot.
        return list(frozen.order_by("segment"))
    return snapshots


# How far back the scheduled freeze looks for finished periods that are not frozen yet (e.g. after downtime).
FREEZE_LOOKBACK = {"day": 7, "week": 4, "month": 2}


def leaderboard_freeze_finished(*, now: datetime | None = None) -> list[LeaderboardSnapshot]:
    """Freeze every recently finished day, week and month that is not frozen yet. Safe to run any time."""
    now = now or timezone.now()
    candidates: list[Period] = []
    for kind, count in FREEZE_LOOKBACK.items():
        period = period_containing(kind, now).previous()
        for _step in range(count):
            candidates.append(period)
            period = period.previous()
    done = set(
        LeaderboardSnapshot.objects.filter(segment="", period_key__in={p.key for p in candidates}).values_list(
            "period_kind", "period_key"
        )
    )
    frozen: list[LeaderboardSnapshot] = []
    for period in sorted(candidates, key=lambda p: p.ends_at):
        if (period.kind, period.key) not in done:
            frozen += leaderboard_snapshot_freeze(period_kind=period.kind, period_key=period.key, now=now)
    return frozen
