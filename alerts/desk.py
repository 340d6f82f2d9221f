"""What the alert desk reads, and its edit of an alert's public text: missing reports waiting
for it, a broadcast's progress per channel, sightings placed and measured, the family linked to
an alert, and the cooperators it may look up (never their addresses).

The staff console (``bot.console.alerts``) renders these. Decisions stay with the alert network:
approve, widen, found and cancel with ``alerts.lifecycle``, confirming and forwarding a sighting
with ``alerts.sightings``; :func:`edit_text` is ``tsunagu alert text set`` for a form (fields
checked by ``alerts.texts.clean_fields``, the change noted on the case without its values). The
reads are short queries, so a progress stream can open a session, read and close it between polls.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from alerts.fanout.enqueue import sighting_distance_m
from alerts.fanout.items import ALERT_KINDS, CHANNELS
from alerts.lifecycle import AlertError, case_event
from alerts.texts import IDENTITY_FIELDS, PUBLIC_FIELDS, clean_fields, sighting_place
from bot.models import (
    Alert,
    AlertFamily,
    AlertStatus,
    Case,
    CaseKind,
    CaseStatus,
    Contact,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    Sighting,
    utcnow,
)
from routing.cases import INCOMPLETE
from routing.snapshot import get_directory

__all__ = [
    "BroadcastProgress",
    "ChannelProgress",
    "CooperatorRow",
    "DeskReport",
    "SightingRow",
    "active_cooperators",
    "broadcast_progress",
    "desk_reports",
    "desk_sightings",
    "edit_text",
    "family_links",
    "newest_sighting_id",
    "search_cooperators",
    "sighting_counts",
    "town_labels",
]

# --------------------------------------------------------------------------- reports


@dataclass(frozen=True)
class DeskReport:
    """A missing-person report as the desk's list shows it.

    ``alert`` is None for a draft the family has not finished (no alert exists yet), or a
    finished report no alert was made of.
    """

    case: Case
    alert: Alert | None
    draft: bool

    @property
    def stage(self) -> str:
        """Where it stands for the desk: ``draft`` (not finished), ``report`` (finished, no alert),
        or the alert's status (``pending``, ``active``, ``found``, ``cancelled``)."""
        if self.alert is None:
            return "draft" if self.draft else "report"
        return self.alert.status.value


def desk_reports(session: Session, counter_ids: Collection[str], *, ended: bool = False,
                 limit: int = 200) -> list[DeskReport]:
    """The missing-person reports of some counters, those needing the desk first.

    Args:
        session: a session.
        counter_ids: the counters whose cases the staff member sees (the alert desk also
            passes ``routing.cases.NO_COUNTER_YET`` for drafts whose place is not known yet).
        ended: also the alerts already found or cancelled (not yet purged).
        limit: at most this many.

    Returns:
        Pending reviews (drafts and pending alerts) first, then running alerts, then
        (with ``ended``) the ended ones; newest first within each.
    """
    if not counter_ids:
        return []
    rows = session.execute(
        select(Case, Alert).outerjoin(Alert, Alert.case_id == Case.id)
        .where(Case.kind == CaseKind.missing, Case.counter_id.in_(list(counter_ids)),
               Case.status != CaseStatus.closed)
        .order_by(Case.id.desc(), Alert.id.desc()).limit(limit)
    ).all()
    order = {"draft": 0, "report": 0, "pending": 0, "active": 1, "found": 2, "cancelled": 2}
    reports = []
    for case, alert in rows:
        report = DeskReport(case, alert, draft=bool(case.details.get(INCOMPLETE)))
        if report.stage in ("found", "cancelled") and (not ended or alert is None or alert.purged):
            continue
        if alert is None and case.status not in (CaseStatus.new, CaseStatus.acknowledged):
            continue  # a report without an alert that staff have already dealt with
        reports.append(report)
    return sorted(reports, key=lambda report: order[report.stage])


