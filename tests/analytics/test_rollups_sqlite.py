"""The rollups on SQLite, the embedded default that `make run` starts with.

The suite runs on PostgreSQL, and the rollups spell some SQL per database, so the demo set-up (which builds every
rollup) and the scheduled jobs run here once on a fresh SQLite file, in a process of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("seed_demo", "--if-empty", verbosity=0)
from analytics.models import Cohort, CohortCell, DaySegment, MemberDay
from analytics.services.rollups import cohorts_recompute, rollups_refresh_recent
rollups_refresh_recent()
cohorts_recompute()
print(MemberDay.objects.count(), DaySegment.objects.count(), Cohort.objects.count(), CohortCell.objects.count())
"""


def test_the_demo_rollups_and_the_scheduled_jobs_run_on_sqlite(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "HEARTH_TEST_DB_SUFFIX"}
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'hearth.sqlite3'}",
        DJANGO_SETTINGS_MODULE="community.settings.base",
        DEBUG="true",
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=290
    )
    assert done.returncode == 0, done.stderr[-3000:]
    member_days, day_segments, cohorts, cells = map(int, done.stdout.split()[-4:])
    assert member_days > 0 and day_segments > 0 and cohorts > 0 and cells > 0
