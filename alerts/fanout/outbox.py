"""The outbox on the worker side: claim rows, hold the lease, record what happened.

Every outbox row (``bot.models.OutboxItem``) is one message of one alert to one
cooperator and moves ``queued → sending → sent``, FixMyStreet style:

* **Claim.** A worker takes the nearest due rows of one channel and marks them
  ``sending`` with ``claimed_at`` set to a fresh *lease token* (PostgreSQL:
  ``SELECT … FOR UPDATE SKIP LOCKED`` inside the ``UPDATE``; SQLite, one writer at a
  time: the same conditional ``UPDATE … WHERE state = 'queued'``). The back-off is
  in the query: a row is due when ``next_attempt_at`` is empty or past.
* **Lease.** While a batch is being sent the worker renews the token every third of
  ``fanout_lease_seconds``. Rows whose token is older than that belong to a worker
  that died: the next claim takes them again *as the same group* (every row that
  carried the token), so a LINE multicast is repeated with the same
  ``X-Line-Retry-Key`` and LINE drops the duplicate.
* **Screen.** Before sending, rows of cooperators who unsubscribed are cancelled,
  rows in a cooperator's quiet hours wait until those end, and rows whose endpoint
  was deactivated move to the cooperator's next endpoint.
* **Record.** ``sent``; ``later`` (429 / RetryAfter: back to the queue after the
  wait, the fail count untouched — nothing is lost to a rate limit); ``retry`` (fail
  count + 1, exponential back-off, ``failed`` after ``fanout_max_attempts``);
  ``hold`` (like retry, but the rows stay one group under the lease, for sends that
  may have been accepted); ``gone`` (the platform says the user blocked the bot or
  does not exist: the endpoint is deactivated and the row moves to the next one);
  ``failed``. Every update is guarded by the lease token, so a worker that lost its
  lease cannot overwrite what another one did.

A ``found`` or ``cancelled`` notice goes only to cooperators whose alert was sent:
rows still in flight when staff end an alert get theirs when they are recorded.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session

from bot.models import Alert, AlertStatus, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState
from bot.settings import Settings, settings

__all__ = [
    "ALERT_KINDS",
    "CHANNELS",
    "Batch",
    "Item",
    "Outcome",
    "Status",
    "backoff",
    "claim",
    "configured_channels",
    "insert_ignore",
    "next_due",
    "queue_notices",
    "quiet_until",
    "record",
    "renew",
]

log = logging.getLogger(__name__)

CHANNELS = ("line", "telegram", "email", "sms")
"""Channels the fan-out can send on, each with a sender in ``alerts.fanout.senders``."""

ALERT_KINDS = ("alert", "update")
"""Kinds that carry the alert itself; a ``found``/``cancelled`` notice follows only these."""

_OUTBOX = cast(Table, OutboxItem.__table__)


def configured_channels(config: Settings | None = None) -> tuple[str, ...]:
    """The channels whose credentials are set, in :data:`CHANNELS` order.

    E-mail needs only an SMTP host, which has a default; LINE, Telegram and SMS need
    their accounts. Rows are only queued for (and fall back to) these.
    """
    config = config or settings
    available = {
        "line": bool(config.line_channel_access_token),
        "telegram": bool(config.telegram_bot_token),
        "email": bool(config.smtp_host),
        "sms": bool(config.twilio_account_sid and config.twilio_auth_token and config.twilio_from_number),
    }
    return tuple(channel for channel in CHANNELS if available[channel])


def backoff(fail_count: int, config: Settings | None = None) -> timedelta:
    """The wait before attempt ``fail_count + 1``: doubling from ``fanout_retry_seconds``."""
    config = config or settings
    seconds = config.fanout_retry_seconds * 2 ** max(0, fail_count - 1)
    return timedelta(seconds=min(config.fanout_max_retry_seconds, seconds))


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours) % 24, int(minutes))


def quiet_until(now: datetime, start: str | None, end: str | None, config: Settings | None = None) -> datetime | None:
    """When a cooperator's quiet hours end, if ``now`` falls inside them, else None.

    Args:
        now: the current time (aware).
        start: "22:00" (local time of ``settings.timezone``) or None.
        end: "07:00"; a window may cross midnight.
        config: settings (the time zone); the process's by default.

    Returns:
        The aware end of the current quiet window, or None.
    """
    if not start or not end or start == end:
        return None
    tz = (config or settings).tz
    local = now.astimezone(tz)
    begin, finish = _clock(start), _clock(end)
    today_end = datetime.combine(local.date(), finish, tz)
    moment = local.time()
    if begin < finish:
        return today_end if begin <= moment < finish else None
    if moment >= begin:  # late evening: the window ends tomorrow
        return today_end + timedelta(days=1)
    return today_end if moment < finish else None


# --------------------------------------------------------------------------- batches


class Status(str, enum.Enum):
    """What a send did to one row (see the module docstring)."""

    sent = "sent"
    later = "later"
    retry = "retry"
    hold = "hold"
    gone = "gone"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    """The result of sending one row: a status, why (no message text), and a wait in seconds."""

    status: Status
    reason: str | None = None
    after: float = 0.0


SENT = Outcome(Status.sent)


@dataclass(frozen=True)
class Item:
    """One claimed row, with what a sender needs to know about its cooperator."""

    id: int
    alert_id: int
    cooperator_id: int
    kind: str
    address: str
    distance_m: float
    fail_count: int
    language: str


@dataclass
class Batch:
    """Rows of one channel claimed together; ``lease`` is their shared ``claimed_at`` token."""

    channel: str
    lease: datetime
    items: list[Item] = field(default_factory=list)

    def groups(self) -> dict[tuple[int, str, str], list[Item]]:
        """Items that share one message text: by alert, kind and language, nearest first."""
        groups: dict[tuple[int, str, str], list[Item]] = {}
        for item in self.items:
            groups.setdefault((item.alert_id, item.kind, item.language), []).append(item)
        return groups


_token_lock = threading.Lock()
_last_token: datetime | None = None


def _token(now: datetime) -> datetime:
    """A lease token: ``now``, moved on by a microsecond if this process just used it."""
    global _last_token
    with _token_lock:
        # Only claims made within the same millisecond need telling apart; a "now" far
        # from the last one (tests moving the clock) is taken as it is.
        if _last_token is not None and now <= _last_token < now + timedelta(milliseconds=1):
            now = _last_token + timedelta(microseconds=1)
        _last_token = now
        return now


def _claimed_ids(session: Session, statement: Any) -> list[int]:
    return [row_id for (row_id,) in session.execute(statement.returning(_OUTBOX.c.id))]


def _reclaim(session: Session, channel: str, token: datetime, cutoff: datetime) -> list[int]:
    """Take back the oldest group of rows whose worker stopped renewing its lease."""
    stale = session.scalar(
        select(OutboxItem.claimed_at)
        .where(OutboxItem.state == OutboxState.sending, OutboxItem.channel == channel, OutboxItem.claimed_at <= cutoff)
        .order_by(OutboxItem.claimed_at)
        .limit(1)
    )
    if stale is None:
        return []
    # One statement on both engines: a concurrent reclaimer blocks on the row locks and
    # then finds the token changed, so a group is never split between two workers.
    return _claimed_ids(
        session,
        update(_OUTBOX)
        .where(_OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.channel == channel, _OUTBOX.c.claimed_at == stale)
        .values(claimed_at=token),
    )


def _claim_queued(session: Session, channel: str, limit: int, token: datetime, now: datetime) -> list[int]:
    due = (
        select(OutboxItem.id)
        .where(
            OutboxItem.state == OutboxState.queued,
            OutboxItem.channel == channel,
            or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now),
        )
        .order_by(OutboxItem.distance_m, OutboxItem.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two statements: inside an UPDATE the planner may run a LIMIT … SKIP LOCKED
        # subquery more than once and take more rows than asked for.
        ids = list(session.scalars(due.with_for_update(skip_locked=True)))
        if ids:
            session.execute(
                update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(state=OutboxState.sending, claimed_at=token)
            )
        return ids
    # On SQLite the state condition makes the UPDATE itself the claim (one writer at a time).
    return _claimed_ids(
        session,
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(due.scalar_subquery()), _OUTBOX.c.state == OutboxState.queued)
        .values(state=OutboxState.sending, claimed_at=token),
    )


def claim(session: Session, channel: str, limit: int, *, now: datetime, config: Settings | None = None) -> Batch | None:
    """Claim the next rows of ``channel`` and commit: a stale group first, else the nearest due.

    Rows that must not be sent now are dealt with on the way (see :func:`_screen`), so
    the returned batch may be empty while more rows are due.

    Args:
        session: a session of its own (committed here).
        channel: one of :data:`CHANNELS`.
        limit: the most rows to claim (a stale group is taken whole).
        now: the current time (aware).
        config: settings (lease, time zone); the process's by default.

    Returns:
        The batch, or None when nothing of the channel is due.
    """
    config = config or settings
    token = _token(now)
    cutoff = now - timedelta(seconds=config.fanout_lease_seconds)
    ids = _reclaim(session, channel, token, cutoff)
    if ids:
        log.info("%s: took back %d rows of a worker that stopped", channel, len(ids))
    else:
        ids = _claim_queued(session, channel, limit, token, now)
    if not ids:
        session.commit()
        return None
    batch = _screen(session, Batch(channel, token), ids, now, config)
    session.commit()
    return batch


def _screen(session: Session, batch: Batch, ids: list[int], now: datetime, config: Settings) -> Batch:
    """Keep the claimed rows that may be sent now; cancel, defer or move the others."""
    endpoint = and_(
        CooperatorEndpoint.cooperator_id == OutboxItem.cooperator_id,
        CooperatorEndpoint.channel == OutboxItem.channel,
        CooperatorEndpoint.address == OutboxItem.address,
    )
    rows = session.execute(
        select(
            OutboxItem.id, OutboxItem.alert_id, OutboxItem.cooperator_id, OutboxItem.kind, OutboxItem.address,
            OutboxItem.distance_m, OutboxItem.fail_count, Cooperator.language, Cooperator.active,
            Cooperator.quiet_start, Cooperator.quiet_end, CooperatorEndpoint.active,
        )
        .join(Cooperator, Cooperator.id == OutboxItem.cooperator_id)
        .outerjoin(CooperatorEndpoint, endpoint)
        .where(OutboxItem.id.in_(ids))
        .order_by(OutboxItem.distance_m, OutboxItem.id)
    ).all()
    unsubscribed, quiet, moved = [], [], []
    for row_id, alert_id, cooperator_id, kind, address, distance, fails, language, active, qs, qe, reachable in rows:
        if not active:
            unsubscribed.append(row_id)
        elif not reachable:
            moved.append((row_id, cooperator_id))
        elif (until := quiet_until(now, qs, qe, config)) is not None:
            quiet.append({"row_id": row_id, "due": until})
        else:
            batch.items.append(Item(row_id, alert_id, cooperator_id, kind, address, distance, fails, language))
    if unsubscribed:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(unsubscribed))
            .values(state=OutboxState.cancelled, claimed_at=None, last_failure_reason="cooperator unsubscribed")
        )
    if quiet:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
            .values(state=OutboxState.queued, claimed_at=None, next_attempt_at=bindparam("due")),
            quiet,
        )
    for row_id, cooperator_id in moved:
        _fall_back(session, batch, row_id, cooperator_id, "endpoint no longer active", config)
    return batch


def _fall_back(session: Session, batch: Batch, row_id: int, cooperator_id: int, reason: str, config: Settings) -> None:
    """Move a row to the cooperator's next active endpoint, or fail it when none is left."""
    channels = configured_channels(config)
    following = session.execute(
        select(CooperatorEndpoint.channel, CooperatorEndpoint.address)
        .where(CooperatorEndpoint.cooperator_id == cooperator_id, CooperatorEndpoint.active.is_(True),
               CooperatorEndpoint.channel.in_(channels))
        .order_by(CooperatorEndpoint.priority, CooperatorEndpoint.id)
        .limit(1)
    ).first()
    if following is None:
        values: dict[str, Any] = {"state": OutboxState.failed, "last_failure_reason": f"{reason}; no other endpoint"}
    else:
        values = {"state": OutboxState.queued, "channel": following.channel, "address": following.address,
                  "next_attempt_at": None, "last_failure_reason": reason}
    session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id == row_id, _OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.claimed_at == batch.lease)
        .values(claimed_at=None, **values)
    )


