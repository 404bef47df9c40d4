"""The calibration curve as an inline SVG: coverage, covered accuracy and cost by threshold.

Written by hand so that the plot needs no plotting library; the file opens in any browser.

Example:
    >>> from compound.strategy.calibration import calibrate_threshold
    >>> found = calibrate_threshold([0.9, 0.8, 0.3], [True, True, False], covered_accuracy=1.0)
    >>> svg = calibration_svg(found)
    >>> svg.startswith("<svg") and "coverage" in svg
    True
"""

from __future__ import annotations

from html import escape

from compound.strategy.calibration import Calibration, ThresholdPoint

WIDTH, HEIGHT = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 52, 64, 34, 44
COVERAGE, ACCURACY, COST, CHOSEN = "#2f6fde", "#1f9d55", "#d97706", "#d64545"
INK, MUTED, GRID = "#1f2933", "#7b8794", "#e4e7eb"


def _x(threshold: float) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * threshold


def _y(value: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - value)


def _line(points: list[tuple[float, float]], colour: str) -> str:
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}"
                    for i, (x, y) in enumerate(points))
    return f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'


Series = list[tuple[float, float]]


def _series(points: tuple[ThresholdPoint, ...], max_cost: float) -> dict[str, Series]:
    coverage = [(_x(p.threshold), _y(p.coverage)) for p in points]
    accuracy = [(_x(p.threshold), _y(p.covered_accuracy)) for p in points
                if p.covered_accuracy is not None]
    cost = [(_x(p.threshold), _y(p.cost_per_1k_usd / max_cost if max_cost else 0.0))
            for p in points]
    return {"coverage": coverage, "covered accuracy": accuracy, "$ per 1k": cost}


def calibration_svg(calibration: Calibration, *, title: str | None = None) -> str:
    """An SVG chart of ``calibration``: threshold on x, shares on the left axis, dollars per
    1,000 requests on the right axis, the chosen threshold marked."""
    points = calibration.points
    max_cost = max((p.cost_per_1k_usd for p in points), default=0.0)
    heading = title or f"threshold calibration: {calibration.target}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(heading)}" '
        'font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="600" fill="{INK}">'
        f"{escape(heading)}</text>",
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y, x = _y(tick), _x(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="{MUTED}">{tick:.0%}</text>')
        parts.append(f'<text x="{WIDTH - RIGHT + 6}" y="{y + 4:.1f}" font-size="10" '
                     f'fill="{COST}">${tick * max_cost:.3g}</text>')
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="10" '
                     f'text-anchor="middle" fill="{MUTED}">{tick:g}</text>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" font-size="11" '
                 f'text-anchor="middle" fill="{INK}">confidence threshold</text>')
    colours = {"coverage": COVERAGE, "covered accuracy": ACCURACY, "$ per 1k": COST}
    for index, (name, series) in enumerate(_series(points, max_cost).items()):
        if len(series) > 1:
            parts.append(_line(series, colours[name]))
        x = LEFT + 8 + index * 140
        parts.append(f'<rect x="{x}" y="{TOP - 8}" width="10" height="3" '
                     f'fill="{colours[name]}"/>')
        parts.append(f'<text x="{x + 14}" y="{TOP - 4}" font-size="10" fill="{INK}">'
                     f"{name}</text>")
    chosen = calibration.chosen
    if chosen is not None:
        x = _x(chosen.threshold)
        label = (f"t={chosen.threshold:.3f}: {chosen.coverage:.1%} covered at "
                 f"{(chosen.covered_accuracy or 0):.2%}")
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" '
                     f'stroke="{CHOSEN}" stroke-dasharray="4 3"/>')
        anchor = "end" if chosen.threshold > 0.6 else "start"
        offset = -4 if anchor == "end" else 4
        parts.append(f'<text x="{x + offset:.1f}" y="{_y(0.08):.1f}" font-size="10" '
                     f'text-anchor="{anchor}" fill="{CHOSEN}">{escape(label)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
