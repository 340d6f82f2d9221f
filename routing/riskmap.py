"""The isolation risk map: per-town indicators, a weighted score, and the map as GeoJSON and CSV.

The outreach team asks where to knock first. Each town gets eight indicators: four from the
city's statistics (``import_stats``: share aged 65+, single-person elderly households,
care-need certifications, past lone deaths) and four of tsunagu's own signals over a window
(worry reports, partner reports, sensor alerts, missing-person alerts), every count per 1,000
residents aged 65+. Each indicator is min-max normalised over the towns, and the score is
their weighted mean on 0–100 (weights in ``settings.risk_map_weights``, the reasons for the
defaults in docs/network.md). ``compute_risk`` stores a computation — time, window, weights,
threshold — with each town's score, rank and indicators; housekeeping recomputes it on a
schedule (``recompute_if_due``).

No personal data: towns only, and small counts are suppressed (k-anonymity,
``settings.risk_map_k_anonymity``): a count from 1 to k-1 is stored and shown as ``"<k"``,
its rate is withheld, and it enters the score as k/2 — the score tells no more than ``"<k"``
does. The SVG map is drawn by the console's map drawer, handed to the command by the CLI.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from bot.models import Alert, Case, CaseKind, Town
from bot.models.community import RiskComputation, TownRiskScore, TownStats
from bot.settings import settings

__all__ = [
    "INDICATORS",
    "STATS_COLUMNS",
    "Indicator",
    "RankedTown",
    "StatsError",
    "compute_risk",
    "import_stats",
    "MAP_VALUE_LABEL",
    "latest_computation",
    "map_title",
    "map_values",
    "ranked_towns",
    "ranking_csv",
    "ranking_header",
    "ranking_rows",
    "recompute_if_due",
    "risk_geojson",
    "signal_counts",
    "validate_weights",
]

STATS_COLUMNS = ("town_id", "population", "aged_65_plus", "single_elderly_households",
                 "care_certifications", "lone_deaths")
"""The columns a statistics CSV must have (others, such as the town's name, are ignored)."""

PER_ELDERLY = 1000


@dataclass(frozen=True)
class Indicator:
    """One indicator: where its count comes from, how it is shown."""

    name: str
    label_ja: str
    label_en: str
    # "stats": a column of town_stats; "signal": counted in tsunagu's own rows over the window.
    source: str
    unit: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator("aged_share", "高齢化率", "aged 65+", "stats", "%"),
    Indicator("single_elderly", "高齢単身世帯", "single-person elderly households", "stats", "per 1,000 aged 65+"),
    Indicator("care_need", "要介護認定", "care-need certifications", "stats", "per 1,000 aged 65+"),
    Indicator("lone_deaths", "孤立死", "past lone deaths", "stats", "per 1,000 aged 65+"),
    Indicator("worry_reports", "心配の通報", "worry reports", "signal", "per 1,000 aged 65+"),
    Indicator("partner_reports", "協定事業者の通報", "partner reports", "signal", "per 1,000 aged 65+"),
    Indicator("sensor_alerts", "センサーの通知", "sensor alerts", "signal", "per 1,000 aged 65+"),
    Indicator("missing_alerts", "行方不明の配信", "missing-person alerts", "signal", "per 1,000 aged 65+"),
)
_BY_NAME = {indicator.name: indicator for indicator in INDICATORS}
# The statistics column each statistics indicator counts.
_STATS_COUNT = {"aged_share": "aged_65_plus", "single_elderly": "single_elderly_households",
                "care_need": "care_certifications", "lone_deaths": "lone_deaths"}


class StatsError(ValueError):
    """A statistics CSV that cannot be imported, naming the row (CSV line) and column."""

    def __init__(self, row: int | None, column: str | None, problem: str) -> None:
        self.row, self.column, self.problem = row, column, problem
        where = ", ".join(part for part in (f"line {row}" if row is not None else "",
                                            f"column '{column}'" if column else "") if part)
        super().__init__(f"{where}: {problem}" if where else problem)


# --------------------------------------------------------------------------- statistics