def renew(session: Session, batch: Batch, items: Sequence[Item], *, now: datetime) -> int:
    """Renew the lease of a batch's rows still being sent (a new token for all) and commit.

    Args:
        session: a session of its own.
        batch: the batch; its ``lease`` becomes the new token.
        items: its rows whose outcome is not recorded yet.
        now: the current time (aware).

    Returns:
        How many rows were still ours (fewer when another worker took some back).
    """
    token = _token(now)
    ids = [item.id for item in items]
    result = cast(CursorResult[Any], session.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.claimed_at == batch.lease)
        .values(claimed_at=token)
    ))
    renewed = result.rowcount
    session.commit()
    batch.lease = token
    if renewed < len(ids):
        log.warning("%s: %d of %d rows were taken back by another worker", batch.channel, len(ids) - renewed, len(ids))
    return renewed


def record(
    session: Session,
    batch: Batch,
    results: Sequence[tuple[Item, Outcome]],
    *,
    now: datetime,
    config: Settings | None = None,
) -> Counter[str]:
    """Store what happened to some rows of ``batch`` and commit.

    Args:
        session: a session of its own.
        batch: the batch the rows were claimed in (its current lease guards every update).
        results: (row, outcome) pairs, each row once.
        now: the current time (aware).
        config: settings (back-off, attempts, lease); the process's by default.

    Returns:
        Counts by what happened: sent, later, retry, hold, gone, failed.
    """
    config = config or settings
    mine = and_(_OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.claimed_at == batch.lease)
    by_status: dict[Status, list[tuple[Item, Outcome]]] = {status: [] for status in Status}
    for item, outcome in results:
        by_status[outcome.status].append((item, outcome))
    counts: Counter[str] = Counter({status.value: len(pairs) for status, pairs in by_status.items() if pairs})

    sent_ids = [item.id for item, _ in by_status[Status.sent]]
    if sent_ids:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id.in_(sent_ids), mine)
            .values(state=OutboxState.sent, sent_at=now, last_failure_reason=None)
        )
    later = [{"row_id": item.id, "due": now + timedelta(seconds=outcome.after), "reason": outcome.reason}
             for item, outcome in by_status[Status.later]]
    if later:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), mine)
            .values(state=OutboxState.queued, claimed_at=None, next_attempt_at=bindparam("due"),
                    last_failure_reason=bindparam("reason")),
            later,
        )
    failures = [_failure(item, outcome, now, config) for item, outcome in by_status[Status.retry]]
    failures += [{"row_id": item.id, "new_state": OutboxState.failed, "fails": item.fail_count + 1, "due": None,
                  "claimed": None, "reason": outcome.reason} for item, outcome in by_status[Status.failed]]
    failures += _holds(by_status[Status.hold], now, config)
    if failures:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), mine)
            .values(state=bindparam("new_state"), fail_count=bindparam("fails"), next_attempt_at=bindparam("due"),
                    claimed_at=bindparam("claimed"), last_failure_reason=bindparam("reason")),
            failures,
        )
    for item, outcome in by_status[Status.gone]:
        session.execute(
            update(CooperatorEndpoint)
            .where(CooperatorEndpoint.channel == batch.channel, CooperatorEndpoint.address == item.address)
            .values(active=False)
        )
        log.info("%s: endpoint of cooperator %s deactivated (%s)", batch.channel, item.cooperator_id, outcome.reason)
        _fall_back(session, batch, item.id, item.cooperator_id, outcome.reason or "unreachable", config)
    _follow_ended_alerts(session, [item for item, _ in by_status[Status.sent] if item.kind in ALERT_KINDS], now)
    session.commit()
    return counts


