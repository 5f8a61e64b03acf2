"""Server-rendered SVG charts (no JavaScript, no CDN): a line chart for daily series and a bar chart for the funnel.

Every value is escaped by `format_html`; the SVG carries a <title> and the page shows the same data as a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 12, 28
COLOURS = ("#417690", "#e07b39", "#5b9e47", "#9d5bb5")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def line_chart(*, rows: Sequence[dict[str, Any]], lines: Sequence[tuple[str, str]], title: str) -> SafeString:
    """`rows` are dicts with a "day" and one number per key in `lines` ((key, label) pairs)."""
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    top = _nice_max(max([float(row[key] or 0) for row in rows for key, _label in lines] or [0]))
    count = max(1, len(rows) - 1)

    def x(index: int) -> float:
        return PAD_LEFT + plot_w * index / count

    def y(value: float) -> float:
        return PAD_TOP + plot_h * (1 - float(value or 0) / top)

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" class="grid"/><text x="{}" y="{}" class="axis" '
        'text-anchor="end">{}</text>',
        (
            (PAD_LEFT, WIDTH - PAD_RIGHT, f"{y(top * f):.1f}", f"{y(top * f):.1f}", PAD_LEFT - 4,
             f"{y(top * f) + 4:.1f}", f"{top * f:g}")
            for f in (0, 0.5, 1)
        ),
    )  # fmt: skip
    ticks = []
    if rows:
        for index in sorted({0, len(rows) // 2, len(rows) - 1}):
            ticks.append((f"{x(index):.1f}", HEIGHT - 8, rows[index]["day"].isoformat()))
    axis = format_html_join("", '<text x="{}" y="{}" class="axis" text-anchor="middle">{}</text>', ticks)
    paths = []
    legend = []
    for number, (key, label) in enumerate(lines):
        colour = COLOURS[number % len(COLOURS)]
        points = " ".join(f"{x(i):.1f},{y(row[key]):.1f}" for i, row in enumerate(rows))
        paths.append(format_html('<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>', colour, points))
        legend.append(
            format_html(
                '<rect x="{}" y="2" width="10" height="10" fill="{}"/><text x="{}" y="11" class="legend">{}</text>',
                PAD_LEFT + 10 + number * 150, colour, PAD_LEFT + 24 + number * 150, label,
            )
        )  # fmt: skip
    return format_html(
        '<svg class="hearth-chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}{}{}{}</svg>',
        WIDTH, HEIGHT, title, title, grid, axis, mark_safe("".join(paths)), mark_safe("".join(legend)),
    )  # fmt: skip


def bar_chart(*, bars: Sequence[tuple[str, float | None]], title: str) -> SafeString:
    """Horizontal bars (label, value); a missing value is drawn as an empty row marked "-"."""
    row_h = 28
    height = row_h * len(bars) + 8
    top = max([value or 0 for _label, value in bars] or [0]) or 1
    label_w, bar_w = 170, WIDTH - 170 - 70
    items = []
    for index, (label, value) in enumerate(bars):
        y = 4 + index * row_h
        width = bar_w * (value or 0) / top
        items.append(
            format_html(
                '<text x="{}" y="{}" class="axis" text-anchor="end">{}</text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>'
                '<text x="{}" y="{}" class="axis">{}</text>',
                label_w - 6, y + 17, label, label_w, y + 3, f"{width:.1f}", row_h - 8, COLOURS[0],
                label_w + width + 6, y + 17, "-" if value is None else f"{value:g}",
            )
        )  # fmt: skip
    return format_html(
        '<svg class="hearth-chart" viewBox="0 0 {} {}" role="img" aria-label="{}"><title>{}</title>{}</svg>',
        WIDTH, height, title, title, mark_safe("".join(items)),
    )  # fmt: skip
