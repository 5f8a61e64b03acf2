"""Leaderboards: rebuilding every live board from a large ledger, reading a board (top 100 + own rank), and the
time from an award to seeing it on the live board.

The ledger is filled with `--scale` x 1,000,000 earned entries for `--scale` x 20,000 members over 120 days,
written straight into the ledger tables in set-based SQL (a fixture: the award path has its own benchmark), with
the balances summed from them. Boards live in Redis under a namespace of their own, removed afterwards.

Run alone with `python -m bench.rewards_leaderboards [--scale 1]`.
"""

from __future__ import annotations

import functools
import random
import statistics
import sys
import time
from collections.abc import Iterator

from bench import harness
from bench.harness import Benchmark, Context, Figure, Stopwatch

ENTRIES = 1_000_000
MEMBERS = 20_000
DAYS = 120
TAGS = ("beta tester", "power user", "KOL")
REBUILD_RUNS = 3
READS = 5_000
SQL_READS = 20
AWARDS = 300
KEY_PREFIX = "hearth-bench:lb"


def _ensure_tables() -> None:
    """Create rewards tables (and columns) that have no migration yet, so the benchmark runs before they do."""
    from django.apps import apps
    from django.db import connection

    existing = set(connection.introspection.table_names())
    with connection.schema_editor() as editor:
        for model in apps.get_app_config("rewards").get_models():
            if model._meta.db_table not in existing:
                editor.create_model(model)
                continue
            with connection.cursor() as cursor:
                columns = {c.name for c in connection.introspection.get_table_description(cursor, model._meta.db_table)}
            for field in model._meta.local_concrete_fields:
                if field.column not in columns:
                    editor.add_field(model, field)


def _use_own_namespace() -> None:
    from django.conf import settings

    settings.HEARTH_LEADERBOARD_KEY_PREFIX = KEY_PREFIX
    _clean_keys()


def _clean_keys() -> None:
    from rewards.selectors.leaderboards import redis_client

    client = redis_client()
    if client is not None:
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.delete(*keys[start : start + 5000])


def _seed_members(count: int, rng: random.Random) -> list[int]:
    from django.contrib.auth.hashers import make_password

    from members.models import Member, Tag, User

    password = make_password(None)
    users = User.objects.bulk_create(
        [User(email=f"board-{index}@bench.example.com", password=password) for index in range(count)], batch_size=5000
    )
    members = Member.objects.bulk_create(
        [Member(user=user, display_name=f"Bench member {index}") for index, user in enumerate(users)], batch_size=5000
    )
    through = Member.tags.through
    tags = [Tag.objects.get_or_create(name=name)[0] for name in TAGS]
    links = [through(member_id=m.pk, tag_id=tag.pk) for m in members for tag in tags if rng.random() < 0.1]
    through.objects.bulk_create(links, batch_size=5000)
    return [member.pk for member in members]


def _seed_ledger_postgres(member_ids: list[int], entries: int, seed: int) -> None:
    from django.db import connection

    from rewards.models import PointEntry

    first, count = min(member_ids), len(member_ids)
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [((seed % 1000) / 1000.0)])
        # A few members earn most of the points: the member index is skewed towards the start.
        cursor.execute(
            f"INSERT INTO {PointEntry._meta.db_table} (member_id, kind, lifetime_delta, spendable_delta, reason, "
            "source_id, idempotency_key, created_at) "
            "SELECT %s + floor(%s * power(s.who, 2))::bigint, 'earn', s.points, s.points, 'bench', '', "
            "'bench-board-' || s.g, now() - s.age * (%s * interval '1 day') FROM ("
            "  SELECT g, random() AS who, random() AS age, (ARRAY[5, 5, 10, 10, 20, 50])[1 + floor(random() * 6)::int]"
            "  AS points FROM generate_series(1, %s) AS g"
            ") s",
            [first, count, DAYS, entries],
        )


