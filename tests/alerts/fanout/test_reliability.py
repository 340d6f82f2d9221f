"""The outbox under the failures of issue 15: two installations on one LINE channel, a 409 that is
not ours, senders cut off mid-request, an alert withdrawn after found, rows that failed for good.

Time is moved with the pass's clock, never waited for; the fakes speak the platforms' wire
format (LINE's retry keys with 409 and the accepted request's id, Telegram's deleteMessage).
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from alerts.fanout import outbox
from alerts.fanout.outbox import enqueue_withdrawals, failed_rows, retry_failed
from alerts.fanout.runner import process_outbox
from bot.db import get_engine, session_scope
from bot.models import Alert, AlertStatus, OutboxItem, OutboxState, utcnow
from bot.settings import settings
from tests.alerts.fanout.conftest import City, Fakes, address, enqueue, make_alert, outbox_states, seed

LINE_HELPERS = 10


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _rows(url: str, alert_id: int, kind: str = "alert") -> list[OutboxItem]:
    with session_scope(url) as session:
        rows = list(session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert_id, OutboxItem.kind == kind)
                                    .order_by(OutboxItem.id)))
        session.expunge_all()
        return rows


@pytest.fixture
def second_installation(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """Another database on the same LINE channel (staging beside production, a restored backup)."""
    path = tmp_path / "installation-b.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    yield url
    get_engine(url).dispose()


def test_two_installations_on_one_line_channel_both_deliver_every_row(
    fanout_env, fakes: Fakes, city: City, db_url: str, second_installation: str
) -> None:
    town = next(iter(city.towns))
    installations = {db_url: "a", second_installation: "b"}
    alerts: dict[str, int] = {}
    for url, name in installations.items():
        # The same row ids in both databases: keys made from row ids collided here.
        seed(url, city, [[("line", f"U{name}{n:031x}")] for n in range(LINE_HELPERS)])
        alert_id = alerts[url] = make_alert(url, city, town)
        enqueue(url, alert_id)
        process_outbox(config=settings.model_copy(update={"database_url": url}))
        assert outbox_states(url, alert_id)["sent"] == LINE_HELPERS
    delivered = Counter(fakes.deliveries()["line"])
    assert sorted(delivered) == sorted(f"U{name}{n:031x}" for name in "ab" for n in range(LINE_HELPERS))
    assert set(delivered.values()) == {1}
    assert fakes.line.duplicates_refused == 0
    accepted = set(fakes.line.retry_keys.values())
    for url, alert_id in alerts.items():
        rows = _rows(url, alert_id)
        assert {row.request_id for row in rows} <= accepted and None not in {row.request_id for row in rows}
        assert all(uuid.UUID(row.retry_key).version == 4 for row in rows)


def test_a_409_for_a_key_never_sent_is_not_ours_and_the_rows_go_again_under_a_new_key(
    fanout_env, fakes: Fakes, city: City, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(db_url, city, [[("line", address("line", n))] for n in range(LINE_HELPERS)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    taken = str(uuid.uuid4())
    fakes.line.retry_keys[taken] = "someone-elses-request"  # accepted from another installation
    keys = iter([taken])
    monkeypatch.setattr(outbox, "new_retry_key", lambda: next(keys, None) or str(uuid.uuid4()))

    process_outbox()
    assert fakes.line.duplicates_refused == 1 and fakes.deliveries()["line"] == []
    assert outbox_states(db_url, alert_id)["queued"] == LINE_HELPERS, "a 409 on a new key counted as sent"
    process_outbox(clock=lambda: utcnow() + timedelta(seconds=5))  # after the retry's back-off
    assert sorted(fakes.deliveries()["line"]) == sorted(address("line", n) for n in range(LINE_HELPERS))
    rows = _rows(db_url, alert_id)
    assert {row.state for row in rows} == {OutboxState.sent}
    assert taken not in {row.retry_key for row in rows}
    assert "someone-elses-request" not in {row.request_id for row in rows}


def test_a_409_for_our_own_key_after_a_worker_died_counts_as_sent(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    seed(db_url, city, [[("line", address("line", n))] for n in range(LINE_HELPERS)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    with session_scope(db_url) as session:
        batch = outbox.claim(session, "line", 500, now=utcnow())
    key = batch.items[0].retry_key
    fakes.line.retry_keys[key] = "our-request"  # LINE accepted it; the worker died before reading the answer

    lease = timedelta(seconds=settings.fanout_lease_seconds)
    process_outbox(clock=lambda: utcnow() + lease)
    rows = _rows(db_url, alert_id)
    assert {row.state for row in rows} == {OutboxState.sent}
    assert {row.retry_key for row in rows} == {key} and {row.request_id for row in rows} == {"our-request"}
    assert fakes.deliveries()["line"] == [] and fakes.line.duplicates_refused == 1


def test_a_sender_cut_off_mid_request_leaves_at_most_one_duplicate_per_channel(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    helpers = 60
    mix = ["telegram"] * helpers + ["email"] * helpers
    seed(db_url, city, [[(channel, address(channel, n))] for n, channel in enumerate(mix)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    # The 21st message of each channel is delivered, and its answer never comes: the sender is
    # as good as killed there (its lease is not renewed within the test's seconds).
    fakes.telegram.stall_after(20, delivering=True)
    fakes.smtp.stall_after(20, delivering=True)
    first = threading.Thread(target=process_outbox, kwargs={"channels": ["telegram", "email"]})
    first.start()
    _until(lambda: fakes.telegram.stall.stalled and fakes.smtp.stall.stalled, "both senders to hang")

    fakes.telegram.stall.disarm()
    fakes.smtp.stall.disarm()
    lease = timedelta(seconds=settings.fanout_lease_seconds)
    process_outbox(["telegram", "email"], clock=lambda: utcnow() + lease)  # the next worker, after the lease
    fakes.release()
    first.join(30)

    received = fakes.deliveries()
    for channel in ("telegram", "email"):
        arrivals = Counter(received[channel])
        assert len(arrivals) == helpers, f"{channel}: a cooperator was missed"
        assert sum(arrivals.values()) - helpers <= 1, f"{channel}: {sum(arrivals.values()) - helpers} duplicates"
    assert outbox_states(db_url, alert_id)["sent"] == 2 * helpers


def test_message_ids_are_kept_and_an_ended_alert_is_deleted_on_telegram_and_closed_everywhere(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    mix = ["telegram", "line", "email"] * 4
    helpers = seed(db_url, city, [[(channel, address(channel, n))] for n, channel in enumerate(mix)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    process_outbox()
    sent = {row.cooperator_id: row for row in _rows(db_url, alert_id)}
    on_telegram = {helper.id for helper in helpers if helper.endpoints[0][0] == "telegram"}
    assert all(sent[cooperator].message_id for cooperator in on_telegram)
    assert all(row.request_id for row in sent.values() if row.channel == "line")

    with session_scope(db_url) as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(status=AlertStatus.found))
        added = enqueue_withdrawals(session, alert_id)
    assert added == len(helpers) + len(on_telegram)  # a closing notice each, a deletion on Telegram
    with session_scope(db_url) as session:
        assert enqueue_withdrawals(session, alert_id) == 0  # once
    process_outbox()

    assert sorted(fakes.telegram.deleted) == sorted(
        (address("telegram", n), int(sent[helper.id].message_id))
        for n, helper in enumerate(helpers) if helper.id in on_telegram
    )
    assert {row.cooperator_id for row in _rows(db_url, alert_id, "withdraw")} == on_telegram
    # LINE cannot delete a pushed message, e-mail not at all: the closing notice says the search ended.
    assert {row.cooperator_id for row in _rows(db_url, alert_id, "found")} == {helper.id for helper in helpers}
    assert outbox_states(db_url, alert_id) == {"queued": 0, "sending": 0, "sent": 2 * len(helpers) + len(on_telegram),
                                               "failed": 0, "cancelled": 0}


def test_a_telegram_message_that_cannot_be_deleted_is_left_to_the_closing_notice(
    fanout_env, fakes: Fakes, city: City, db_url: str
) -> None:
    seed(db_url, city, [[("telegram", address("telegram", n))] for n in range(3)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    process_outbox()
    fakes.telegram.sent_messages.clear()  # older than 48 hours, or deleted by the cooperator
    with session_scope(db_url) as session:
        session.execute(update(Alert).where(Alert.id == alert_id).values(status=AlertStatus.cancelled))
        enqueue_withdrawals(session, alert_id)
    process_outbox()
    assert fakes.telegram.deleted == []
    # The alert, then the closing notice: nothing more, nothing lost.
    assert Counter(fakes.deliveries()["telegram"]) == Counter({address("telegram", n): 2 for n in range(3)})
    assert {row.state for row in _rows(db_url, alert_id, "withdraw")} == {OutboxState.sent}
    assert {row.state for row in _rows(db_url, alert_id, "cancelled")} == {OutboxState.sent}


def test_rows_that_failed_for_good_are_listed_and_sent_again_on_request(
    fanout_env, fakes: Fakes, city: City, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "fanout_max_attempts", 1)
    seed(db_url, city, [[("email", address("email", n))] for n in range(3)])
    alert_id = make_alert(db_url, city, next(iter(city.towns)))
    enqueue(db_url, alert_id)
    fakes.smtp.fail_next(3, "554 5.7.1 Rejected for now")
    process_outbox()
    with session_scope(db_url) as session:
        failed = failed_rows(session)
        assert [(row.alert_id, row.channel, row.fail_count) for row in failed] == [(alert_id, "email", 1)] * 3
        assert failed_rows(session, alert_ids=[alert_id + 1]) == []
        assert retry_failed(session) == 3
    process_outbox()
    assert sorted(fakes.deliveries()["email"]) == sorted(address("email", n) for n in range(3))
    with session_scope(db_url) as session:
        assert failed_rows(session) == []
        # An alert that ended meanwhile is not sent again.
        session.execute(update(OutboxItem).values(state=OutboxState.failed))
        session.execute(update(Alert).where(Alert.id == alert_id).values(status=AlertStatus.found))
    with session_scope(db_url) as session:
        assert retry_failed(session) == 0