def edit_text(session: Session, alert: Alert, values: Mapping[str, str], *, by: str,
              seen: datetime | None = None, share: bool | None = None, now: datetime | None = None) -> list[str]:
    """The desk edits the fields an alert's public text is composed from (``tsunagu alert text set``).

    Args:
        session: the caller's session (load the alert ``with_for_update``).
        alert: a pending or active alert (an active one changes from its next widening on).
        values: every field of :data:`alerts.texts.PUBLIC_FIELDS` and ``IDENTITY_FIELDS``
            the form shows; an empty value removes the field.
        by: the staff member, noted on the case's history with the fields changed (never their values).
        seen: the new last-seen time (aware), if the desk set one.
        share: the family's consent to show name, diagnosis and photo, if the desk changed it.
        now: the current time (aware); defaults to now.

    Returns:
        The names of the fields that changed (``last_seen_at`` and ``share_identity`` included).

    Raises:
        AlertError: when the alert has ended.
        ValueError: for a value a field does not take (an unknown choice, an age that is not one).
    """
    if alert.status not in (AlertStatus.pending, AlertStatus.active):
        raise AlertError(f"alert {alert.id} has ended ({alert.status.value}): its text can no longer change")
    known = {field: value for field, value in values.items() if field in (*PUBLIC_FIELDS, *IDENTITY_FIELDS)}
    before = dict(alert.public_fields or {})
    fields = clean_fields({**{field: value for field, value in before.items() if field not in known}, **known})
    changed = sorted(field for field in {*before, *fields} if before.get(field) != fields.get(field))
    alert.public_fields = fields
    if seen is not None and seen != alert.last_seen_at:
        alert.last_seen_at = seen
        changed.append("last_seen_at")
    if share is not None and share != alert.share_identity:
        alert.share_identity = share
        changed.append("share_identity")
    if changed:
        case_event(session, alert, "alert_text_edited", by, now or utcnow(), fields=changed)
    session.flush()
    return changed


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class ChannelProgress:
    """A broadcast's messages on one channel, by outbox state."""

    channel: str
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.queued + self.sending + self.sent + self.failed + self.cancelled

    @property
    def done(self) -> int:
        """Messages nothing more will happen to (sent, failed or cancelled)."""
        return self.sent + self.failed + self.cancelled

    @property
    def percent(self) -> int:
        """How much of the channel is done, 0–100 (100 with nothing to send)."""
        return 100 if not self.total else self.done * 100 // self.total


@dataclass(frozen=True)
class BroadcastProgress:
    """An alert's broadcast (the alert and its widenings, not the closing notices) per channel."""

    alert_id: int
    status: str
    channels: tuple[ChannelProgress, ...]

    @property
    def totals(self) -> ChannelProgress:
        """All channels together."""
        return ChannelProgress("all", *(sum(getattr(channel, state.value) for channel in self.channels)
                                        for state in OutboxState))

    @property
    def finished(self) -> bool:
        """Nothing is queued or being sent any more."""
        return self.totals.done == self.totals.total

    def as_json(self) -> dict[str, object]:
        """The shape the console's progress stream sends."""
        def numbers(channel: ChannelProgress) -> dict[str, object]:
            return {"channel": channel.channel, **{state.value: getattr(channel, state.value) for state in OutboxState},
                    "total": channel.total, "done": channel.done, "percent": channel.percent}

        return {"alert_id": self.alert_id, "status": self.status, "finished": self.finished,
                "totals": numbers(self.totals), "channels": [numbers(channel) for channel in self.channels]}


def broadcast_progress(session: Session, alert_id: int) -> BroadcastProgress:
    """How far an alert's broadcast has got on each channel that has messages of it.

    Args:
        session: a session.
        alert_id: the alert.

    Returns:
        Counts per channel (in ``alerts.fanout.items.CHANNELS`` order) and the alert's status.
    """
    counts: dict[str, dict[str, int]] = {}
    for channel, state, number in session.execute(
        select(OutboxItem.channel, OutboxItem.state, func.count())
        .where(OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(ALERT_KINDS))
        .group_by(OutboxItem.channel, OutboxItem.state)
    ):
        counts.setdefault(channel, {})[OutboxState(state).value] = number
    status = session.scalar(select(Alert.status).where(Alert.id == alert_id))
    ordered = sorted(counts, key=lambda name: (CHANNELS.index(name) if name in CHANNELS else len(CHANNELS), name))
    return BroadcastProgress(alert_id, status.value if status is not None else "unknown",
                             tuple(ChannelProgress(channel, **counts[channel]) for channel in ordered))


# --------------------------------------------------------------------------- sightings


@dataclass(frozen=True)
class SightingRow:
    """A sighting as the desk reads it: where (town), when, how far from the last-seen point."""

    sighting: Sighting
    place: str
    moment: datetime
    distance_m: float | None
    group_size: int


