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
* **Retry keys.** A LINE group's ``X-Line-Retry-Key`` is a random UUID stored on its
  rows when they are claimed (unique per installation and per row set: a second
  database on the same LINE channel never reuses one), kept while the send may have
  been accepted (``hold``, a worker that died) and cleared when a row goes back to the
  queue. LINE's 409 counts as sent only for a key that was sent before (see
  ``alerts.fanout.senders.LineSender``).
* **Screen.** Before sending, rows of cooperators who unsubscribed are cancelled,
  rows in a cooperator's quiet hours wait until those end (a missing-person alert and
  its notices do not, unless the cooperator opted out of night alerts), and rows whose
  endpoint was deactivated move to the cooperator's next endpoint. A sighting the desk
  forwards to the family or the police has no cooperator and is sent as it is.
* **Record.** ``sent``; ``later`` (429 / RetryAfter: back to the queue after the
  wait, the fail count untouched — nothing is lost to a rate limit); ``retry`` (fail
  count + 1, exponential back-off, ``failed`` after ``fanout_max_attempts``);
  ``hold`` (like retry, but the rows stay one group under the lease, for sends that
  may have been accepted); ``gone`` (the platform says the user blocked the bot or
  does not exist: the endpoint is deactivated and the row moves to the next one);
  ``failed``. Every update is guarded by the lease token, so a worker that lost its
  lease cannot overwrite what another one did. A sent row keeps the platform's ids
  (LINE's request id, Telegram's message id).
* **Failed.** :func:`failed_rows` lists the rows that exhausted their attempts (staff
  API, ``tsunagu deliver --failed``); :func:`retry_failed` queues them again.
* **Withdraw.** :func:`enqueue_withdrawals`, once an alert is found or cancelled:
  everyone it reached gets the closing notice, and a cooperator reached on Telegram a
  ``withdraw`` row too, which deletes the alert's messages from the chat.

A ``found`` or ``cancelled`` notice goes only to cooperators whose alert was sent:
rows still in flight when staff end an alert get theirs when they are recorded. A
re-confirmation request that was sent marks its cooperator as asked in this cycle.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, and_, bindparam, func, or_, select, update
from sqlalchemy.orm import Session

from alerts.fanout.enqueue import queue_notices
from alerts.fanout.items import (
    ALERT_KINDS,
    WITHDRAW_KIND,
    RECONFIRM_KIND,
    Batch,
    Item,
    Outcome,
    Status,
    configured_channels,
    quiet_until,
)
from bot.models import Alert, AlertStatus, Contact, Cooperator, CooperatorEndpoint, OutboxItem, OutboxState, utcnow
from bot.settings import Settings, settings
from bot.workqueue import Backoff, claim_due, lease_expired, lease_token, renew_claims

__all__ = [
    "FailedRow",
    "claim",
    "enqueue_withdrawals",
    "failed_rows",
    "message_ids",
    "new_retry_key",
    "next_due",
    "record",
    "renew",
    "retry_backoff",
    "retry_failed",
]

log = logging.getLogger(__name__)

_OUTBOX = cast(Table, OutboxItem.__table__)
# Channels whose messages a withdraw deletes (the closing notice goes to every channel).
DELETABLE_CHANNELS = ("telegram",)


def new_retry_key() -> str:
    """A fresh ``X-Line-Retry-Key``: random, so no other installation can hold it."""
    return str(uuid.uuid4())


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
    if channel == "line":
        _key_groups(session, batch)
    session.commit()
    return batch


