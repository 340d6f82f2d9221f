"""The dashboard's charts: SVG drawn on the server by pygal, with nothing for the browser to fetch.

pygal would add a ``<script>`` that loads its tooltip code from a CDN; ``js=[]`` leaves it out, and
the values are printed on the chart instead of in tooltips. The inline script pygal writes anyway
(its configuration, for those tooltips; a strict Content-Security-Policy would refuse it) and its
comments (which name its web site) are stripped, and each chart gets ``role="img"``, an ``aria-label`` and a ``<title>``, as
the town map has. Below each chart the page shows the same numbers as a table.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pygal
from markupsafe import Markup, escape
from pygal.style import Style

from bot.console.dashboard_figures import TARGET_HOURS, FirstContact, Table

__all__ = ["first_contact_weeks_chart", "hours_by_counter_chart", "topics_chart"]

# Dark enough on white for WCAG AA text contrast; the 24 h line in red.
_STYLE_OPTIONS: dict[str, object] = dict(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1a1a1a",
    foreground_strong="#1a1a1a",
    foreground_subtle="#5b6770",
    font_family='"Noto Sans CJK JP", "Noto Sans JP", sans-serif',
    title_font_size=18,
    label_font_size=13,
    major_label_font_size=13,
    legend_font_size=14,
    value_font_size=12,
    value_label_font_size=12,
    colors=("#2171b5", "#08306b", "#c62828"),
)
_STYLE = Style(**_STYLE_OPTIONS)
# Hours charts mark the target as their only major guide: a solid red line at 24 h.
_HOURS_STYLE = Style(**{**_STYLE_OPTIONS, "major_guide_stroke_color": "#c62828",
                        "major_guide_stroke_dasharray": "0"})
_STRIPPED = re.compile(r"<!--.*?-->|<script\b.*?</script>", re.DOTALL)
_SVG_OPEN = re.compile(r"<svg\b([^>]*)>")


def _config(**options: object) -> dict[str, object]:
    return {
        "js": [],
        "disable_xml_declaration": True,
        "style": _STYLE,
        "width": 800,
        "height": 400,
        "legend_at_bottom": True,
        "print_values": True,
        "print_values_position": "top",
        "truncate_label": -1,
        "allow_interruptions": True,
        "no_data_text": "データなし / no data",
        **options,
    }


def _finish(chart: pygal.graph.graph.Graph, title: str) -> Markup:
    """The chart's SVG, made accessible and stripped of anything that names a web address."""
    svg = _STRIPPED.sub("", chart.render(is_unicode=True))
    label = escape(title)
    svg = _SVG_OPEN.sub(lambda match: f'<svg{match.group(1)} role="img" aria-label="{label}"><title>{label}</title>',
                        svg, count=1)
    return Markup(svg)


def _label_room(labels: Sequence[str]) -> int:
    """Extra left margin for bar labels: pygal measures every character as narrow as a Latin
    one, and a Japanese label twice as wide would be cut off at the chart's edge."""
    wide = max((sum(1 for char in label if ord(char) > 0x2E80) for label in labels), default=0)
    return 7 * wide


def _hours(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def first_contact_weeks_chart(by_week: Sequence[FirstContact]) -> Markup:
    """Median and 90th percentile of the first-contact time per week, against the 24 h line."""
    title = f"初回接触までの時間（週別） / Hours to first contact by week — 目標 {TARGET_HOURS} 時間"
    chart = pygal.Line(**_config(title=title, y_title="時間 / hours", x_title="週 / week", min_scale=4,
                                 range=(0, max([TARGET_HOURS * 1.5] + [f.p90_hours or 0 for f in by_week]))))
    chart.x_labels = [figure.label for figure in by_week]
    chart.add("中央値 / median", [_hours(figure.median_hours) for figure in by_week])
    chart.add("90パーセンタイル / 90th percentile", [_hours(figure.p90_hours) for figure in by_week])
    chart.add(f"目標 {TARGET_HOURS} 時間 / {TARGET_HOURS} h target", [TARGET_HOURS] * len(by_week),
              stroke_style={"width": 3, "dasharray": "8, 6"}, show_dots=False, print_values=False)
    return _finish(chart, title)


def _hour_labels(top: float) -> list[int]:
    """Value-axis labels every 12 h up to past ``top`` (so 24 h is always one of them)."""
    return list(range(0, int(max(top, TARGET_HOURS * 1.5)) + 13, 12))


def hours_by_counter_chart(figures: Sequence[FirstContact]) -> Markup:
    """Median and 90th percentile per counter, against the 24 h line; the share within 24 h in the label."""
    title = "初回接触までの時間（窓口別） / Hours to first contact by counter"
    shown = list(reversed(figures))  # pygal draws the first bar at the bottom
    labels = [figure.label if figure.within_target is None else f"{figure.label}（{100 * figure.within_target:.0f}%）"
              for figure in shown]
    top = max([figure.p90_hours or 0 for figure in figures], default=0)
    chart = pygal.HorizontalBar(**_config(title=title, style=_HOURS_STYLE, y_labels=_hour_labels(top),
                                          y_labels_major=[TARGET_HOURS], show_minor_y_labels=True,
                                          height=max(260, 90 + 56 * len(figures)), margin_left=_label_room(labels)))
    chart.x_labels = labels
    chart.add("中央値 / median", [_hours(figure.median_hours) for figure in shown])
    chart.add("90パーセンタイル / 90th percentile", [_hours(figure.p90_hours) for figure in shown])
    return _finish(chart, title)


def topics_chart(topics: Table) -> Markup:
    """Cases per topic in the period (the ``topics`` table's label and count columns)."""
    title = "相談の分野別件数 / Cases by topic"
    label, cases = topics.columns.index("label"), topics.columns.index("cases")
    chart = pygal.HorizontalBar(**_config(title=title, show_legend=False,
                                          height=max(240, 60 + 34 * len(topics.rows)),
                                          margin_left=_label_room([row[label] for row in topics.rows])))
    rows = list(reversed(topics.rows))  # the largest on top
    chart.x_labels = [row[label] for row in rows]
    chart.add("件数 / cases", [row[cases] for row in rows])
    return _finish(chart, title)
