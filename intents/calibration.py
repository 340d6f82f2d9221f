"""The reliability diagram of ``tsunagu eval --calibration PATH``: plain SVG, no plotting library.

One panel per confidence (the intent's; the safety model's urgency probability when
there is one). Each bin of :func:`intents.evaluate.reliability` is a bar as high as
the share of its predictions that came true, with the gap to the bin's mean
confidence shaded; the diagonal is perfect calibration; the number over each bar is
how many predictions fell in the bin, since a bar of three predictions says little.
The figure is written so it renders the same on GitHub and in a browser (no script,
no font to fetch), with a ``<title>`` and ``aria-label`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from intents.evaluate import Reliability

__all__ = ["reliability_svg"]

_PANEL_WIDTH, _PANEL_HEIGHT = 460, 470
_LEFT, _TOP, _PLOT = 70, 70, 330  # plot area: a square, so the diagonal is at 45°
_FONT = 'font-family="Noto Sans CJK JP, Noto Sans JP, sans-serif"'
_BAR, _GAP, _INK, _GRID = "#2171b5", "#e6550d", "#1a1a1a", "#d0d4d8"


def _panel(title: str, data: Reliability, x_offset: int) -> list[str]:
    def x(value: float) -> float:
        return x_offset + _LEFT + value * _PLOT

    def y(value: float) -> float:
        return _TOP + (1 - value) * _PLOT

    parts = [
        f'<text x="{x_offset + _LEFT}" y="28" font-size="16" font-weight="bold" fill="{_INK}" {_FONT}>'
        f"{escape(title)}</text>",
        f'<text x="{x_offset + _LEFT}" y="50" font-size="13" fill="{_INK}" {_FONT}>'
        f"ECE {data.ece:.3f} · {data.count} messages</text>",
    ]
    for tick in range(0, 11, 2):
        value = tick / 10
        parts.append(f'<line x1="{x(0)}" y1="{y(value)}" x2="{x(1)}" y2="{y(value)}" stroke="{_GRID}"/>')
        parts.append(f'<text x="{x(0) - 8}" y="{y(value) + 4}" font-size="11" text-anchor="end" fill="{_INK}" '
                     f"{_FONT}>{value:.1f}</text>")
        parts.append(f'<text x="{x(value)}" y="{y(0) + 16}" font-size="11" text-anchor="middle" fill="{_INK}" '
                     f"{_FONT}>{value:.1f}</text>")
    for item in data.bins:
        if not item.count:
            continue
        left, width = x(item.low) + 1, (item.high - item.low) * _PLOT - 2
        parts.append(f'<rect x="{left:.1f}" y="{y(item.accuracy):.1f}" width="{width:.1f}" '
                     f'height="{y(0) - y(item.accuracy):.1f}" fill="{_BAR}"/>')
        # The miscalibration of the bin: from the share right to the mean confidence.
        top, bottom = sorted((y(item.accuracy), y(item.confidence)))
        parts.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="{width:.1f}" height="{bottom - top:.1f}" '
                     f'fill="{_GAP}" fill-opacity="0.45"/>')
        parts.append(f'<text x="{x((item.low + item.high) / 2):.1f}" y="{min(top, bottom) - 4:.1f}" font-size="10" '
                     f'text-anchor="middle" fill="{_INK}" {_FONT}>{item.count}</text>')
    parts += [
        f'<line x1="{x(0)}" y1="{y(0)}" x2="{x(1)}" y2="{y(1)}" stroke="{_INK}" stroke-dasharray="5 4"/>',
        f'<rect x="{x(0)}" y="{y(1)}" width="{_PLOT}" height="{_PLOT}" fill="none" stroke="{_INK}"/>',
        f'<text x="{x(0.5)}" y="{y(0) + 36}" font-size="12" text-anchor="middle" fill="{_INK}" {_FONT}>'
        "predicted probability (bin)</text>",
        f'<text x="{x_offset + 22}" y="{y(0.5)}" font-size="12" text-anchor="middle" fill="{_INK}" {_FONT} '
        f'transform="rotate(-90 {x_offset + 22} {y(0.5)})">share that came true</text>',
    ]
    return parts


def reliability_svg(panels: Sequence[tuple[str, Reliability]], caption: str) -> str:
    """Draw reliability diagrams side by side.

    Args:
        panels: (title, data) per confidence, left to right.
        caption: what was scored (split, model); also the figure's accessible name.

    Returns:
        A standalone SVG document.
    """
    width = _PANEL_WIDTH * max(len(panels), 1)
    height = _PANEL_HEIGHT + 60
    summary = "; ".join(f"{title}: ECE {data.ece:.3f}" for title, data in panels)
    label = f"{caption}. {summary}" if summary else caption
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label={quoteattr(label)}>',
        f"<title>{escape(label)}</title>",
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    for index, (title, data) in enumerate(panels):
        parts += _panel(title, data, index * _PANEL_WIDTH)
    legend_y = _PANEL_HEIGHT + 5
    parts += [
        f'<rect x="{_LEFT}" y="{legend_y - 10}" width="12" height="12" fill="{_BAR}"/>',
        f'<text x="{_LEFT + 18}" y="{legend_y}" font-size="12" fill="{_INK}" {_FONT}>share that came true</text>',
        f'<rect x="{_LEFT + 170}" y="{legend_y - 10}" width="12" height="12" fill="{_GAP}" fill-opacity="0.45"/>',
        f'<text x="{_LEFT + 188}" y="{legend_y}" font-size="12" fill="{_INK}" {_FONT}>gap to mean confidence</text>',
        f'<line x1="{_LEFT}" y1="{legend_y + 16}" x2="{_LEFT + 12}" y2="{legend_y + 16}" stroke="{_INK}" '
        'stroke-dasharray="4 2"/>',
        f'<text x="{_LEFT + 18}" y="{legend_y + 20}" font-size="12" fill="{_INK}" {_FONT}>perfect calibration; '
        "numbers: messages per bin</text>",
        f'<text x="{_LEFT}" y="{legend_y + 44}" font-size="12" fill="#5b6770" {_FONT}>{escape(caption)}</text>',
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
