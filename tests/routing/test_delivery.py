"""Delivery to counters through a real local SMTP server and a real local webhook receiver.

Both servers refuse the first two attempts; the test moves ``now`` to show the
back-off (first retry after 5 minutes, then every 30), that a retry touches only
the failed targets, and that nothing is ever delivered to another counter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db import session_factory, session_scope
from bot.models import CaseEvent, CaseKind, Delivery, DeliveryState, DeliveryTarget
from bot.settings import settings
from routing.areas import resolve_town_id
from routing.cases import household_key, open_case
from routing.counters import choose_counter
from routing.delivery import MAX_ATTEMPTS, deliver_pending, schedule_delivery
from routing.targets import TargetsError, import_targets
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhookReceiver
from tests.routing.conftest import WORKDAY_MORNING, SampleCity

T0 = WORKDAY_MORNING
SECRET = "s3cret-for-tests"


# --------------------------------------------------------------------------- local servers


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        monkeypatch.setattr(settings, "smtp_host", "127.0.0.1")
        monkeypatch.setattr(settings, "smtp_port", server.port)
        monkeypatch.setattr(settings, "smtp_from", "tsunagu@city.example.jp")
        yield server


@pytest.fixture
def webhook() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver() as receiver:
        yield receiver


# --------------------------------------------------------------------------- helpers


def _worry_case(db_url: str, city: SampleCity, town_name: str = "柳町", *, detail: str = "2-3", now=T0) -> int:  # type: ignore[no-untyped-def]
    with session_scope(db_url) as session:
        town = next(t for t in city.towns if t["town"] == town_name)
        area = resolve_town_id(session, town["town_id"])
        choice = choose_counter(session, intent="report_worry", topic=None, area=area, now=now)
        case, _ = open_case(
            session, kind=CaseKind.worry, topic="watch", counter_id=choice.counter.id, area=area,
            details={"noticed": "新聞が3日分たまっている", "since_when": "3日前", "callback_phone": "09012345678"},
            reason=choice.reason, channel="line", language="ja", household_key=household_key(area, detail, None),
            callback_consent=True, now=now,
        )
        return case.id


def _add_targets(db_url: str, *targets: DeliveryTarget) -> None:
    with session_scope(db_url) as session:
        session.add_all(targets)


def _deliveries(db_url: str, case_id: int) -> dict[str, Delivery]:
    with session_scope(db_url) as session:
        rows = session.scalars(select(Delivery).where(Delivery.case_id == case_id).order_by(Delivery.id)).all()
        for row in rows:
            _ = row.target.method
        session.expunge_all()
        return {row.target.method: row for row in rows}


# --------------------------------------------------------------------------- tests


def test_email_and_webhook_with_retries(
    db_url: str, city: SampleCity, smtp: FakeSMTP, webhook: FakeWebhookReceiver
) -> None:
    url, receiver = webhook.endpoint, webhook
    smtp.fail_next(2)
    receiver.fail_next_attempts(2)
    _add_targets(
        db_url,
        DeliveryTarget(counter_id="mimamori-kita", method="email", address="mimamori-kita@city.example.jp"),
        DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=url, secret=SECRET),
    )
    case_id = _worry_case(db_url, city)
    factory = session_factory(db_url)

    first = deliver_pending(factory, now=T0)
    assert (first.claimed, first.sent, first.retrying, first.failed) == (3, 1, 2, 0)
    rows = _deliveries(db_url, case_id)
    assert rows["console"].state == DeliveryState.sent
    for method in ("email", "webhook"):
        assert rows[method].state == DeliveryState.unprocessed and rows[method].fail_count == 1
        assert rows[method].last_attempt_at == T0 and rows[method].last_failure_reason
    assert "451" in rows["email"].last_failure_reason and "HTTP 500" in rows["webhook"].last_failure_reason

    assert deliver_pending(factory, now=T0 + timedelta(minutes=4)).claimed == 0  # first back-off: 5 min
    second = deliver_pending(factory, now=T0 + timedelta(minutes=5))
    assert (second.claimed, second.retrying) == (2, 2), "a retry touches only the failed targets"
    t1 = T0 + timedelta(minutes=5)
    assert deliver_pending(factory, now=t1 + timedelta(minutes=29)).claimed == 0  # then every 30 min
    third = deliver_pending(factory, now=t1 + timedelta(minutes=30))
    assert (third.claimed, third.sent, third.waiting) == (2, 2, 0)

    rows = _deliveries(db_url, case_id)
    assert rows["console"].last_attempt_at == T0, "the console delivery was not touched again"
    for method in ("email", "webhook"):
        assert rows[method].state == DeliveryState.sent and rows[method].fail_count == 2
        assert rows[method].sent_at == t1 + timedelta(minutes=30)
    assert smtp.attempts == 3 and len(smtp.messages) == 1
    assert receiver.attempts == 3 and len(receiver.accepted) == 1

    [(recipient, subject, text)] = smtp.messages
    assert recipient == "mimamori-kita@city.example.jp"
    assert f"#{case_id}" in subject and "柳町" in subject
    assert "新聞が3日分たまっている" in text and "3日前" in text and "折り返し: 可" in text
    # No staff page exists yet: the e-mail says how to see the case instead of linking to a 404.
    assert "/staff/" not in text and f"cases show {case_id}" in text

    delivered = receiver.accepted[0]
    expected = hmac.new(SECRET.encode(), delivered.raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(delivered.headers["x-tsunagu-signature"], expected)
    payload = delivered.body
    assert payload["event"] == "created" and payload["case"]["id"] == case_id
    assert payload["case"]["kind"] == "worry" and payload["case"]["topic"] == "watch"
    assert payload["case"]["area"]["ward"] == "kita" and payload["case"]["callback_consent"] is True
    assert payload["case"]["details"]["noticed"] == "新聞が3日分たまっている"
    assert "reporter_contact_id" not in json.dumps(payload)


def test_the_e_mails_of_one_pass_share_one_connection(
    db_url: str, city: SampleCity, smtp: FakeSMTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[object] = []
    connect = smtplib.SMTP.connect

    def counting_connect(self: smtplib.SMTP, *args: object, **kwargs: object) -> object:
        opened.append(args)
        return connect(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(smtplib.SMTP, "connect", counting_connect)
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="email", address="kita@city.example.jp"))
    cases = [_worry_case(db_url, city, detail=f"3-{n}") for n in range(1, 4)]

    run = deliver_pending(session_factory(db_url), now=T0)
    assert run.sent == 6  # console + e-mail for each case
    assert sorted(int(subject.split("#")[1].split("（")[0]) for _, subject, _ in smtp.messages) == cases
    assert len(opened) == 1, "one SMTP connection for the batch, not one per message"


def test_a_linked_report_is_delivered_as_an_update(db_url: str, city: SampleCity, webhook: FakeWebhookReceiver) -> None:
    url, receiver = webhook.endpoint, webhook
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=url, secret=SECRET))
    first = _worry_case(db_url, city)
    deliver_pending(session_factory(db_url), now=T0)
    again = _worry_case(db_url, city, now=T0 + timedelta(days=1))
    assert again == first
    run = deliver_pending(session_factory(db_url), now=T0 + timedelta(days=1))
    assert run.sent == 2  # console + webhook, for the new report only
    payloads = [call.body for call in receiver.accepted]
    assert [p["event"] for p in payloads] == ["created", "repeat_report"]
    assert payloads[1]["case"]["report_count"] == 2 and payloads[1]["update"]["details"]["since_when"] == "3日前"


def test_a_dead_target_ends_failed_and_visible(db_url: str, city: SampleCity, webhook: FakeWebhookReceiver) -> None:
    url, receiver = webhook.endpoint, webhook
    receiver.fail_next_attempts(10**6)
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=url, secret=SECRET))
    case_id = _worry_case(db_url, city)
    factory = session_factory(db_url)
    now = T0
    for attempt in range(1, MAX_ATTEMPTS + 1):
        run = deliver_pending(factory, now=now)
        assert run.claimed >= 1
        now += timedelta(minutes=5 if attempt == 1 else 30)
    row = _deliveries(db_url, case_id)["webhook"]
    assert row.state == DeliveryState.failed and row.fail_count == MAX_ATTEMPTS
    assert deliver_pending(factory, now=now + timedelta(days=1)).claimed == 0
    assert receiver.attempts == MAX_ATTEMPTS


def test_a_counter_never_receives_another_counters_case(
    db_url: str, city: SampleCity, webhook: FakeWebhookReceiver
) -> None:
    url, receiver = webhook.endpoint, webhook
    case_id = _worry_case(db_url, city)  # a 北区 case
    with session_scope(db_url) as session:
        stranger = DeliveryTarget(counter_id="mimamori-minami", method="webhook", address=url, secret=SECRET)
        session.add(stranger)
        session.flush()
        created = session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case_id))
        session.add(Delivery(case_id=case_id, case_event_id=created, target_id=stranger.id))
    run = deliver_pending(session_factory(db_url), now=T0)
    assert run.failed == 1 and receiver.attempts == 0
    with session_scope(db_url) as session:
        bad = session.scalar(select(Delivery).where(Delivery.target_id == stranger.id))
        assert bad.state == DeliveryState.failed and "mimamori-minami" in bad.last_failure_reason


def test_parallel_workers_never_send_twice(db_url: str, city: SampleCity, webhook: FakeWebhookReceiver) -> None:
    url, receiver = webhook.endpoint, webhook
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=url, secret=SECRET))
    cases = [_worry_case(db_url, city, detail=f"1-{n}") for n in range(1, 31)]
    factory = session_factory(db_url)
    threads = [threading.Thread(target=deliver_pending, args=(factory,), kwargs={"now": T0}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered = [call.body["case"]["id"] for call in receiver.accepted]
    assert sorted(delivered) == cases
    with session_scope(db_url) as session:
        states = set(session.scalars(select(Delivery.state)))
    assert states == {DeliveryState.sent}


def test_schedule_delivery_sends_in_the_background(sqlite_url: str, city: SampleCity) -> None:
    case_id = _worry_case(sqlite_url, city)
    schedule_delivery(url=sqlite_url)
    deadline = time.monotonic() + 10
    while _deliveries(sqlite_url, case_id)["console"].state != DeliveryState.sent:
        assert time.monotonic() < deadline, "the background pass did not run"
        time.sleep(0.05)


# --------------------------------------------------------------------------- configuration


def test_targets_from_csv_and_yaml(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv_file = tmp_path / "delivery_targets.csv"
    csv_file.write_text(
        "counter_id,method,address,secret\n"
        "mimamori-kita,email,kita@city.example.jp,\n"
        "mimamori-kita,webhook,https://cases.city.example.jp/in,env:KITA_SECRET\n",
        encoding="utf-8",
    )
    active = import_targets(session, csv_file)
    assert {(t.counter_id, t.method) for t in active} == {("mimamori-kita", "email"), ("mimamori-kita", "webhook")}
    yaml_file = tmp_path / "targets.yml"
    yaml_file.write_text(
        "targets:\n"
        "  - {counter_id: mimamori-minami, method: email, address: minami@city.example.jp}\n",
        encoding="utf-8",
    )
    active = import_targets(session, yaml_file)
    assert [(t.counter_id, t.method) for t in active] == [("mimamori-minami", "email")]
    kita = session.scalars(select(DeliveryTarget).where(DeliveryTarget.counter_id == "mimamori-kita")).all()
    assert kita and not any(t.active for t in kita), "targets missing from the file are deactivated"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("counter_id,method,address\nnowhere,email,a@b.jp\n", "line 2, column 'counter_id'"),
        ("counter_id,method,address\nmimamori-kita,fax,0600000000\n", "line 2, column 'method'"),
        ("counter_id,method,address\nmimamori-kita,email,not-an-address\n", "line 2, column 'address'"),
        ("counter_id,method,address\nmimamori-kita,email,a@b.jp\nmimamori-kita,webhook,https://x.jp/h\n",
         "line 3, column 'secret'"),
        ("counter_id,address\nmimamori-kita,a@b.jp\n", "line 1, column 'method'"),
    ],
)
def test_bad_targets_file_names_line_and_column(session: Session, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "targets.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TargetsError) as raised:
        import_targets(session, path)
    assert message in str(raised.value) and "targets.csv" in str(raised.value)


def test_env_secret_is_read_at_send_time(
    db_url: str, city: SampleCity, webhook: FakeWebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, receiver = webhook.endpoint, webhook
    monkeypatch.setenv("KITA_WEBHOOK_SECRET", "from-the-environment")
    _add_targets(db_url, DeliveryTarget(counter_id="mimamori-kita", method="webhook", address=url,
                                        secret="env:KITA_WEBHOOK_SECRET"))
    _worry_case(db_url, city)
    deliver_pending(session_factory(db_url), now=T0)
    delivered = receiver.accepted[0]
    assert delivered.headers["x-tsunagu-signature"] == hmac.new(b"from-the-environment", delivered.raw,
                                                               hashlib.sha256).hexdigest()