def import_stats(session: Session, path: Path, now: datetime) -> int:
    """Replace the town statistics with the rows of the CSV at ``path``, all or nothing.

    Every row is checked before anything is written: a known town, each once, whole
    non-negative numbers, and counts that fit inside each other (aged 65+ within the
    population; single elderly households, care certifications and lone deaths within the
    aged 65+). The caller commits; on an error nothing has changed.

    Returns:
        How many towns were imported.

    Raises:
        StatsError: naming the line and column of the first problem.
    """
    known = set(session.scalars(select(Town.town_id)))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise StatsError(None, None, f"cannot read {path}: {error}") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [column for column in STATS_COLUMNS if column not in (reader.fieldnames or ())]
    if missing:
        raise StatsError(1, missing[0], f"missing column (needed: {', '.join(STATS_COLUMNS)})")
    rows: list[TownStats] = []
    seen: set[str] = set()
    for row in reader:
        line = reader.line_num
        town_id = (row["town_id"] or "").strip()
        if town_id not in known:
            raise StatsError(line, "town_id", f"unknown town id {town_id!r} (not in the directory's towns)")
        if town_id in seen:
            raise StatsError(line, "town_id", f"town {town_id} appears twice")
        seen.add(town_id)
        numbers = {column: _count(row, column, line) for column in STATS_COLUMNS[1:]}
        if numbers["aged_65_plus"] > numbers["population"]:
            raise StatsError(line, "aged_65_plus", "more residents aged 65+ than the population")
        for column in ("single_elderly_households", "care_certifications", "lone_deaths"):
            if numbers[column] > numbers["aged_65_plus"]:
                raise StatsError(line, column, "more than the residents aged 65+")
        rows.append(TownStats(town_id=town_id, imported_at=now, **numbers))
    if not rows:
        raise StatsError(None, None, f"{path} has no rows")
    session.execute(delete(TownStats))
    session.add_all(rows)
    session.flush()
    return len(rows)


def _count(row: Mapping[str, str | None], column: str, line: int) -> int:
    raw = (row.get(column) or "").strip().replace(",", "")
    if not raw:
        raise StatsError(line, column, "empty")
    try:
        number = int(raw)
    except ValueError:
        raise StatsError(line, column, f"not a whole number: {raw!r}") from None
    if number < 0:
        raise StatsError(line, column, f"negative: {number}")
    return number


# --------------------------------------------------------------------------- the score


def validate_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """The weights for every indicator (a missing name weighs 0), refusing unknown names,
    negative weights and all zeros."""
    unknown = sorted(set(weights) - set(_BY_NAME))
    if unknown:
        raise ValueError(f"unknown risk map indicator(s) {', '.join(unknown)}; known: {', '.join(_BY_NAME)}")
    result = {indicator.name: float(weights.get(indicator.name, 0.0)) for indicator in INDICATORS}
    negative = [name for name, weight in result.items() if weight < 0]
    if negative:
        raise ValueError(f"negative risk map weight for {', '.join(negative)}")
    if not any(result.values()):
        raise ValueError("every risk map weight is 0")
    return result


def signal_counts(session: Session, since: datetime, until: datetime) -> dict[str, Counter[str]]:
    """tsunagu's own signals per town in [since, until): one count per case, never its content.

    A worry report is a worry case that no partner or sensor made (repeat reports about one
    household are linked into one case, so a household counts once); partner reports and
    sensor alerts are cases by their ``details["source"]``; a missing-person alert counts
    once it was approved (sent).
    """
    counts: dict[str, Counter[str]] = {name: Counter() for name in
                                       ("worry_reports", "partner_reports", "sensor_alerts", "missing_alerts")}
    source = Case.details["source"].as_string()
    cases = session.execute(
        select(Case.town_id, Case.kind, source, func.count())
        .where(Case.town_id.is_not(None), Case.created_at >= since, Case.created_at < until)
        .group_by(Case.town_id, Case.kind, source)
    )
    for town_id, kind, origin, number in cases:
        if origin == "partner":
            counts["partner_reports"][town_id] += number
        elif origin == "sensor":
            counts["sensor_alerts"][town_id] += number
        elif kind == CaseKind.worry:
            counts["worry_reports"][town_id] += number
    alerts = session.execute(
        select(Alert.town_id, func.count())
        .where(Alert.town_id.is_not(None), Alert.approved_at.is_not(None),
               Alert.created_at >= since, Alert.created_at < until)
        .group_by(Alert.town_id)
    )
    for town_id, number in alerts:
        counts["missing_alerts"][town_id] += number
    return counts