def _key_groups(session: Session, batch: Batch) -> None:
    """Give each group of a LINE batch its retry key, stored before anything is sent.

    A group whose rows already share a key (taken back from a worker that died, or held
    after a time-out) keeps it, so LINE refuses a repeat; any other group gets a new one.
    """
    stored = {row_id: key for row_id, key in session.execute(
        select(OutboxItem.id, OutboxItem.retry_key).where(OutboxItem.id.in_([item.id for item in batch.items]))
    )}
    keyed: list[Item] = []
    for items in batch.groups().values():
        keys = {stored.get(item.id) for item in items}
        kept = next(iter(keys)) if len(keys) == 1 else None
        key = kept or new_retry_key()
        if kept is None:
            session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_([item.id for item in items])).values(retry_key=key))
        keyed += [replace(item, retry_key=key, new_key=kept is None) for item in items]
    batch.items = keyed


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
            OutboxItem.distance_m, OutboxItem.fail_count, func.coalesce(Cooperator.language, Contact.language, "ja"),
            Cooperator.active, Cooperator.quiet_start, Cooperator.quiet_end, Cooperator.night_alerts,
            CooperatorEndpoint.active,
        )
        # A forwarded sighting goes to the family (a contact) or the police: no cooperator to screen.
        .outerjoin(Cooperator, Cooperator.id == OutboxItem.cooperator_id)
        .outerjoin(Contact, Contact.id == OutboxItem.contact_id)
        .outerjoin(CooperatorEndpoint, endpoint)
        .where(OutboxItem.id.in_(ids))
        .order_by(OutboxItem.distance_m, OutboxItem.id)
    ).all()
    unsubscribed, quiet, moved = [], [], []
    for (row_id, alert_id, cooperator_id, kind, address, distance, fails, language, active, qs, qe, night,
         reachable) in rows:
        # A missing person is searched for at night too: quiet hours hold only the yearly
        # re-confirmation request, or everything for a cooperator who opted out of night alerts.
        held_at_night = kind == RECONFIRM_KIND or not night
        if cooperator_id is None:
            batch.items.append(Item(row_id, alert_id, cooperator_id, kind, address, distance, fails, language))
        elif not active:
            unsubscribed.append(row_id)
        elif not reachable:
            moved.append((row_id, cooperator_id))
        elif held_at_night and (until := quiet_until(now, qs, qe, config)) is not None:
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
            .values(state=OutboxState.queued, claimed_at=None, next_attempt_at=bindparam("due"), retry_key=None),
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
        .values(claimed_at=None, retry_key=None, **values)
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
    token, still = renew_claims(session, _OUTBOX, [item.id for item in items], column="claimed_at",
                                token=batch.lease, now=now, held=_OUTBOX.c.state == OutboxState.sending)
    session.commit()
    batch.lease = token
    if len(still) < len(items):
        log.warning("%s: %d of %d rows were taken back by another worker", batch.channel, len(items) - len(still),
                    len(items))
    return len(still)


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
        Counts by what happened: sent, later, retry, hold, gone, failed; ``lost`` for rows
        another worker took back (nothing is written for them: the batch should stop).
    """
    config = config or settings
    mine = and_(_OUTBOX.c.state == OutboxState.sending, _OUTBOX.c.claimed_at == batch.lease)
    held = set(session.scalars(select(_OUTBOX.c.id).where(_OUTBOX.c.id.in_([item.id for item, _ in results]), mine)))
    by_status: dict[Status, list[tuple[Item, Outcome]]] = {status: [] for status in Status}
    for item, outcome in results:
        if item.id in held:
            by_status[outcome.status].append((item, outcome))
    counts: Counter[str] = Counter({status.value: len(pairs) for status, pairs in by_status.items() if pairs})
    if len(held) < len(results):
        counts["lost"] = len(results) - len(held)
        log.warning("%s: %d rows were taken back by another worker", batch.channel, counts["lost"])

    sent = [{"row_id": item.id, "request": outcome.request_id, "message": outcome.message_id}
            for item, outcome in by_status[Status.sent]]
    if sent:
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), mine)
            .values(state=OutboxState.sent, sent_at=now, last_failure_reason=None, request_id=bindparam("request"),
                    message_id=bindparam("message")),
            sent,
        )
    later = [{"row_id": item.id, "due": now + timedelta(seconds=outcome.after), "reason": outcome.reason}
             for item, outcome in by_status[Status.later]]
    if later:
        # Back in the queue: the next claim groups it anew, under a new retry key.
        session.execute(
            update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), mine)
            .values(state=OutboxState.queued, claimed_at=None, next_attempt_at=bindparam("due"),
                    last_failure_reason=bindparam("reason"), retry_key=None),
            later,
        )
    failures = [_failure(item, outcome, now, config) for item, outcome in by_status[Status.retry]]
    failures += [{"row_id": item.id, "new_state": OutboxState.failed, "fails": item.fail_count + 1, "due": None,
                  "claimed": None, "reason": outcome.reason} for item, outcome in by_status[Status.failed]]
    failures += _holds(by_status[Status.hold], now, config)
    # A held group keeps its retry key (LINE may have accepted it); any other row gets a new one.
    held = [failure for failure in failures if failure["new_state"] == OutboxState.sending]
    requeued = [failure for failure in failures if failure["new_state"] != OutboxState.sending]
    for rows, values in ((held, {}), (requeued, {"retry_key": None})):
        if rows:
            session.execute(
                update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"), mine)
                .values(state=bindparam("new_state"), fail_count=bindparam("fails"), next_attempt_at=bindparam("due"),
                        claimed_at=bindparam("claimed"), last_failure_reason=bindparam("reason"), **values),
                rows,
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
        enqueue_withdrawals(session, alert_id, cooperator_ids=cooperators, now=now)


def _note_requests_sent(session: Session, delivered: list[Item], now: datetime) -> None:
    """Re-confirmation requests delivered: their cooperators were asked in this cycle."""
    if delivered:
        session.execute(
            update(Cooperator).where(Cooperator.id.in_([item.cooperator_id for item in delivered]))
            .values(reconfirm_requested_at=now).execution_options(synchronize_session=False)
        )


# --------------------------------------------------------------------------- withdrawing an ended alert


def enqueue_withdrawals(
    session: Session, alert_id: int, *, cooperator_ids: Sequence[int | None] | None = None, now: datetime | None = None
) -> int:
    """Withdraw a found or cancelled alert's messages from the cooperators who were sent them.

    Everyone the alert reached gets the closing notice saying the search has ended
    (queued here unless it already is: LINE has no deletion of pushed messages, e-mail
    and SMS none at all). Where the platform lets a bot delete its messages (Telegram
    ``deleteMessage``, by the message ids stored when they were sent), a ``withdraw``
    row deletes them as well. Runs in the caller's transaction; kick the senders after
    committing. Running it again adds nothing.

    Args:
        session: the caller's session.
        alert_id: the alert, already found or cancelled.
        cooperator_ids: only these cooperators (default: everyone the alert reached).
        now: the current time (aware); the rows are due from then.

    Returns:
        The number of rows added.

    Raises:
        ValueError: the alert has not ended.
    """
    now = now or utcnow()
    status = session.scalar(select(Alert.status).where(Alert.id == alert_id))
    if status not in (AlertStatus.found, AlertStatus.cancelled):
        raise ValueError(f"alert {alert_id} has not ended ({status}): nothing to withdraw")
    wanted = None if cooperator_ids is None else set(cooperator_ids)
    reached = {(cooperator_id, channel) for cooperator_id, channel in session.execute(
        select(OutboxItem.cooperator_id, OutboxItem.channel)
        .where(OutboxItem.alert_id == alert_id, OutboxItem.kind.in_(ALERT_KINDS), OutboxItem.state == OutboxState.sent)
    ) if wanted is None or cooperator_id in wanted}
    everyone = {cooperator_id for cooperator_id, _ in reached}
    deletable = {cooperator_id for cooperator_id, channel in reached if channel in DELETABLE_CHANNELS}
    added = queue_notices(session, alert_id, status.value, cooperator_ids=everyone, now=now) if everyone else 0
    if deletable:
        added += queue_notices(session, alert_id, WITHDRAW_KIND, cooperator_ids=deletable, now=now)
    return added


def message_ids(session: Session, items: Sequence[Item]) -> dict[int, list[str]]:
    """Per ``withdraw`` row, the stored ids of the alert messages sent to its cooperator there."""
    wanted = {(item.alert_id, item.cooperator_id, item.address): item.id for item in items}
    found: dict[int, list[str]] = {item.id: [] for item in items}
    rows = session.execute(
        select(OutboxItem.alert_id, OutboxItem.cooperator_id, OutboxItem.address, OutboxItem.message_id)
        .where(OutboxItem.alert_id.in_({item.alert_id for item in items}),
               OutboxItem.cooperator_id.in_({item.cooperator_id for item in items}),
               OutboxItem.kind.in_(ALERT_KINDS), OutboxItem.state == OutboxState.sent,
               OutboxItem.message_id.is_not(None))
        .order_by(OutboxItem.id)
    )
    for alert_id, cooperator_id, address, message_id in rows:
        if (row_id := wanted.get((alert_id, cooperator_id, address))) is not None:
            found[row_id].append(message_id)
    return found


# --------------------------------------------------------------------------- failed for good


@dataclass(frozen=True)
class FailedRow:
    """An outbox row that exhausted its attempts (no address: the staff need the why, not whom)."""

    id: int
    alert_id: int | None
    kind: str
    channel: str
    fail_count: int
    reason: str | None


def failed_rows(session: Session, alert_ids: Sequence[int] | None = None) -> list[FailedRow]:
    """The outbox rows that failed for good, newest first (only of ``alert_ids`` when given)."""
    query = (
        select(OutboxItem.id, OutboxItem.alert_id, OutboxItem.kind, OutboxItem.channel, OutboxItem.fail_count,
               OutboxItem.last_failure_reason)
        .where(OutboxItem.state == OutboxState.failed)
        .order_by(OutboxItem.id.desc())
    )
    if alert_ids is not None:
        query = query.where(OutboxItem.alert_id.in_(list(alert_ids)))
    return [FailedRow(*row) for row in session.execute(query)]


def retry_failed(session: Session, ids: Sequence[int] | None = None, *, now: datetime | None = None) -> int:
    """Queue failed rows again with a fresh count of attempts (does not commit; kick after).

    Rows of an alert that has ended since are not sent again: the search is over.

    Args:
        session: the caller's session.
        ids: only these rows; every failed one when None.
        now: the current time (aware); the rows are due from then.

    Returns:
        How many rows were queued again.
    """
    live = or_(_OUTBOX.c.alert_id.is_(None), _OUTBOX.c.kind.not_in(ALERT_KINDS),
               _OUTBOX.c.alert_id.in_(select(Alert.id).where(Alert.status == AlertStatus.active)))
    statement = update(_OUTBOX).where(_OUTBOX.c.state == OutboxState.failed, live)
    if ids is not None:
        statement = statement.where(_OUTBOX.c.id.in_(list(ids)))
    result = session.execute(statement.values(state=OutboxState.queued, fail_count=0, next_attempt_at=now or utcnow(),
                                              claimed_at=None, retry_key=None))
    return cast(CursorResult[Any], result).rowcount


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
