"""The outbox on the worker side: claim rows, hold the lease, record what happened.

Every outbox row (``bot.models.OutboxItem``) is one message to one cooperator and
moves ``queued → sending → sent``, FixMyStreet style, with the claims, leases and
back-off of ``bot.workqueue``:

* **Claim.** A worker takes the nearest due rows of one channel and marks them
  ``sending`` with ``claimed_at`` set to a fresh *lease token*. The back-off is in
  the query: a row is due when ``next_attempt_at`` is empty or past.
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
rows still in flight when staff end an alert get theirs when they are recorded. A
re-confirmation request that was sent marks its cooperator as asked in this cycle.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.fanout.enqueue import queue_notices
from alerts.fanout.items import ALERT_KINDS, RECONFIRM_KIND, Batch, Item, Outcome, Status, configured_channels, quiet_until
from bot.models import Alert, AlertStatus, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState
from bot.settings import Settings, settings
from bot.workqueue import Backoff, claim_due, lease_expired, lease_token

__all__ = ["claim", "next_due", "record", "renew", "retry_backoff"]

log = logging.getLogger(__name__)

_OUTBOX = cast(Table, OutboxItem.__table__)


def retry_backoff(config: Settings | None = None) -> Backoff:
    """The wait before a failed row's next attempt: doubling from ``fanout_retry_seconds``."""
    config = config or settings
    return Backoff(first=timedelta(seconds=config.fanout_retry_seconds), factor=2.0,
                   most=timedelta(seconds=config.fanout_max_retry_seconds))


# --------------------------------------------------------------------------- batches


def _reclaim(session: Session, channel: str, token: datetime, now: datetime, lease: timedelta) -> list[int]:
    """Take back the oldest group of rows whose worker stopped renewing its lease."""
    stale = session.scalar(
        select(OutboxItem.claimed_at)
        .where(OutboxItem.state == OutboxState.sending, OutboxItem.channel == channel,
               lease_expired(OutboxItem.claimed_at, now, lease))
        .order_by(OutboxItem.claimed_at)
        .limit(1)
    )
    if stale is None:
        return []
    # One statement on both engines: a concurrent reclaimer blocks on the row locks and
    # then finds the token changed, so a group is never split between two workers.
    statement = (
        update(_OUTBOX)
        .where(_OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.channel == channel, _OUTBOX.c.claimed_at == stale)
        .values(claimed_at=token)
        .returning(_OUTBOX.c.id)
    )
    return [row_id for (row_id,) in session.execute(statement)]


def _claim_queued(session: Session, channel: str, limit: int, token: datetime, now: datetime) -> list[int]:
    due = and_(
        _OUTBOX.c.state == OutboxState.queued,
        _OUTBOX.c.channel == channel,
        or_(_OUTBOX.c.next_attempt_at.is_(None), _OUTBOX.c.next_attempt_at <= now),
    )
    return claim_due(session, _OUTBOX, due, order_by=[_OUTBOX.c.distance_m, _OUTBOX.c.id], limit=limit,
                     values={"state": OutboxState.sending, "claimed_at": token})


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
    token = lease_token(now)
    ids = _reclaim(session, channel, token, now, timedelta(seconds=config.fanout_lease_seconds))
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
    token = lease_token(now)
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
    _note_requests_sent(session, [item for item, _ in by_status[Status.sent] if item.kind == RECONFIRM_KIND], now)
    session.commit()
    return counts


def _failure(item: Item, outcome: Outcome, now: datetime, config: Settings) -> dict[str, Any]:
    fails = item.fail_count + 1
    give_up = fails >= config.fanout_max_attempts
    return {"row_id": item.id, "new_state": OutboxState.failed if give_up else OutboxState.queued, "fails": fails,
            "due": None if give_up else now + retry_backoff(config).delay(fails), "claimed": None, "reason": outcome.reason}


def _holds(pairs: list[tuple[Item, Outcome]], now: datetime, config: Settings) -> list[dict[str, Any]]:
    """Keep possibly-accepted rows one group: the lease is set to run out when the retry is due."""
    if not pairs:
        return []
    fails = max(item.fail_count for item, _ in pairs) + 1
    if fails >= config.fanout_max_attempts:
        return [{"row_id": item.id, "new_state": OutboxState.failed, "fails": item.fail_count + 1, "due": None,
                 "claimed": None, "reason": outcome.reason} for item, outcome in pairs]
    expires = now - timedelta(seconds=config.fanout_lease_seconds) + retry_backoff(config).delay(fails)
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


def _note_requests_sent(session: Session, delivered: list[Item], now: datetime) -> None:
    """Re-confirmation requests delivered: their cooperators were asked in this cycle."""
    if delivered:
        session.execute(
            update(Cooperator).where(Cooperator.id.in_([item.cooperator_id for item in delivered]))
            .values(reconfirm_requested_at=now).execution_options(synchronize_session=False)
        )


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