def _failure(item: Item, outcome: Outcome, now: datetime, config: Settings) -> dict[str, Any]:
    fails = item.fail_count + 1
    give_up = fails >= config.fanout_max_attempts
    return {"row_id": item.id, "new_state": OutboxState.failed if give_up else OutboxState.queued, "fails": fails,
            "due": None if give_up else now + backoff(fails, config), "claimed": None, "reason": outcome.reason}


def _holds(pairs: list[tuple[Item, Outcome]], now: datetime, config: Settings) -> list[dict[str, Any]]:
    """Keep possibly-accepted rows one group: the lease is set to run out when the retry is due."""
    if not pairs:
        return []
    fails = max(item.fail_count for item, _ in pairs) + 1
    if fails >= config.fanout_max_attempts:
        return [{"row_id": item.id, "new_state": OutboxState.failed, "fails": item.fail_count + 1, "due": None,
                 "claimed": None, "reason": outcome.reason} for item, outcome in pairs]
    expires = now - timedelta(seconds=config.fanout_lease_seconds) + backoff(fails, config)
    return [{"row_id": item.id, "new_state": OutboxState.sending, "fails": item.fail_count + 1, "due": None,
             "claimed": expires, "reason": outcome.reason} for item, outcome in pairs]


def _follow_ended_alerts(session: Session, delivered: list[Item], now: datetime) -> None:
    """Alerts delivered after staff ended them: their cooperators get the closing notice too."""
    if not delivered:
        return
    ended = dict(session.execute(
        select(Alert.id, Alert.status)
        .where(Alert.id.in_({item.alert_id for item in delivered}),
               Alert.status.in_((AlertStatus.found, AlertStatus.cancelled)))
    ).all())
    for alert_id, status in ended.items():
        cooperators = [item.cooperator_id for item in delivered if item.alert_id == alert_id]
        queue_notices(session, alert_id, status.value, cooperator_ids=cooperators, now=now)


