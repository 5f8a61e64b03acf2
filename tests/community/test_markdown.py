from html.parser import HTMLParser

import pytest

from community.markdown import ALLOWED_TAGS, render_markdown


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def parsed(html: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    collector = _Collector()
    collector.feed(html)
    return collector.tags


PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example"></iframe>',
    '![x](x" onerror="alert(1))',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<form action="https://evil.example"><input name=q></form>',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_renders_payloads_inert(payload):
    for tag, attrs in parsed(render_markdown(payload)):
        assert tag in ALLOWED_TAGS
        for name, value in attrs:
            assert not name.startswith("on")
            assert name != "style"
            assert not (value or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))


def test_markdown_keeps_formatting_and_marks_links_nofollow():
    html = render_markdown("**bold** and [docs](https://example.com)\n\n- one\n- two")
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.com"' in html
    assert "nofollow" in html
    assert "<li>one</li>" in html