def _seed_ledger_python(member_ids: list[int], entries: int, rng: random.Random) -> None:
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from rewards.models import PointEntry

    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    sql = (
        f"INSERT INTO {PointEntry._meta.db_table} (member_id, kind, lifetime_delta, spendable_delta, reason, "
        "source_id, idempotency_key, created_at) VALUES (%s, 'earn', %s, %s, 'bench', '', %s, %s)"
    )
    batch = []
    with connection.cursor() as cursor:
        for index in range(entries):
            points = rng.choice((5, 5, 10, 10, 20, 50))
            member_id = member_ids[int(len(member_ids) * rng.random() ** 2)]
            moment = now - timedelta(seconds=rng.randrange(DAYS * 86_400))
            batch.append((member_id, points, points, f"bench-board-{index}", adapt(moment)))
            if len(batch) == 10_000:
                cursor.executemany(sql, batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)


@functools.cache
def _ledger(context: Context) -> tuple[int, ...]:
    """Members and a ledger of `--scale` x 1,000,000 entries, with balances equal to the ledger sums."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rewards.models import PointBalance, PointEntry

    _ensure_tables()
    _use_own_namespace()
    rng = context.rng("rewards_leaderboards")
    started = time.perf_counter()
    with transaction.atomic():
        member_ids = _seed_members(context.size(MEMBERS), rng)
        if connection.vendor == "postgresql":
            _seed_ledger_postgres(member_ids, context.size(ENTRIES), context.seed)
        else:
            _seed_ledger_python(member_ids, context.size(ENTRIES), rng)
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {PointBalance._meta.db_table} (member_id, lifetime, spendable, updated_at) "
                f"SELECT member_id, SUM(lifetime_delta), SUM(spendable_delta), %s FROM {PointEntry._meta.db_table} "
                # Earlier benchmarks of the run may have left balances: the sums over the whole ledger replace them.
                "GROUP BY member_id ON CONFLICT (member_id) DO UPDATE "
                "SET lifetime = EXCLUDED.lifetime, spendable = EXCLUDED.spendable",
                [connection.ops.adapt_datetimefield_value(timezone.now())],
            )
    if connection.vendor == "postgresql":
        # As a live ledger is: vacuumed (visibility map, hint bits) and analysed, not freshly bulk-loaded.
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {PointEntry._meta.db_table}")
            cursor.execute(f"VACUUM (ANALYZE) {PointBalance._meta.db_table}")
    print(
        f"seeded {PointEntry.objects.count()} entries for {len(member_ids)} members in "
        f"{time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return tuple(member_ids)


def _redis_configured() -> bool:
    from rewards.selectors.leaderboards import redis_client

    return redis_client() is not None


def rebuild(context: Context) -> Iterator[Figure]:
    """`leaderboard_rebuild()`: all-time plus the previous, current and next month, week and day, for everyone
    and each segment, from the ledger into Redis (median of three runs)."""
    from rewards.services.leaderboards import leaderboard_rebuild, leaderboard_snapshot_freeze, live_periods

    _ledger(context)
    entries = context.size(ENTRIES)
    if _redis_configured():
        runs = [leaderboard_rebuild() for _ in range(REBUILD_RUNS)]
        yield Figure("rewards.leaderboards.rebuild", statistics.median(r.seconds for r in runs), "s")
        yield Figure("rewards.leaderboards.rebuild.entries", entries, "entries")
        yield Figure("rewards.leaderboards.rebuild.boards", runs[-1].boards, "boards")
    previous_month = next(p for p in live_periods() if p.kind == "month")
    started = time.perf_counter()
    leaderboard_snapshot_freeze(period_kind="month", period_key=previous_month.key)
    yield Figure("rewards.leaderboards.freeze_month", time.perf_counter() - started, "s")


def read(context: Context) -> Iterator[Figure]:
    """A board read as the API makes it: the top 100 and the caller's own rank (`leaderboard_with_standing`)."""
    from django.core.cache import cache
    from django.test import override_settings

    from members.models import Member
    from rewards.selectors.leaderboards import leaderboard_rank_for, leaderboard_top, leaderboard_with_standing
    from rewards.services.leaderboards import leaderboard_rebuild

    member_ids = _ledger(context)
    rng = context.rng("rewards_leaderboards.read")
    members = list(Member.objects.filter(pk__in=rng.sample(member_ids, min(500, len(member_ids)))))
    if _redis_configured():
        leaderboard_rebuild()
        for member in members[:50]:  # warm-up: connections and the scripts loaded
            leaderboard_top(period_kind="week", limit=100)
            leaderboard_rank_for(member=member, period_kind="week")
        count = context.size(READS)
        with Stopwatch() as watch:
            for index in range(count):
                with watch.lap():
                    board, _me = leaderboard_with_standing(
                        member=members[index % len(members)], period_kind="week", limit=100
                    )
        if board.source != "redis":
            raise RuntimeError(f"read from {board.source}, not Redis")
        yield Figure("rewards.leaderboards.read", watch.rate(count), "ops/s")
        yield Figure("rewards.leaderboards.read.p50", watch.percentile_ms(50), "ms")
        yield Figure("rewards.leaderboards.read.p99", watch.percentile_ms(99), "ms")
    # Without Redis each read queries the ledger (then caches it briefly); measured with the cache cleared.
    with override_settings(REDIS_URL=None), Stopwatch() as watch:
        for index in range(SQL_READS):
            cache.clear()
            with watch.lap():
                leaderboard_top(period_kind="week", limit=100)
                leaderboard_rank_for(member=members[index % len(members)], period_kind="week")
    yield Figure("rewards.leaderboards.read_sql_uncached.p50", watch.percentile_ms(50), "ms")