def compute_risk(
    session: Session,
    now: datetime,
    *,
    weights: Mapping[str, float] | None = None,
    k: int | None = None,
    window_days: int | None = None,
) -> RiskComputation:
    """Score every town with statistics and store the computation (the caller commits).

    Args:
        session: the caller's session.
        now: the computation's time; the signals' window ends here.
        weights, k, window_days: default to the settings' ``risk_map_*``.

    Raises:
        ValueError: no statistics imported yet, or weights refused by :func:`validate_weights`.
    """
    weights = validate_weights(settings.risk_map_weights if weights is None else weights)
    k = settings.risk_map_k_anonymity if k is None else k
    window_days = settings.risk_map_window_days if window_days is None else window_days
    stats = list(session.scalars(select(TownStats)))
    if not stats:
        raise ValueError("no town statistics: import them first (tsunagu risk-map import-stats FILE)")
    signals = signal_counts(session, now - timedelta(days=window_days), now)

    scored: dict[str, dict[str, float]] = {}
    shown: dict[str, dict[str, Any]] = {}
    for row in stats:
        shown[row.town_id] = {"population": _suppressed(row.population, k)}
        # Rates per 1,000 aged 65+ of a handful of elders would single them out.
        if row.aged_65_plus < k:
            continue
        counts = {name: getattr(row, column) for name, column in _STATS_COUNT.items()}
        counts |= {name: per_town[row.town_id] for name, per_town in signals.items()}
        values: dict[str, float] = {}
        for indicator in INDICATORS:
            count = counts[indicator.name]
            # A suppressed count enters the score as the middle of 1..k-1, whatever it is.
            used = k / 2 if 0 < count < k else count
            if indicator.name == "aged_share":
                values[indicator.name] = 100 * used / row.population if row.population else 0.0
            else:
                values[indicator.name] = PER_ELDERLY * used / row.aged_65_plus
            hidden = 0 < count < k
            shown[row.town_id][indicator.name] = {
                "count": f"<{k}" if hidden else count,
                "value": None if hidden else round(values[indicator.name], 1),
            }
        scored[row.town_id] = values

    scores = _weighted_scores(scored, weights)
    ranks = _ranks(scores)
    stats_time = max(row.imported_at for row in stats)
    computation = RiskComputation(computed_at=now, window_days=window_days, weights=weights,
                                  k_threshold=k, stats_imported_at=stats_time)
    for town_id, indicators in shown.items():
        if town_id not in scores:
            continue
        computation.scores.append(TownRiskScore(town_id=town_id, score=scores[town_id], rank=ranks[town_id],
                                                indicators=indicators))
    session.add(computation)
    session.flush()
    return computation


def _suppressed(count: int, k: int) -> int | str:
    return f"<{k}" if 0 < count < k else count


def _weighted_scores(values: Mapping[str, Mapping[str, float]], weights: Mapping[str, float]) -> dict[str, float]:
    """Each indicator min-max normalised over the towns (all equal: 0), then the weighted mean, 0–100."""
    if not values:
        return {}
    total = sum(weights.values())
    normalised: dict[str, float] = {town_id: 0.0 for town_id in values}
    for indicator in INDICATORS:
        column = {town_id: row[indicator.name] for town_id, row in values.items()}
        low, high = min(column.values()), max(column.values())
        if high == low:
            continue
        for town_id, value in column.items():
            normalised[town_id] += weights[indicator.name] * (value - low) / (high - low)
    return {town_id: round(100 * value / total, 1) for town_id, value in normalised.items()}


def _ranks(scores: Mapping[str, float]) -> dict[str, int]:
    """Rank 1 is the highest score; equal scores share a rank (1, 2, 2, 4)."""
    ordered = sorted(scores.values(), reverse=True)
    return {town_id: ordered.index(score) + 1 for town_id, score in scores.items()}


def latest_computation(session: Session) -> RiskComputation | None:
    """The newest stored computation, if any."""
    return session.scalars(
        select(RiskComputation).order_by(RiskComputation.computed_at.desc(), RiskComputation.id.desc()).limit(1)
    ).first()


