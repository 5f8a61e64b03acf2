"""The zh_Hans catalogue ships complete: every msgid of the code translated, nothing fuzzy, placeholders intact,
the committed .mo in step with the .po, and the portal pages free of English UI text when read in 简体中文.

The .po is read with a small parser below (no extra package); makemessages and msgfmt are only needed by the two
tests that run them, which skip when the gettext tools are not installed.
"""

from __future__ import annotations

import ast
import gettext as gettext_module
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from community import roles
from community import services as community_services
from rewards.models import Badge, Reward
from rewards.services import badges as badge_services
from tests.factories import MemberFactory, staff_member

BASE_DIR = Path(settings.BASE_DIR)
LOCALE_DIR = BASE_DIR / "locale"
PO_PATH = LOCALE_DIR / "zh_Hans" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
# What `make messages` leaves out of makemessages (see the Makefile), plus folders that hold no source.
NOT_SCANNED = {".venv", "var", "tests", "bench", "locale", ".git", ".ci", ".ruff_cache", "docs", "node_modules"}
SOURCE_SUFFIXES = {".py", ".html", ".txt"}  # makemessages' defaults for the "django" domain


# --- a small .po reader ---------------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    locations: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str, str | None]:
        return (self.msgctxt, self.msgid, self.msgid_plural)

    @property
    def is_header(self) -> bool:
        return self.msgid == "" and self.msgctxt is None

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    def describe(self) -> str:
        text = f"{self.msgid!r}"
        if self.msgctxt:
            text = f"[{self.msgctxt}] {text}"
        if self.msgid_plural:
            text += f" / plural {self.msgid_plural!r}"
        return text


def parse_po(path: Path) -> list[Entry]:
    """Entries of a .po file (obsolete `#~` entries skipped), the header entry included."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # which field a continuation line extends
    started = False  # the current entry has its msgid already

    def finish() -> None:
        nonlocal current, started, target
        if current is not None and started:
            entries.append(current)
        current, started, target = None, False, None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if not line:
                finish()
            continue
        if line.startswith("#"):
            if started:
                finish()
            current = current or Entry(line=number)
            if line.startswith("#,"):
                current.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            elif line.startswith("#:"):
                current.locations += line[2:].split()
            continue
        current = current or Entry(line=number)
        if line.startswith('"'):
            value = ast.literal_eval(line)
            if target is None:
                raise ValueError(f"{path}:{number}: a string continues nothing")
            name, index = target
            if name == "msgstr":
                current.msgstr[index] += value
            else:
                setattr(current, name, (getattr(current, name) or "") + value)
            continue
        keyword, _, rest = line.partition(" ")
        value = ast.literal_eval(rest.strip())
        if keyword in ("msgctxt", "msgid") and started:
            finish()
            current = Entry(line=number)
        if keyword == "msgctxt":
            current.msgctxt, target = value, ("msgctxt", 0)
        elif keyword == "msgid":
            current.msgid, target, started = value, ("msgid", 0), True
        elif keyword == "msgid_plural":
            current.msgid_plural, target = value, ("msgid_plural", 0)
        elif keyword == "msgstr":
            current.msgstr[0], target = value, ("msgstr", 0)
        elif keyword.startswith("msgstr[") and keyword.endswith("]"):
            index = int(keyword[len("msgstr[") : -1])
            current.msgstr[index], target = value, ("msgstr", index)
        else:
            raise ValueError(f"{path}:{number}: unexpected line {raw!r}")
    finish()
    return entries


def _header_fields(header: str) -> str:
    # msgfmt leaves POT-Creation-Date out of the .mo (reproducible builds); every other field is kept.
    return "".join(line for line in header.splitlines(keepends=True) if not line.startswith("POT-Creation-Date:"))


def expected_mo_catalog(entries: list[Entry]) -> dict:
    """What gettext's GNUTranslations holds after msgfmt compiles these entries (translated, non-fuzzy only)."""
    catalog: dict = {}
    for entry in entries:
        if entry.is_header:
            if not entry.fuzzy:
                catalog[""] = _header_fields(entry.msgstr.get(0, ""))
            continue
        if entry.fuzzy or not entry.translated:
            continue
        msgid = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            catalog[msgid] = entry.msgstr[0]
        else:
            for index, text in entry.msgstr.items():
                catalog[(msgid, index)] = text
    return catalog


