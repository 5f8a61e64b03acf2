"""The operator pages and the API: who may see them, what they show, CSV exports, constant query counts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from analytics.services.rollups import rollups_rebuild
from tests.factories import ActivityFactory, MemberFactory

pytestmark = pytest.mark.django_db

RANGE = "start=2026-03-02&end=2026-03-04"
PAGES = ["analytics:dashboard", "analytics:cohorts", "analytics:churn", "analytics:targets", "analytics:experiments"]


@pytest.mark.parametrize("name", PAGES)
def test_pages_are_for_operators_and_analysts_only(client, operator, rolled, name, member, analyst):
    url = reverse(name)
    client.force_login(operator.user)
    assert client.get(url).status_code == 200
    client.force_login(analyst.user)
    assert client.get(url).status_code == 200
    client.force_login(member.user)
    assert client.get(url).status_code == 404
    client.logout()
    assert client.get(url).status_code == 302


def test_dashboard_shows_kpis_charts_funnel_and_heatmap(web_operator, rolled):
    response = web_operator.get(f"{reverse('analytics:dashboard')}?{RANGE}")
    text = response.content.decode()
    assert response.status_code == 200
    values = {row["kpi"].key: row["kpi"].value for row in response.context["kpis"]}
    assert values["dau"] == 1.33 and values["members_total"] == 3
    assert "<svg" in text and "<polyline" in text and "analytics-heatmap" in text
    assert "Active after 30 days" in text and "Table view" in text
    segments = {row["segment"]: {v.key: v.value for v in row["values"]} for row in response.context["segments"]}
    assert segments["active"]["members_total"] == 2 and segments["loyal"]["members_total"] == 1
    assert segments["novice"]["members_total"] == 0 and segments["active"]["dau"] == 1.33


def test_templates_have_no_inline_script_or_event_handlers():
    import re
    from pathlib import Path

    import analytics

    for path in Path(analytics.__file__).parent.glob("templates/**/*.html"):
        text = path.read_text()
        assert "<script" not in text, path
        assert not re.search(r"\son[a-z]+=", text), path


def test_dashboard_in_chinese(web_operator, rolled):
    response = web_operator.get(reverse("analytics:dashboard"), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200


@pytest.mark.parametrize("name", ["kpis", "series", "funnel", "participation", "cohorts", "segments"])
def test_csv_exports(web_operator, rolled, name):
    response = web_operator.get(f"{reverse('analytics:export', args=[name])}?{RANGE}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = response.content.decode("utf-8-sig").strip().splitlines()
    assert len(lines) >= 2
    if name == "series":
        assert lines[1].startswith("2026-03-02,")
        assert len(lines) == 4


def test_an_unknown_export_is_404(web_operator, rolled):
    assert web_operator.get(reverse("analytics:export", args=["nope"])).status_code == 404


def test_a_bad_period_falls_back_with_an_error(web_operator, rolled):
    response = web_operator.get(f"{reverse('analytics:dashboard')}?start=2026-03-05&end=2026-03-01")
    assert response.status_code == 200
    assert response.context["form"].errors


def test_cohort_cell_page_lists_its_members(web_operator, rolled):
    response = web_operator.get(reverse("analytics:cohort_cell", args=["2026-03-02", 0]))
    assert response.status_code == 200
    assert [m.display_name for m in response.context["page"]] == ["A", "B"]
    assert web_operator.get(reverse("analytics:cohort_cell", args=["not-a-day", 0])).status_code == 404


def test_operators_set_and_remove_targets_analysts_cannot(client, operator, rolled, analyst):
    web_operator = client
    client.force_login(operator.user)
    response = web_operator.post(
        reverse("analytics:targets"), {"kpi": "mau", "comparison": "gte", "value": "300", "window_days": "30"}
    )
    assert response.status_code == 302
    from analytics.models import KpiTarget
    from community.models import AuditLog

    target = KpiTarget.objects.get(kpi="mau")
    assert AuditLog.objects.filter(action="analytics.kpi_target.set").exists()
    client.force_login(analyst.user)
    assert client.post(reverse("analytics:targets"), {"kpi": "dau"}).status_code == 404
    assert client.post(reverse("analytics:target_delete", args=[target.pk])).status_code == 404
    client.force_login(operator.user)
    assert web_operator.post(reverse("analytics:target_delete", args=[target.pk])).status_code == 302
    assert not KpiTarget.objects.exists()


def test_rebuild_button_is_for_operators(client, operator, analyst, program, django_capture_on_commit_callbacks):
    web_operator = client
    client.force_login(operator.user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert web_operator.post(reverse("analytics:rebuild")).status_code == 302
    assert len(callbacks) >= 1
    from community.models import AuditLog

    assert AuditLog.objects.filter(action="analytics.rollups_rebuild", actor=operator.user).exists()
    from analytics.models import DaySegment

    assert DaySegment.objects.filter(day=date(2026, 3, 3)).exists()
    client.force_login(analyst.user)
    assert client.post(reverse("analytics:rebuild")).status_code == 404


def grow(members: int, days: int) -> None:
    start = datetime(2026, 3, 1, 4, tzinfo=UTC)
    for index in range(members):
        member = MemberFactory(joined_at=start - timedelta(days=index % 9))
        for day in range(days):
            ActivityFactory(member=member, verb=("checked_in", "question_answered")[day % 2],
                            occurred_at=start + timedelta(days=day))  # fmt: skip
    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 3, 31))


@pytest.mark.parametrize(
    "url",
    [
        f"/analytics/?{RANGE}",
        "/analytics/cohorts/",
        "/analytics/churn/",
        "/admin/",
        f"/api/v1/analytics/kpis/?{RANGE}",
        f"/api/v1/analytics/series/?{RANGE}",
        "/api/v1/analytics/cohorts/",
        f"/api/v1/analytics/funnel/?{RANGE}",
        "/api/v1/analytics/cohorts/2026-02-23/0/members/",
    ],
)
def test_query_count_is_constant_in_members_and_days(web_operator, django_assert_num_queries, url, settings):
    settings.ANALYTICS_CACHE_SECONDS = 0  # the uncached path is the one that must not grow
    grow(2, 2)
    web_operator.get(url)  # warm caches
    with CaptureQueriesContext(connection) as few:
        assert web_operator.get(url).status_code == 200
    grow(12, 8)
    wide = url.replace("end=2026-03-04", "end=2026-03-20")
    with django_assert_num_queries(len(few.captured_queries)):
        assert web_operator.get(wide).status_code == 200


def test_dashboard_reads_are_cached_until_the_next_rebuild(web_operator, program):
    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 3, 10))
    url = f"{reverse('analytics:dashboard')}?{RANGE}"
    web_operator.get(url)
    with CaptureQueriesContext(connection) as cold:
        first = web_operator.get(url)
    # A new member joins; a rebuild retires the cached figures at once.
    from tests.analytics.conftest import SH, at

    MemberFactory(joined_at=at(SH, 2026, 3, 3, 12))
    rollups_rebuild(start=date(2026, 2, 1), end=date(2026, 3, 10))
    with CaptureQueriesContext(connection) as after:
        second = web_operator.get(url)
    values = {row["kpi"].key: row["kpi"].value for row in second.context["kpis"]}
    assert {row["kpi"].key: row["kpi"].value for row in first.context["kpis"]}["members_new"] == 3
    assert values["members_new"] == 4
    assert len(cold.captured_queries) < len(after.captured_queries)


# --- API ----------------------------------------------------------------------------------------------------

API = [
    "/api/v1/analytics/kpis/",
    "/api/v1/analytics/series/",
    "/api/v1/analytics/cohorts/",
    "/api/v1/analytics/funnel/",
    "/api/v1/analytics/experiments/",
]


@pytest.mark.parametrize("url", API)
def test_api_is_for_operators_and_analysts(api_operator, api_member, api_anon, analyst, url, rolled):
    from rest_framework.test import APIClient

    assert api_operator.get(url).status_code == 200
    analyst_client = APIClient()
    analyst_client.force_authenticate(analyst.user)
    assert analyst_client.get(url).status_code == 200
    assert api_member.get(url).status_code == 403
    assert api_anon.get(url).status_code == 401


def test_api_kpis_by_hand(api_operator, rolled):
    body = api_operator.get(f"/api/v1/analytics/kpis/?{RANGE}&segment=active").json()
    values = {row["key"]: row["value"] for row in body["kpis"]}
    assert body["start"] == "2026-03-02" and values["members_total"] == 2 and values["d1_retention"] == 100.0


def test_api_series_and_funnel(api_operator, rolled):
    series = api_operator.get(f"/api/v1/analytics/series/?{RANGE}").json()
    assert [(row["day"], row["dau"]) for row in series] == [("2026-03-02", 1), ("2026-03-03", 2), ("2026-03-04", 1)]
    steps = {s["key"]: s["count"] for s in api_operator.get(f"/api/v1/analytics/funnel/?{RANGE}").json()}
    assert steps["joined"] == 3 and steps["loyal"] == 1


def test_api_cohorts_and_members(api_operator, rolled):
    table = api_operator.get("/api/v1/analytics/cohorts/?cohorts=3&min_active_days=1").json()
    assert [row["cohort_week"] for row in table["rows"]] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    members = api_operator.get("/api/v1/analytics/cohorts/2026-03-02/0/members/").json()
    assert [m["display_name"] for m in members["results"]] == ["A", "B"]


@pytest.mark.parametrize(
    "query", ["start=2026-03-05&end=2026-03-01", "start=nope", "segment=wizard", "min_active_days=9", "cohorts=0"]
)
def test_api_bad_input_is_400(api_operator, rolled, query):
    url = "/api/v1/analytics/cohorts/" if "min_active" in query or "cohorts" in query else "/api/v1/analytics/kpis/"
    assert api_operator.get(f"{url}?{query}").status_code == 400


def test_api_unknown_experiment_is_404(api_operator):
    assert api_operator.get("/api/v1/analytics/experiments/999999/results/").status_code == 404


def test_experiment_and_target_lists_keep_their_query_count(web_operator, api_operator, settings):
    from analytics.services import experiments, targets

    settings.ANALYTICS_CACHE_SECONDS = 0

    def make(count: int, offset: int) -> None:
        for index in range(count):
            experiment = experiments.experiment_create(
                actor=None, key=f"exp-{offset + index}", name=f"E{offset + index}", outcome_verb="checked_in",
                variants=[{"key": "a"}, {"key": "b"}], start=True,
            )  # fmt: skip
            for member in MemberFactory.create_batch(3):
                experiments.experiment_assign(experiment=experiment, member=member)
        # All read the daily rollup: more targets of the same source must not mean more queries.
        for kpi in ("mau", "dau", "wau", "members_total")[offset // 10 : offset // 10 + count]:
            targets.kpi_target_set(actor=None, kpi=kpi, comparison="gte", value=1)

    urls = ["/analytics/experiments/", "/api/v1/analytics/experiments/", "/analytics/targets/",
            "/analytics/cohorts/2026-02-23/0/"]  # fmt: skip
    make(1, 0)
    grow(2, 2)  # a cell with members: an empty page skips the page query
    counts = {}
    for url in urls:
        client = api_operator if url.startswith("/api/") else web_operator
        client.get(url)
        with CaptureQueriesContext(connection) as few:
            assert client.get(url).status_code == 200
        counts[url] = len(few.captured_queries)
    make(3, 10)
    grow(6, 3)
    for url in urls:
        client = api_operator if url.startswith("/api/") else web_operator
        with django_assert_num_queries_for(counts[url]):
            assert client.get(url).status_code == 200


def django_assert_num_queries_for(expected: int):
    from django.test.utils import CaptureQueriesContext as Capture

    class Checker(Capture):
        def __exit__(self, *exc):
            super().__exit__(*exc)
            assert len(self.captured_queries) == expected, [q["sql"][:80] for q in self.captured_queries]

    return Checker(connection)
