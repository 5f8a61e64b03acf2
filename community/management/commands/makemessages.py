"""`makemessages` that never guesses a translation.

Django's makemessages merges new msgids into the catalogue with msgmerge's fuzzy matching: a new string gets the
translation of a similar old one, flagged fuzzy. With translations written in partial catalogues
(locale/<lang>/partials/*.po, merged by `make messages`) such a guess is always wrong, gettext ignores it at run time
anyway, and it hides the string from the list of untranslated ones. So: exact matches only, and any fuzzy entry left
in a catalogue is emptied (it shows up as untranslated again). A fuzzy header only loses its flag.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from django.core.management.commands import makemessages

_FLAGS = re.compile(r"^#,(.*)$")
_MSGSTR = re.compile(r"^(msgstr(?:\[\d+\])?) ")


def _without_fuzzy(flags_line: str) -> str | None:
    flags = [flag.strip() for flag in _FLAGS.match(flags_line).group(1).split(",")]
    kept = [flag for flag in flags if flag and flag != "fuzzy"]
    return f"#, {', '.join(kept)}" if kept else None


def unfuzz(text: str) -> str:
    """The catalogue text with every fuzzy entry emptied (and unflagged); the header keeps its text."""
    blocks = text.split("\n\n")
    for index, block in enumerate(blocks):
        lines = block.split("\n")
        if not any(_FLAGS.match(line) and "fuzzy" in line for line in lines):
            continue
        # The header is the entry whose msgid is empty: `msgid ""` followed directly by its msgstr.
        is_header = any(
            line == 'msgid ""' and following.startswith("msgstr") for line, following in itertools.pairwise(lines)
        ) and not any(line.startswith("msgctxt ") for line in lines)
        kept: list[str] = []
        in_msgstr = False
        for line in lines:
            if _FLAGS.match(line):
                replacement = _without_fuzzy(line)
                if replacement:
                    kept.append(replacement)
                continue
            if is_header:
                kept.append(line)
                continue
            if line.startswith("#|"):  # the previous msgid the guess came from
                continue
            if match := _MSGSTR.match(line):
                kept.append(f'{match.group(1)} ""')
                in_msgstr = True
                continue
            if in_msgstr and line.startswith('"'):
                continue
            in_msgstr = False
            kept.append(line)
        blocks[index] = "\n".join(kept)
    return "\n\n".join(blocks)


class Command(makemessages.Command):
    msgmerge_options = [*makemessages.Command.msgmerge_options, "--no-fuzzy-matching"]

    def write_po_file(self, potfile: str, locale: str) -> None:
        super().write_po_file(potfile, locale)
        pofile = Path(potfile).parent / locale / "LC_MESSAGES" / f"{self.domain}.po"
        text = pofile.read_text(encoding="utf-8")
        cleaned = unfuzz(text)
        if cleaned != text:
            pofile.write_text(cleaned, encoding="utf-8")
