"""The managers' dashboard's figures: every query the page and its CSV exports show, in one module.

The city plan judges tsunagu by one number (the KGI, DESIGN.md): **the time from a worry
report to the first contact**, 48 h before tsunagu, target under 24 h. Which cases count:

- worry cases (``CaseKind.worry``: 見守り・安否の気づき, by residents, partners or sensors alike),
  created in the weeks shown (weeks run Monday to Sunday, Japan time);
- a contacted case counts with ``contacted_at − created_at`` (the first report, not a later
  repeat report linked to it);
- a case not contacted yet counts once it is older than 24 h, with the time it has waited so
  far: it is late whatever happens next, and leaving it out would flatter the figure;
- a case younger than 24 h and not contacted yet is *waiting*: not counted yet;
- a case closed without any contact (a duplicate, the person was already in care) is left out,
  and counted apart so that closing cases unanswered cannot quietly improve the figure.

From these: the median, the 90th percentile (linear between the two nearest cases) and the
share within 24 h, per week and per counter (the case's counter now, after any transfer).

Every table on the page is a :class:`Table`; the page (``bot.console.dashboard``) renders them
and ``/staff/dashboard/<name>.csv`` exports them, so the two cannot disagree.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.models import (
    Alert,
    AlertStatus,
    Case,
    CaseKind,
    CaseStatus,
    Delivery,
    DeliveryState,
    DeliveryTarget,
    OutboxItem,
    OutboxState,
    Sighting,
    TaxonomyTerm,
)
from bot.models.base import utcnow
from alerts.sensors import sensor_report
from routing.partners import report_counts
from routing.snapshot import Directory

__all__ = [
    "ACTIVE_STATUSES",
    "KGI_KIND",
    "TARGET_HOURS",
    "Dashboard",
    "FirstContact",
    "Table",
    "build_dashboard",
    "first_contact_by_counter",
    "first_contact_by_week",
    "open_cases_by_town",
    "percentile",
    "summarise",
    "week_start",
]

TOKYO = ZoneInfo("Asia/Tokyo")
KGI_KIND = CaseKind.worry
TARGET_HOURS = 24
# Cases someone still has to work on (a missing case that ended, found or cancelled, is not).
ACTIVE_STATUSES = (CaseStatus.new, CaseStatus.acknowledged, CaseStatus.contacted)
NO_COUNTER = "未割当 / not assigned"
NO_TOWN = "場所不明 / place unknown"


# --------------------------------------------------------------------------- first contact


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` quantile (0–1) of ``values``, linear between the two nearest; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def week_start(moment: datetime) -> datetime:
    """Monday 00:00 Japan time of the week ``moment`` falls in (aware, in Japan time)."""
    local = moment.astimezone(TOKYO)
    return datetime(local.year, local.month, local.day, tzinfo=TOKYO) - timedelta(days=local.weekday())


@dataclass(frozen=True)
class _Timing:
    """One worry case as the KGI sees it: its hours to first contact, or None while it waits."""

    case_id: int
    counter_id: str
    created_at: datetime
    hours: float | None  # None: younger than the target and not contacted yet, or closed without contact
    contacted: bool
    closed_uncontacted: bool


@dataclass(frozen=True)
class FirstContact:
    """The KGI over a group of worry cases (a week, a counter, or all)."""

    key: str
    label: str
    counted: int
    contacted: int
    late_waiting: int  # not contacted and already past 24 h (counted as late)
    waiting: int  # not contacted, younger than 24 h (not counted yet)
    median_hours: float | None
    p90_hours: float | None
    within_target: float | None  # share of counted cases contacted within 24 h, 0–1
    # Left out, but shown: closing a case without contact must not quietly improve the figure.
    closed_without_contact: int


def _timings(session: Session, since: datetime, now: datetime) -> list[_Timing]:
    rows = session.execute(
        select(Case.id, Case.counter_id, Case.created_at, Case.contacted_at, Case.closed_at)
        .where(Case.kind == KGI_KIND, Case.created_at >= since, Case.created_at <= now)
        .order_by(Case.created_at, Case.id)
    )
    target = timedelta(hours=TARGET_HOURS)
    timings = []
    for case_id, counter_id, created_at, contacted_at, closed_at in rows:
        if contacted_at is not None:
            hours: float | None = (contacted_at - created_at).total_seconds() / 3600
        elif closed_at is not None:
            hours = None  # closed without a contact: nobody had to call
        elif now - created_at > target:
            hours = (now - created_at).total_seconds() / 3600
        else:
            hours = None
        timings.append(_Timing(case_id, counter_id or "", created_at, hours, contacted_at is not None,
                               contacted_at is None and closed_at is not None))
    return timings


def summarise(key: str, label: str, timings: Iterable[_Timing]) -> FirstContact:
    """Median, 90th percentile and share within 24 h of some worry cases."""
    timings = list(timings)
    counted = [timing.hours for timing in timings if timing.hours is not None]
    within = sum(1 for timing in timings if timing.contacted and timing.hours is not None
                 and timing.hours <= TARGET_HOURS)
    return FirstContact(
        key=key,
        label=label,
        counted=len(counted),
        contacted=sum(1 for timing in timings if timing.contacted),
        late_waiting=sum(1 for timing in timings if not timing.contacted and timing.hours is not None),
        waiting=sum(1 for timing in timings if timing.hours is None and not timing.closed_uncontacted),
        median_hours=percentile(counted, 0.5),
        p90_hours=percentile(counted, 0.9),
        within_target=within / len(counted) if counted else None,
        closed_without_contact=sum(1 for timing in timings if timing.closed_uncontacted),
    )


def first_contact_by_week(session: Session, *, now: datetime, weeks: int) -> list[FirstContact]:
    """The KGI for each of the last ``weeks`` weeks (oldest first; a week without cases too)."""
    starts = [week_start(now) - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    grouped: dict[datetime, list[_Timing]] = defaultdict(list)
    for timing in _timings(session, starts[0], now):
        grouped[week_start(timing.created_at)].append(timing)
    return [summarise(start.date().isoformat(), f"{start:%m/%d}〜", grouped[start]) for start in starts]


def first_contact_by_counter(session: Session, directory: Directory, *, now: datetime,
                             weeks: int) -> list[FirstContact]:
    """The KGI per counter over the last ``weeks`` weeks, slowest (largest 90th percentile) first."""
    grouped: dict[str, list[_Timing]] = defaultdict(list)
    for timing in _timings(session, week_start(now) - timedelta(weeks=weeks - 1), now):
        grouped[timing.counter_id].append(timing)
    figures = [summarise(counter_id, _counter_name(directory, counter_id), timings)
               for counter_id, timings in grouped.items()]
    return sorted(figures, key=lambda figure: (-(figure.p90_hours or 0), figure.key))


def first_contact_overall(session: Session, *, now: datetime, weeks: int) -> FirstContact:
    """The KGI over the whole period shown."""
    return summarise("all", "全体 / all", _timings(session, week_start(now) - timedelta(weeks=weeks - 1), now))


def _counter_name(directory: Directory, counter_id: str) -> str:
    if not counter_id:
        return NO_COUNTER
    service = directory.services.get(counter_id)
    return service.name if service else counter_id


# --------------------------------------------------------------------------- cases


def open_cases_by_town(session: Session) -> dict[str, int]:
    """Cases someone still has to work on, per town id (cases without a town left out)."""
    rows = session.execute(
        select(Case.town_id, func.count(Case.id))
        .where(Case.status.in_(ACTIVE_STATUSES), Case.town_id.is_not(None))
        .group_by(Case.town_id)
    )
    return {town_id: count for town_id, count in rows}


@dataclass(frozen=True)
class _CaseRow:
    topic: str
    town_id: str | None
    kind: CaseKind
    active: bool
    source: str


def _cases(session: Session, since: datetime, now: datetime) -> list[_CaseRow]:
    rows = session.execute(
        select(Case.topic, Case.town_id, Case.kind, Case.status, Case.details)
        .where(Case.created_at >= since, Case.created_at <= now)
    )
    return [
        _CaseRow(topic, town_id, kind, status in ACTIVE_STATUSES,
                 str((details or {}).get("source") or "resident"))
        for topic, town_id, kind, status, details in rows
    ]


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    """One table of the page, also served as ``/staff/dashboard/<name>.csv``."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _hours(value: float | None) -> float | str:
    return "" if value is None else round(value, 1)