def award_to_visible(context: Context) -> Iterator[Figure]:
    """From calling `points_award` to the member's new points showing on the live weekly board."""
    from members.models import Member
    from rewards.selectors.leaderboards import leaderboard_rank_for
    from rewards.services.leaderboards import leaderboard_rebuild
    from rewards.services.ledger import points_award

    member_ids = _ledger(context)
    if not _redis_configured():
        return
    leaderboard_rebuild()
    rng = context.rng("rewards_leaderboards.visible")
    members = list(Member.objects.filter(pk__in=rng.sample(member_ids, min(AWARDS, len(member_ids)))))
    delays: list[float] = []
    for index in range(context.size(AWARDS)):
        member = members[index % len(members)]
        before = leaderboard_rank_for(member=member, period_kind="week").points
        started = time.perf_counter()
        points_award(member=member, amount=7, reason="bench", idempotency_key=f"bench-visible-{context.seed}-{index}")
        while leaderboard_rank_for(member=member, period_kind="week").points != before + 7:
            if time.perf_counter() - started > 5:
                raise RuntimeError("an award did not show on the live board within 5 s")
        delays.append((time.perf_counter() - started) * 1000)
    delays.sort()
    yield Figure("rewards.leaderboards.award_to_visible.p99", delays[max(0, round(0.99 * len(delays)) - 1)], "ms")
    yield Figure("rewards.leaderboards.award_to_visible.max", delays[-1], "ms")


def _cleaned(run):
    """Remove the benchmark's Redis keys once the benchmark is done (its boards are rebuilt at each start)."""

    @functools.wraps(run)
    def wrapper(context: Context) -> Iterator[Figure]:
        try:
            yield from run(context)
        finally:
            _clean_keys()

    return wrapper


BENCHMARKS = (
    Benchmark("rewards.leaderboards.rebuild", _cleaned(rebuild)),
    Benchmark("rewards.leaderboards.read", _cleaned(read)),
    Benchmark("rewards.leaderboards.award_to_visible", _cleaned(award_to_visible)),
)


if __name__ == "__main__":
    sys.exit(harness.main(lambda: BENCHMARKS))