def mo_catalog(path: Path) -> dict:
    with path.open("rb") as handle:
        catalog = dict(gettext_module.GNUTranslations(handle)._catalog)
    if "" in catalog:
        catalog[""] = _header_fields(catalog[""])
    return catalog


@pytest.fixture(scope="module")
def catalogue() -> list[Entry]:
    return parse_po(PO_PATH)


def _listing(entries: list[Entry] | list[str], limit: int = 400) -> str:
    lines = [e.describe() if isinstance(e, Entry) else e for e in entries]
    shown = "\n  ".join(lines[:limit])
    more = f"\n  … and {len(lines) - limit} more" if len(lines) > limit else ""
    return f"\n  {shown}{more}"


# --- (a) complete, nothing fuzzy ------------------------------------------------------------------------------


def test_catalogue_header_is_final_utf8_with_one_plural_form(catalogue):
    headers = [e for e in catalogue if e.is_header]

    assert len(headers) == 1, "the catalogue must have exactly one header entry"
    header = headers[0]
    assert not header.fuzzy, "the catalogue header is marked fuzzy: msgfmt would drop its charset and plural rule"
    assert "charset=UTF-8" in header.msgstr[0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header.msgstr[0]


def test_catalogue_has_no_untranslated_and_no_fuzzy_entry(catalogue):
    untranslated = [e for e in catalogue if not e.is_header and not e.translated]
    fuzzy = [e for e in catalogue if not e.is_header and e.fuzzy]

    if untranslated or fuzzy:
        pytest.fail(
            f"{PO_PATH.relative_to(BASE_DIR)}: {len(untranslated)} untranslated and {len(fuzzy)} fuzzy entries. "
            "Add the Chinese to your area's locale/zh_Hans/partials/<area>.po, then run `make messages`."
            + (f"\nUntranslated:{_listing(untranslated)}" if untranslated else "")
            + (f"\nFuzzy:{_listing(fuzzy)}" if fuzzy else ""),
            pytrace=False,
        )


def test_catalogue_has_no_duplicate_msgid(catalogue):
    seen: dict = {}
    duplicates = []
    for entry in catalogue:
        key = (entry.msgctxt, entry.msgid)
        if key in seen:
            duplicates.append(entry)
        seen[key] = entry

    assert not duplicates, f"msgids listed twice:{_listing(duplicates)}"


# --- (b) the catalogue covers every msgid in the code ---------------------------------------------------------


def _copy_sources(destination: Path) -> None:
    """The scanned part of the tree: *.py, *.html and *.txt of the apps and templates/, and manage.py."""
    for top in BASE_DIR.iterdir():
        if top.name in NOT_SCANNED or top.name.startswith("."):
            continue
        if top.is_file():
            if top.suffix == ".py":
                shutil.copy2(top, destination / top.name)
            continue
        for path in top.rglob("*"):
            if path.suffix in SOURCE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                target = destination / path.relative_to(BASE_DIR)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    (destination / "locale" / "zh_Hans" / "LC_MESSAGES").mkdir(parents=True)


def test_catalogue_covers_every_msgid_in_the_code(tmp_path, catalogue):
    if shutil.which("xgettext") is None or shutil.which("msgmerge") is None:
        pytest.skip("GNU gettext (xgettext, msgmerge) is not installed; `apt-get install gettext`.")
    tree = tmp_path / "src"
    tree.mkdir()
    _copy_sources(tree)
    env = {**os.environ, "DEBUG": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    env["DJANGO_SETTINGS_MODULE"] = "community.settings.base"
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--keep-pot", "--no-obsolete"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    in_code = {e.key: e for e in parse_po(tree / "locale" / "django.pot") if not e.is_header}
    translated = {e.key for e in catalogue if not e.is_header and e.translated and not e.fuzzy}

    missing = [entry for key, entry in in_code.items() if key not in translated]

    assert in_code, "makemessages found no msgid at all: the copy of the source tree is wrong"
    if missing:
        by_file: dict[str, list[str]] = {}
        for entry in missing:
            for source in sorted({location.rsplit(":", 1)[0] for location in entry.locations}) or ["?"]:
                by_file.setdefault(source, []).append(entry.describe())
        report = "".join(f"\n{source}:{_listing(msgids)}" for source, msgids in sorted(by_file.items()))
        pytest.fail(
            f"{len(missing)} msgids in the code have no (non-fuzzy) translation in "
            f"{PO_PATH.relative_to(BASE_DIR)}. Translate them in locale/zh_Hans/partials/<area>.po and run "
            f"`make messages`. By source file:{report}",
            pytrace=False,
        )


# --- (c) the committed .mo is the compiled .po ------------------------------------------------------------------


def test_committed_mo_holds_exactly_the_po_translations(catalogue):
    assert MO_PATH.exists(), f"{MO_PATH.relative_to(BASE_DIR)} is missing: run `make messages` and commit it"

    expected = expected_mo_catalog(catalogue)
    compiled = mo_catalog(MO_PATH)

    stale = sorted(repr(k) for k in expected.keys() - compiled.keys())
    extra = sorted(repr(k) for k in compiled.keys() - expected.keys())
    changed = sorted(repr(k) for k in expected.keys() & compiled.keys() if expected[k] != compiled[k])
    assert not (stale or extra or changed), (
        "django.mo is out of step with django.po; run `make messages` (compilemessages) and commit the .mo."
        + (f"\nIn the .po only:{_listing(stale)}" if stale else "")
        + (f"\nIn the .mo only:{_listing(extra)}" if extra else "")
        + (f"\nDifferent text:{_listing(changed)}" if changed else "")
    )


def test_msgfmt_compiles_the_po_to_the_committed_catalogue(tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext (msgfmt) is not installed; `apt-get install gettext`.")
    fresh = tmp_path / "django.mo"
    result = subprocess.run(
        ["msgfmt", "--check-format", "-o", str(fresh), str(PO_PATH)],  # noqa: S607 - the system's gettext
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"msgfmt rejects the catalogue:\n{result.stderr}"

    assert mo_catalog(fresh) == mo_catalog(MO_PATH), "django.mo differs from a fresh compile: run `make messages`"


# --- (d) placeholders survive translation -----------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?([diouxXeEfFgGcrsa])")


def placeholders(text: str) -> set[tuple[str, str]]:
    return set(PLACEHOLDER.findall(text))


def test_translations_keep_the_placeholders_of_their_msgid(catalogue):
    problems = []
    for entry in catalogue:
        if entry.is_header or not entry.translated:
            continue
        wanted = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        for index, text in entry.msgstr.items():
            got = placeholders(text)
            if got != wanted:
                problems.append(f"{entry.describe()} msgstr[{index}]: has {sorted(got)}, wants {sorted(wanted)}")
            if "python-format" in entry.flags:
                # A lone % (not %% and not %(name)x) makes Python's formatting raise at run time.
                rest = PLACEHOLDER.sub("", text).replace("%%", "")
                if "%" in rest:
                    problems.append(f"{entry.describe()} msgstr[{index}]: a bare % ({text!r})")

    assert not problems, "placeholders differ between msgid and translation:" + _listing(problems)


def test_translations_format_with_their_placeholders(catalogue):
    """Every python-format translation formats with the values its msgid names (so no KeyError at run time)."""
    failures = []
    for entry in catalogue:
        if entry.is_header or not entry.translated or "python-format" not in entry.flags:
            continue
        names = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        values = {name: (1.5 if kind in "eEfFgG" else 1 if kind in "diouxXc" else "x") for name, kind in names}
        for text in entry.msgstr.values():
            try:
                text % values
            except (KeyError, ValueError, TypeError) as error:
                failures.append(f"{entry.describe()}: {error!r}")

    assert not failures, "translations that cannot be formatted:" + _listing(failures)


def test_parser_reads_plurals_flags_and_continuations(tmp_path):
    po = tmp_path / "sample.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-format\nmsgid "%(n)s apple"\nmsgid_plural "%(n)s apples"\nmsgstr[0] "%(n)s 个苹果"\n\n'
        '#, fuzzy\nmsgctxt "menu"\nmsgid ""\n"Open"\nmsgstr "打开"\n\nmsgid "Left"\nmsgstr ""\n\n'
        '#~ msgid "Gone"\n#~ msgstr "没了"\n',
        encoding="utf-8",
    )

    header, apples, opened, left = parse_po(po)

    assert header.is_header and header.msgstr[0] == "Content-Type: text/plain; charset=UTF-8\n"
    assert apples.msgid_plural == "%(n)s apples" and apples.msgstr == {0: "%(n)s 个苹果"}
    assert "python-format" in apples.flags and apples.translated
    assert (opened.msgctxt, opened.msgid, opened.fuzzy) == ("menu", "Open", True)
    assert not left.translated
    assert expected_mo_catalog([header, apples, opened, left]) == {
        "": header.msgstr[0],
        ("%(n)s apple", 0): "%(n)s 个苹果",
    }


# --- the portal in 简体中文 -----------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
# Labels every signed-in page shows; in Chinese none of them may be left in English.
NAV_LABELS = [
    "Home",
    "Feedback",
    "Points",
    "Badges",
    "Leaderboard",
    "Shop",
    "Community",
    "Notifications",
    "Profile",
    "Log out",
    "Switch",
]


class _VisibleText(HTMLParser):
    """Text nodes and the human-readable attributes of a page (scripts and styles left out)."""

    READABLE_ATTRIBUTES = ("aria-label", "placeholder", "title", "alt", "value")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        attributes = dict(attrs)
        for name in self.READABLE_ATTRIBUTES:
            if name == "value" and not (tag == "input" and attributes.get("type") in ("submit", "button")):
                continue
            if attributes.get(name):
                self.texts.append(attributes[name].strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def visible_texts(html: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(html)
    return parser.texts


def _normalised(text: str) -> str:
    # Form labels add a colon and capitalise a model field's verbose name ("avatar" → "Avatar:").
    text = text.strip().rstrip(":\uff1a").strip()
    return text[:1].upper() + text[1:]


@pytest.fixture
def english_ui_strings(catalogue) -> set[str]:
    """Every English msgid without placeholders, as a page would show it untranslated (translated or not yet:
    an entry still waiting for its Chinese shows in English too). Msgids kept as they are in Chinese (API) and
    single characters are left out."""
    strings = set()
    for entry in catalogue:
        if entry.is_header or "%" in entry.msgid or entry.msgid_plural:
            continue
        if entry.msgstr.get(0) != entry.msgid and re.search(r"[A-Za-z]{2}", entry.msgid):
            strings.add(_normalised(entry.msgid))
    return strings


@pytest.fixture
def zh_member(client, db):
    """A signed-in member reading in 简体中文, with points, a streak, a badge, a reward to look at and a notice."""
    member = MemberFactory(display_name="李雷", locale="zh-hans")
    operator = staff_member(roles.OPERATOR, display_name="运营小王")
    client.force_login(member.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    assert client.post("/rewards/points/check-in/").status_code == 302
    badge = Badge.objects.create(
        slug="community-star", name="社区达人", description="乐于助人。", tier="gold", criteria={"type": "manual"}
    )
    badge_services.badge_grant(badge=badge, member=member, actor=operator.user, reason="热心")
    Reward.objects.create(kind=Reward.Kind.GIFT, name="定制马克杯", description="好看。", price=1, stock=5)
    community_services.notify(member=member, kind="welcome", context={"name": member.display_name}, url="/")
    return member


PORTAL_PAGES = [
    "/",
    "/notifications/",
    "/settings/notifications/",
    "/settings/profile/",
    "/settings/api-tokens/",
    "/rewards/points/",
    "/rewards/levels/",
    "/rewards/badges/",
    "/rewards/badges/mine/",
    "/rewards/badges/community-star/",
    "/rewards/leaderboards/",
    "/rewards/shop/",
    "/rewards/shop/redemptions/",
    "feedback:list",
    "engage:hub",
]


@pytest.mark.parametrize("path", PORTAL_PAGES)
def test_portal_page_in_chinese_shows_no_english_ui_text(client, zh_member, english_ui_strings, path):
    if not path.startswith("/"):
        path = reverse(path)  # the other capabilities' front pages, by the names the navigation links to
    response = client.get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    texts = visible_texts(html)
    left_in_english = sorted({text for text in texts if _normalised(text) in english_ui_strings or text in NAV_LABELS})
    assert not left_in_english, f"{path} still shows English UI text: {left_in_english}"
    assert CJK.search(" ".join(texts)), f"{path} shows no Chinese text"
    for label in NAV_LABELS:
        with translation.override("zh-hans"):
            assert translation.gettext(label) in texts, f"{path}: the nav label {label!r} is not shown in Chinese"


def test_portal_shows_chinese_notification_and_level_names(client, zh_member):
    page = client.get("/").content.decode()
    points = client.get("/rewards/points/").content.decode()

    with translation.override("zh-hans"):
        welcome = translation.gettext("Welcome, %(name)s!") % {"name": "李雷"}
    assert CJK.search(welcome)
    assert welcome in page  # the welcome notification was written in the member's language
    assert "签到" in points and "积分" in points


def test_english_reader_still_gets_english(client, db, english_ui_strings):
    member = MemberFactory(display_name="Lin", locale="en")
    client.force_login(member.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    texts = visible_texts(client.get("/rewards/points/").content.decode())

    assert "My points" in texts and "Points" in texts
    # The detector the Chinese pages are checked with does see English UI text when it is there.
    assert {"My points", "Points to spend"} <= {_normalised(text) for text in texts} & english_ui_strings


# --- makemessages never guesses ---------------------------------------------------------------------------------


def test_makemessages_is_the_projects_exact_match_only_command():
    from django.core.management import get_commands

    from community.management.commands.makemessages import Command

    assert get_commands()["makemessages"] == "community"
    assert "--no-fuzzy-matching" in Command.msgmerge_options


def test_unfuzz_empties_guessed_translations_and_keeps_the_header():
    from community.management.commands.makemessages import unfuzz

    text = (
        '#, fuzzy\nmsgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, fuzzy, python-format\n#| msgid "Old %(n)s"\nmsgid "New %(n)s"\nmsgid_plural "News %(n)s"\n'
        'msgstr[0] "旧的 %(n)s"\n\n'
        '#, fuzzy\nmsgid ""\n"Two\\n"\n"lines"\nmsgstr ""\n"猜的\\n"\n"翻译"\n\n'
        'msgid "Kept"\nmsgstr "保留"\n'
    )

    assert unfuzz(text) == (
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-format\nmsgid "New %(n)s"\nmsgid_plural "News %(n)s"\nmsgstr[0] ""\n\n'
        'msgid ""\n"Two\\n"\n"lines"\nmsgstr ""\n\n'
        'msgid "Kept"\nmsgstr "保留"\n'
    )
