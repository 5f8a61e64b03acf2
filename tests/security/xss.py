"""The XSS corpus and the check that a page rendered it inert."""

from __future__ import annotations

from html.parser import HTMLParser

# Short enough for most CharFields; each one would run script if a page let it through unescaped.
PAYLOADS = (
    "<script>alert('xss')</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
    "'><body onload=alert(1)>",
    "<a href='javascript:alert(1)'>x</a>",
    "[x](javascript:alert(1))",
    "<iframe src=//evil.example>",
    '![x](x" onerror="alert(1))',
    "<details open ontoggle=alert(1)>",
    "javascript:alert(1)",
)
MARKER = "alert("


class ActiveContent(HTMLParser):
    """Everything on a page that could run script: inline scripts, event handlers, javascript: URLs, frames."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self._in_script = "src" not in values
            src = values.get("src") or ""
            if src.startswith(("//", "http:", "https:", "data:", "javascript:")):
                self.found.append(f"<script src={src!r}>")
        if tag in {"iframe", "object", "embed", "frame", "base"}:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES and (value or "").strip().lower().replace("\x00", "").startswith(
                ("javascript:", "vbscript:", "data:text/html")
            ):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and MARKER in data:
            self.found.append(f"inline script: {data[:80]!r}")


def active_content(html: str) -> list[str]:
    parser = ActiveContent()
    parser.feed(html)
    return parser.found