def _share(value: float | None) -> float | str:
    return "" if value is None else round(100 * value, 1)


_FIRST_CONTACT_COLUMNS = ("key", "label", "counted", "contacted", "late_not_contacted", "waiting_under_24h",
                          "median_hours", "p90_hours", "within_24h_percent", "closed_without_contact")


def _first_contact_table(name: str, title: str, figures: Sequence[FirstContact]) -> Table:
    return Table(name, title, _FIRST_CONTACT_COLUMNS, tuple(
        (figure.key, figure.label, figure.counted, figure.contacted, figure.late_waiting, figure.waiting,
         _hours(figure.median_hours), _hours(figure.p90_hours), _share(figure.within_target),
         figure.closed_without_contact)
        for figure in figures
    ))


def _topics_table(session: Session, cases: Sequence[_CaseRow]) -> Table:
    labels: dict[str, str] = {code: name for code, name in session.execute(select(TaxonomyTerm.code, TaxonomyTerm.name))}
    totals: Counter[str] = Counter()
    active: Counter[str] = Counter()
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        totals[case.topic] += 1
        active[case.topic] += case.active
        by_source[case.topic][case.source] += 1
    rows = tuple(
        (topic, labels.get(topic, topic), count, active[topic], by_source[topic]["resident"],
         by_source[topic]["partner"], by_source[topic]["sensor"])
        for topic, count in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    )
    return Table("topics", "相談の分野別 / Cases by topic",
                 ("topic", "label", "cases", "open", "from_residents", "from_partners", "from_sensors"), rows)


