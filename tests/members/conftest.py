from __future__ import annotations

import pytest

from community import domain_events


@pytest.fixture
def events():
    """Domain events published (after commit) while the test runs, as (type, data)."""
    seen: list[tuple[str, dict]] = []

    def listener(event_type: str, data: dict) -> None:
        seen.append((event_type, data))

    domain_events.subscribe(listener)
    yield seen
    domain_events._LISTENERS.remove(listener)


@pytest.fixture(scope="package", autouse=True)
def _members_catalogue(tmp_path_factory):
    """Until the lead merges `locale/zh_Hans/partials/members.po` into the project catalogue, compile it into a
    locale path of the test run so Chinese pages and messages can be asserted on."""
    import shutil
    import subprocess
    from pathlib import Path

    from django.conf import settings
    from django.utils.translation import trans_real

    source = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "partials" / "members.po"
    msgfmt = shutil.which("msgfmt")
    if not source.exists() or msgfmt is None:
        yield
        return
    target = tmp_path_factory.mktemp("locale") / "zh_Hans" / "LC_MESSAGES"
    target.mkdir(parents=True)
    subprocess.run([msgfmt, "-o", str(target / "django.mo"), str(source)], check=True)
    original = list(settings.LOCALE_PATHS)
    # The project catalogue keeps precedence: it is listed first; this one only fills in what it lacks.
    settings.LOCALE_PATHS = [*original, str(target.parent.parent)]
    trans_real._translations = {}
    trans_real._default = None
    yield
    settings.LOCALE_PATHS = original
    trans_real._translations = {}
    trans_real._default = None
