"""Small inline SVG charts for the HTML report: bars with intervals, and a trend line.

Inline SVG keeps the report one file that opens offline, with no plotting dependency.

Example:
    >>> svg = bar_chart([("run 1", 0.6, 0.5, 0.7, False), ("run 2", 0.4, 0.3, 0.5, True)],
    ...                 title="token_f1")
    >>> svg.startswith("<svg") and "token_f1" in svg
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

Bar = tuple[str, float | None, float | None, float | None, bool]
Point = tuple[str, float | None, float | None, float | None]

WIDTH, HEIGHT = 320, 190
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 34, 40
INK, MUTED, ACCENT, BAD = "#1f2933", "#9aa5b1", "#2f6fde", "#d64545"


def _scale(values: Sequence[float | None], unit: bool) -> tuple[float, float]:
    present = [v for v in values if v is not None]
    if not present:
        return 0.0, 1.0
    low, high = min(present), max(present)
    if unit and low >= 0.0 and high <= 1.0:
        return 0.0, 1.0
    low = min(low, 0.0)
    if high == low:
        high = low + 1.0
    return low, high + (high - low) * 0.05


def _y(value: float, low: float, high: float) -> float:
    inner = HEIGHT - TOP - BOTTOM
    return TOP + inner * (1 - (value - low) / (high - low))


def _frame(title: str, low: float, high: float) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{LEFT}" y="16" font-size="13" font-weight="600" fill="{INK}">'
        f"{escape(title)}</text>",
    ]
    for value in (low, (low + high) / 2, high):
        y = _y(value, low, high)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e4e7eb"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="{MUTED}">{_short(value)}</text>')
    return parts


def _short(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3g}"


def bar_chart(bars: Sequence[Bar], *, title: str, unit: bool = True) -> str:
    """Vertical bars (label, value, low, high, highlighted) with interval whiskers; ``unit``
    draws rates on a fixed 0..1 axis, otherwise the axis fits the values."""
    low, high = _scale([v for b in bars for v in b[1:4]], unit)
    parts = _frame(title, low, high)
    inner = WIDTH - LEFT - RIGHT
    slot = inner / max(len(bars), 1)
    for i, (label, value, lo, hi, highlight) in enumerate(bars):
        x = LEFT + i * slot + slot * 0.2
        width = slot * 0.6
        if value is not None:
            y = _y(value, low, high)
            base = _y(max(low, 0.0), low, high)
            colour = ACCENT if highlight else MUTED
            parts.append(f'<rect x="{x:.1f}" y="{min(y, base):.1f}" width="{width:.1f}" '
                         f'height="{abs(base - y):.1f}" fill="{colour}"><title>'
                         f"{escape(label)}: {value:.4g}</title></rect>")
            top = min(y, base, _y(hi, low, high) if hi is not None else y)
            parts.append(f'<text x="{x + width / 2:.1f}" y="{top - 4:.1f}" '
                         f'font-size="10" text-anchor="middle" fill="{INK}">{value:.3g}</text>')
        if lo is not None and hi is not None:
            cx = x + width / 2
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{_y(lo, low, high):.1f}" '
                         f'y2="{_y(hi, low, high):.1f}" stroke="{INK}" stroke-width="1.2"/>')
        parts.append(f'<text x="{x + width / 2:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="9" '
                     f'text-anchor="middle" fill="{INK}">{escape(label[-14:])}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    points: Sequence[Point], *, title: str, bad: Sequence[bool] = (), unit: bool = True
) -> str:
    """A trend (label, value, low, high) over runs with its interval band; ``bad`` marks points
    in red (runs that failed their gate); ``unit`` as for :func:`bar_chart`."""
    low, high = _scale([v for p in points for v in p[1:4]], unit)
    parts = _frame(title, low, high)
    inner = WIDTH - LEFT - RIGHT
    step = inner / max(len(points) - 1, 1)
    xs = [LEFT + i * step if len(points) > 1 else LEFT + inner / 2 for i in range(len(points))]
    band_top = [(x, _y(p[3], low, high)) for x, p in zip(xs, points, strict=True)
                if p[3] is not None]
    band_bottom = [(x, _y(p[2], low, high)) for x, p in zip(xs, points, strict=True)
                   if p[2] is not None]
    if len(band_top) > 1 and len(band_bottom) == len(band_top):
        outline = band_top + band_bottom[::-1]
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
        parts.append(f'<polygon points="{coords}" fill="{ACCENT}" fill-opacity="0.12"/>')
    line = [(x, _y(p[1], low, high)) for x, p in zip(xs, points, strict=True) if p[1] is not None]
    if len(line) > 1:
        coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
        parts.append(f'<polyline points="{coords}" fill="none" stroke="{ACCENT}" '
                     f'stroke-width="2"/>')
    for i, (x, point) in enumerate(zip(xs, points, strict=True)):
        label, value = point[0], point[1]
        if value is not None:
            colour = BAD if i < len(bad) and bad[i] else ACCENT
            parts.append(f'<circle cx="{x:.1f}" cy="{_y(value, low, high):.1f}" r="3.5" '
                         f'fill="{colour}"><title>{escape(label)}: {value:.4g}</title></circle>')
    if points:
        for x, anchor, label in ((xs[0], "start", points[0][0]),
                                 (xs[-1], "end", points[-1][0])):
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" font-size="9" '
                         f'text-anchor="{anchor}" fill="{INK}">{escape(label[-18:])}</text>')
    parts.append("</svg>")
    return "".join(parts)