def desk_sightings(session: Session, alert: Alert) -> list[SightingRow]:
    """The sightings of an alert, newest first, with place, time, distance and group size."""
    found = list(session.scalars(select(Sighting).where(Sighting.alert_id == alert.id).order_by(Sighting.id.desc())))
    groups: dict[int, int] = {}
    for sighting in found:
        key = sighting.group_id or sighting.id
        groups[key] = groups.get(key, 0) + 1
    return [SightingRow(sighting, sighting_place(session, sighting), sighting.seen_at or sighting.created_at,
                        sighting_distance_m(session, alert, sighting), groups[sighting.group_id or sighting.id])
            for sighting in found]


def newest_sighting_id(session: Session, alert_id: int) -> int:
    """The id of the alert's newest sighting, 0 when it has none (the progress stream's cursor)."""
    return session.scalar(select(func.max(Sighting.id)).where(Sighting.alert_id == alert_id)) or 0


def sighting_counts(session: Session, alert_ids: Collection[int]) -> dict[int, int]:
    """How many sightings each alert has (alerts without any are left out)."""
    if not alert_ids:
        return {}
    return {alert_id: number for alert_id, number in session.execute(
        select(Sighting.alert_id, func.count()).where(Sighting.alert_id.in_(list(alert_ids)))
        .group_by(Sighting.alert_id))}


def family_links(session: Session, alert_id: int) -> list[tuple[AlertFamily, str]]:
    """The family members linked to an alert (forwarded sightings reach them), each with their channel."""
    return [(link, channel) for link, channel in session.execute(
        select(AlertFamily, Contact.channel).join(Contact, Contact.id == AlertFamily.contact_id)
        .where(AlertFamily.alert_id == alert_id).order_by(AlertFamily.id))]


# --------------------------------------------------------------------------- cooperators


@dataclass(frozen=True)
class CooperatorRow:
    """A cooperator as the desk needs them: area, channels (never the addresses), consent and confirmation."""

    id: int
    town: str
    channels: tuple[str, ...]
    language: str
    active: bool
    night_alerts: bool
    consented_at: datetime
    reconfirm_due: datetime | None


def active_cooperators(session: Session) -> int:
    """How many cooperators receive alerts at all (before approval: zero means nobody can be reached)."""
    return session.scalar(select(func.count()).select_from(Cooperator).where(Cooperator.active.is_(True))) or 0


def search_cooperators(session: Session, query: str = "", *, active_only: bool = False,
                       limit: int = 200) -> list[CooperatorRow]:
    """Cooperators whose town (id, name, ward or reading) or channel matches ``query``.

    Args:
        session: a session.
        query: words to look for; empty lists everyone.
        active_only: leave out those who left or lapsed.
        limit: at most this many (by id).

    Returns:
        The rows, by id.
    """
    directory = get_directory(session)
    words = query.strip().lower()
    statement = select(Cooperator).options(selectinload(Cooperator.endpoints)).order_by(Cooperator.id)
    if active_only:
        statement = statement.where(Cooperator.active.is_(True))
    if words:
        towns = [town_id for town_id, record in directory.towns.items()
                 if any(words in text.lower() for text in (town_id, record.option.town, record.option.ward,
                                                           f"{record.option.ward} {record.option.town}",
                                                           record.town_kana, record.ward_kana, record.ward_romaji))]
        by_channel = select(CooperatorEndpoint.cooperator_id).where(CooperatorEndpoint.channel == words)
        statement = statement.where(or_(Cooperator.town_id.in_(towns), Cooperator.id.in_(by_channel)))
    rows = []
    for cooperator in session.scalars(statement.limit(limit)):
        record = directory.towns.get(cooperator.town_id or "")
        rows.append(CooperatorRow(
            cooperator.id, f"{record.option.ward} {record.option.town}" if record else (cooperator.town_id or ""),
            tuple(dict.fromkeys(endpoint.channel for endpoint in cooperator.endpoints if endpoint.active)),
            cooperator.language, cooperator.active, cooperator.night_alerts, cooperator.consented_at,
            cooperator.reconfirm_due))
    return rows


def town_labels(session: Session, town_ids: Sequence[str | None]) -> dict[str, str]:
    """"北区 柳町" for each known town id."""
    towns = get_directory(session).towns
    return {town_id: f"{towns[town_id].option.ward} {towns[town_id].option.town}"
            for town_id in town_ids if town_id and town_id in towns}