def _towns_table(directory: Directory, cases: Sequence[_CaseRow], open_now: dict[str, int]) -> Table:
    totals: Counter[str] = Counter(case.town_id or "" for case in cases)
    worry: Counter[str] = Counter(case.town_id or "" for case in cases if case.kind == CaseKind.worry)
    rows = []
    for town_id, record in directory.towns.items():
        if totals[town_id] or open_now.get(town_id):
            rows.append((town_id, record.option.ward, record.option.town, totals[town_id], worry[town_id],
                         open_now.get(town_id, 0)))
    rows.sort(key=lambda row: (-row[3], row[0]))
    if totals[""]:
        rows.append(("", "", NO_TOWN, totals[""], worry[""], ""))
    return Table("towns", "町別 / Cases by town",
                 ("town_id", "ward", "town", "cases", "worry_cases", "open_now"), tuple(rows))


def _alerts_table(session: Session, since: datetime, now: datetime) -> tuple[Table, float | None]:
    alerts = list(session.scalars(
        select(Alert).where(Alert.created_at >= since, Alert.created_at <= now).order_by(Alert.id.desc())
    ))
    ids = [alert.id for alert in alerts]
    sightings: dict[int, int] = {alert_id: count for alert_id, count in session.execute(
        select(Sighting.alert_id, func.count(Sighting.id)).where(Sighting.alert_id.in_(ids)).group_by(Sighting.alert_id)
    )} if ids else {}
    messages: dict[tuple[int, OutboxState], int] = {}
    if ids:
        for alert_id, state, count in session.execute(
            select(OutboxItem.alert_id, OutboxItem.state, func.count(OutboxItem.id))
            .where(OutboxItem.alert_id.in_(ids), OutboxItem.kind == "alert")
            .group_by(OutboxItem.alert_id, OutboxItem.state)
        ):
            messages[(alert_id, OutboxState(state))] = count
    found_hours = []
    rows = []
    for alert in alerts:
        hours = None
        if alert.status == AlertStatus.found and alert.ended_at is not None:
            hours = (alert.ended_at - alert.created_at).total_seconds() / 3600
            found_hours.append(hours)
        rows.append((
            alert.id, alert.status.value, alert.ward or "", alert.town_id or "",
            alert.created_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M"),
            alert.approved_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if alert.approved_at else "",
            alert.ended_at.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if alert.ended_at else "",
            _hours(hours), sightings.get(alert.id, 0),
            messages.get((alert.id, OutboxState.sent), 0), messages.get((alert.id, OutboxState.failed), 0),
        ))
    table = Table("alerts", "行方不明の警報 / Missing-person alerts",
                  ("alert", "status", "ward", "town_id", "created", "approved", "ended", "hours_to_found",
                   "sightings", "messages_sent", "messages_failed"), tuple(rows))
    return table, percentile(found_hours, 0.5)


