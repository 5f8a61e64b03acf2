"""Races on real PostgreSQL connections: one vote per member, counts never lose an update, no merge cycles."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from community.errors import ServiceError
from feedback import services
from feedback.models import FeedbackItem, Vote
from tests.factories import MemberFactory, staff_member

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("shipped_statuses"),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs row locks and real concurrency"),
]


def _run_together(*calls):
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        except Exception as error:  # collected and asserted on by the test
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def _item(author, title="Parallel item"):
    return services.item_submit(author=author, kind="idea", title=title, body="Race me.")


def test_the_same_member_voting_twice_in_parallel_counts_once():
    author, voter = MemberFactory(), MemberFactory()
    item = _item(author)

    results = _run_together(*[lambda: services.vote_add(item=item, member=voter) for _ in range(4)])

    assert sorted(results, key=str) == [False, False, False, True]
    item.refresh_from_db()
    assert item.vote_count == 1
    assert Vote.objects.filter(item=item).count() == 1


def test_many_members_voting_at_once_lose_no_update():
    author = MemberFactory()
    voters = [MemberFactory() for _ in range(6)]
    item = _item(author)

    results = _run_together(*[lambda voter=voter: services.vote_add(item=item, member=voter) for voter in voters])

    assert results == [True] * 6
    item.refresh_from_db()
    assert item.vote_count == 6 == Vote.objects.filter(item=item).count()


def test_merging_a_into_b_while_b_into_a_merges_one_way_only():
    author = MemberFactory()
    operator = staff_member("operator")
    a, b = _item(author, "Copy A"), _item(author, "Copy B")
    services.vote_add(item=a, member=MemberFactory())
    services.vote_add(item=b, member=MemberFactory())

    results = _run_together(
        lambda: services.item_merge(duplicate=a, original=b, actor=operator.user),
        lambda: services.item_merge(duplicate=b, original=a, actor=operator.user),
    )

    refused = [result for result in results if isinstance(result, ServiceError)]
    merged = [result for result in results if isinstance(result, FeedbackItem)]
    assert len(refused) == 1 and len(merged) == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert (a.merged_into_id is None) != (b.merged_into_id is None)  # exactly one points at the other: no cycle
    survivor = a if a.merged_into_id is None else b
    assert survivor.vote_count == 2 == Vote.objects.filter(item=survivor).count()  # nothing lost