def recompute_if_due(session: Session, now: datetime, every: timedelta | None = None) -> bool:
    """Compute the scores again when the last computation is ``every`` old (default
    ``settings.risk_map_recompute_days``) or older than the statistics; nothing without statistics.

    Returns:
        Whether it computed.
    """
    every = timedelta(days=settings.risk_map_recompute_days) if every is None else every
    newest_stats = session.scalar(select(func.max(TownStats.imported_at)))
    if newest_stats is None:
        return False
    last = latest_computation(session)
    if last is not None and now - last.computed_at < every and last.stats_imported_at >= newest_stats:
        return False
    compute_risk(session, now)
    return True


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class RankedTown:
    """One town of the map: its names, polygon, and score (None: no statistics, or too few elders)."""

    town_id: str
    ward: str
    town: str
    geometry: dict[str, Any] | None
    score: float | None
    rank: int | None
    indicators: dict[str, Any]


def ranked_towns(session: Session, computation: RiskComputation) -> list[RankedTown]:
    """Every town of the directory, ranked first by rank, then the unscored in the city's order."""
    by_town = {row.town_id: row for row in computation.scores}
    towns = session.scalars(select(Town).order_by(Town.position, Town.town_id))
    result = []
    for town in towns:
        row = by_town.get(town.town_id)
        result.append(RankedTown(town.town_id, town.ward, town.town, town.geometry,
                                 row.score if row else None, row.rank if row else None,
                                 dict(row.indicators) if row else {}))
    unscored = len(result) + 1
    return sorted(result, key=lambda town: town.rank or unscored)


def risk_geojson(computation: RiskComputation, towns: Sequence[RankedTown]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (RFC 7946): each town's polygon with its score, rank and
    indicators; the computation's time, window, weights and threshold as foreign members."""
    features = [
        {
            "type": "Feature",
            "id": town.town_id,
            "geometry": town.geometry,
            "properties": {"town_id": town.town_id, "ward": town.ward, "town": town.town,
                           "score": town.score, "rank": town.rank, "indicators": town.indicators},
        }
        for town in towns
    ]
    return {
        "type": "FeatureCollection",
        "computed_at": computation.computed_at.isoformat(),
        "window_days": computation.window_days,
        "weights": computation.weights,
        "k_anonymity": computation.k_threshold,
        "features": features,
    }


MAP_VALUE_LABEL = "相対リスク (0–100)"


def map_title(computation: RiskComputation) -> str:
    """The map's title, with the day it was computed (in the city's zone)."""
    day = computation.computed_at.astimezone(settings.tz).strftime("%Y-%m-%d")
    return f"孤立リスク（町別） / Isolation risk by town, {day}"


def map_values(towns: Iterable[RankedTown]) -> dict[str, float]:
    """The score per scored town, for the choropleth (a town left out is drawn as no value)."""
    return {town.town_id: town.score for town in towns if town.score is not None}


def ranking_header() -> list[str]:
    """The CSV columns: the town, its score and rank, then each indicator's count and rate."""
    columns = ["rank", "town_id", "ward", "town", "score", "population"]
    for indicator in INDICATORS:
        columns += [f"{indicator.name}_count", f"{indicator.name}_value"]
    return columns


def ranking_rows(towns: Iterable[RankedTown]) -> list[list[Any]]:
    """One row per town, in :func:`ranking_header`'s order; a suppressed count is ``<k``, its rate empty."""
    rows = []
    for town in towns:
        shown = town.indicators
        row: list[Any] = [town.rank or "", town.town_id, town.ward, town.town,
                          "" if town.score is None else town.score,
                          shown.get("population", "")]
        for indicator in INDICATORS:
            value = shown.get(indicator.name) or {}
            row += [value.get("count", ""), "" if value.get("value") is None else value["value"]]
        rows.append(row)
    return rows


def ranking_csv(towns: Iterable[RankedTown]) -> str:
    """The ranked table as CSV (UTF-8 text, a header line first)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ranking_header())
    writer.writerows([_cell(value) for value in row] for row in ranking_rows(towns))
    return buffer.getvalue()


def _cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: a leading = + - @ would run as a formula ("<5" is safe)."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@", "\t", "\r"}:
        return f"'{value}"
    return value