def _failures_table(session: Session) -> Table:
    rows: list[tuple[Any, ...]] = []
    for counter_id, method, state, count, last in session.execute(
        select(DeliveryTarget.counter_id, DeliveryTarget.method, Delivery.state, func.count(Delivery.id),
               func.max(Delivery.last_attempt_at))
        .join(DeliveryTarget, DeliveryTarget.id == Delivery.target_id)
        .where((Delivery.state == DeliveryState.failed)
               | ((Delivery.state == DeliveryState.unprocessed) & (Delivery.fail_count > 0)))
        .group_by(DeliveryTarget.counter_id, DeliveryTarget.method, Delivery.state)
    ):
        rows.append(("case_delivery", counter_id, method, DeliveryState(state).value, count, _when(last)))
    for kind, channel, state, count, last in session.execute(
        select(OutboxItem.kind, OutboxItem.channel, OutboxItem.state, func.count(OutboxItem.id),
               func.max(OutboxItem.next_attempt_at))
        .where((OutboxItem.state == OutboxState.failed)
               | ((OutboxItem.state == OutboxState.queued) & (OutboxItem.fail_count > 0)))
        .group_by(OutboxItem.kind, OutboxItem.channel, OutboxItem.state)
    ):
        rows.append(("alert_outbox", kind, channel, OutboxState(state).value, count, _when(last)))
    return Table("failures", "配信の失敗 / Delivery failures",
                 ("queue", "counter_or_kind", "method_or_channel", "state", "count", "last_attempt"), tuple(rows))


def _partners_table(session: Session, since: datetime, now: datetime) -> Table:
    """Reports per partner and ward in the period (every partner listed, a quiet one with 0)."""
    rows = tuple((row.partner_id, row.partner, row.type, row.ward, row.reports)
                 for row in report_counts(session, since=since, until=now))
    return Table("partners", "協定事業者からの通報 / Partner reports",
                 ("partner_id", "partner", "type", "ward", "reports"), rows)


def _safety_checks_table(session: Session, since: datetime, now: datetime) -> Table:
    """The sensors' 安否確認 in the period: how many, how they ended, how fast."""
    report = sensor_report(session, since, now)
    family = report["minutes_to_family_confirmation"] or {}
    hub = report["minutes_to_hub_first_contact"] or {}
    row = (report["checks"], report["confirmed_by_family"], report["escalated_to_hub"],
           report["first_contact_by_hub"], report["still_waiting_for_family"],
           _share(report["confirmation_rate"]), report["confirmed_within_24h"],
           family.get("median", ""), hub.get("median", ""), report["offline_notices"])
    return Table("safety_checks", "センサーの安否確認 / Sensor safety checks",
                 ("checks", "confirmed_by_family", "escalated_to_hub", "hub_first_contact", "waiting",
                  "confirmation_rate", "confirmed_within_24h", "median_minutes_family", "median_minutes_hub",
                  "offline_notices"), (row,) if report["checks"] or report["offline_notices"] else ())


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------- the whole page


@dataclass(frozen=True)
class Dashboard:
    """Everything the page shows, computed in one pass."""

    now: datetime
    weeks: int
    since: datetime
    overall: FirstContact
    by_week: list[FirstContact]
    by_counter: list[FirstContact]
    open_by_town: dict[str, int]
    median_hours_to_found: float | None
    tables: dict[str, Table]


def build_dashboard(session: Session, directory: Directory, *, now: datetime | None = None,
                    weeks: int = 8) -> Dashboard:
    """The dashboard's figures for the last ``weeks`` weeks (the current week included).

    Args:
        session: a session on the database.
        directory: the loaded directory (counter and town names).
        now: the current time (aware); defaults to now.
        weeks: how many weeks, 1–52.

    Returns:
        The figures and every table of the page.
    """
    now = now or utcnow()
    since = week_start(now) - timedelta(weeks=weeks - 1)
    by_week = first_contact_by_week(session, now=now, weeks=weeks)
    by_counter = first_contact_by_counter(session, directory, now=now, weeks=weeks)
    open_by_town = open_cases_by_town(session)
    cases = _cases(session, since, now)
    alerts, median_found = _alerts_table(session, since, now)
    tables = [
        _first_contact_table("first_contact_weeks", "初回接触までの時間（週別） / First contact by week", by_week),
        _first_contact_table("first_contact_counters", "初回接触までの時間（窓口別） / First contact by counter",
                             by_counter),
        _topics_table(session, cases),
        _towns_table(directory, cases, open_by_town),
        alerts,
        _failures_table(session),
        _partners_table(session, since, now),
        _safety_checks_table(session, since, now),
    ]
    return Dashboard(
        now=now,
        weeks=weeks,
        since=since,
        overall=first_contact_overall(session, now=now, weeks=weeks),
        by_week=by_week,
        by_counter=by_counter,
        open_by_town=open_by_town,
        median_hours_to_found=median_found,
        tables={table.name: table for table in tables},
    )