# --------------------------------------------------------------------------- writing rows


def insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert outbox rows in bulk, skipping any whose (alert, cooperator, kind) exists.

    ``INSERT … ON CONFLICT DO NOTHING`` on PostgreSQL, ``INSERT OR IGNORE`` on SQLite,
    executed as one executemany.
    """
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(_OUTBOX).on_conflict_do_nothing(
            index_elements=["alert_id", "cooperator_id", "kind"]
        )
    elif dialect == "sqlite":
        statement = insert(_OUTBOX).prefix_with("OR IGNORE")
    else:
        raise NotImplementedError(f"outbox bulk insert is written for PostgreSQL and SQLite, not {dialect}")
    session.execute(statement, rows)


def count_rows(session: Session, alert_id: int) -> int:
    """How many outbox rows an alert has (to report how many an insert added)."""
    return session.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.alert_id == alert_id)) or 0


def queue_notices(
    session: Session, alert_id: int, kind: str, *, cooperator_ids: Iterable[int] | None = None, now: datetime
) -> int:
    """Queue a ``kind`` notice to cooperators whose alert or update was sent, on the same endpoint.

    Args:
        session: the caller's session.
        alert_id: the alert.
        kind: ``found`` or ``cancelled`` (rendered by ``alerts.alerts.render_alert_message``).
        cooperator_ids: only these cooperators (default: all who were sent the alert).
        now: the current time (aware); the notices are due from then.

    Returns:
        The number of rows added (a cooperator who already has one gets none).
    """
    query = (
        select(OutboxItem.cooperator_id, OutboxItem.channel, OutboxItem.address, OutboxItem.distance_m)
        .where(OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(ALERT_KINDS), OutboxItem.state == OutboxState.sent)
        .order_by(OutboxItem.distance_m, OutboxItem.id)
    )
    rows: dict[int, dict[str, Any]] = {}
    wanted = None if cooperator_ids is None else set(cooperator_ids)
    for cooperator_id, channel, address, distance in session.execute(query):
        if (wanted is None or cooperator_id in wanted) and cooperator_id not in rows:
            rows[cooperator_id] = {
                "alert_id": alert_id, "cooperator_id": cooperator_id, "kind": kind, "channel": channel,
                "address": address, "distance_m": distance, "state": OutboxState.queued,
                "fail_count": 0, "next_attempt_at": now,
            }
    before = count_rows(session, alert_id)
    insert_ignore(session, list(rows.values()))
    return count_rows(session, alert_id) - before


# --------------------------------------------------------------------------- scheduling


def next_due(
    session: Session, channels: Sequence[str], *, now: datetime, config: Settings | None = None
) -> datetime | None:
    """When a worker should next look at ``channels``: now, later, or None (nothing pending).

    A queued row is due at its ``next_attempt_at`` (now when empty); a ``sending`` row
    when its lease runs out (its worker may have died).
    """
    config = config or settings
    in_channels = OutboxItem.channel.in_(list(channels))
    queued = and_(in_channels, OutboxItem.state == OutboxState.queued)
    ready = session.scalar(
        select(OutboxItem.id)
        .where(queued, or_(OutboxItem.next_attempt_at.is_(None), OutboxItem.next_attempt_at <= now))
        .limit(1)
    )
    if ready is not None:
        return now
    waiting = session.scalar(select(func.min(OutboxItem.next_attempt_at)).where(queued))
    leased = session.scalar(
        select(func.min(OutboxItem.claimed_at)).where(in_channels, OutboxItem.state == OutboxState.sending)
    )
    candidates = [waiting] if waiting is not None else []
    if leased is not None:
        candidates.append(leased + timedelta(seconds=config.fanout_lease_seconds))
    return min(candidates) if candidates else None
