"""What failed for good is visible and can be sent again (issue 15, item 2): case deliveries and
alert messages in the staff API (``GET /api/staff/failed``, scoped to the staff member's counters)
and on the console (``tsunagu deliver --failed`` / ``--retry-failed``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from alerts.lifecycle import create_from_case
from bot.cli import app as cli
from bot.db import session_scope
from bot.models import AlertStatus, CaseEvent, Delivery, DeliveryState, DeliveryTarget, OutboxItem, OutboxState
from bot.staff_api import create_staff_user, router
from tests.alerts.conftest import add_cooperator, missing_case
from tests.alerts.fanout.conftest import Fakes

DEAD_WEBHOOK = "http://127.0.0.1:1/cases"  # nothing listens: every attempt fails


@pytest.fixture
def failures(fanout_env, db_url: str) -> dict[str, object]:
    """A case of 中央区 whose webhook delivery failed for good, and an alert message that did too."""
    with session_scope(db_url) as session:
        _, chuo_token = create_staff_user(session, "sato", ["mimamori-chuo"], can_approve_alerts=True)
        _, kita_token = create_staff_user(session, "kato", ["mimamori-kita"], can_approve_alerts=True)
        case = missing_case(session, "chuo-1-1")
        target = DeliveryTarget(counter_id="mimamori-chuo", method="webhook", address=DEAD_WEBHOOK, secret="s")
        session.add(target)
        session.flush()
        created = session.scalar(select(CaseEvent.id).where(CaseEvent.case_id == case.id))
        delivery = Delivery(case_id=case.id, case_event_id=created, target_id=target.id, state=DeliveryState.failed,
                            fail_count=10, last_failure_reason="connection refused")
        cooperator = add_cooperator(session, "chuo-1-1", channel="email", address="helper@example.jp")
        alert = create_from_case(session, case)
        alert.status = AlertStatus.active
        message = OutboxItem(alert_id=alert.id, cooperator_id=cooperator.id, kind="alert", channel="email",
                             address="helper@example.jp", state=OutboxState.failed, fail_count=8,
                             last_failure_reason="SMTP 451")
        session.add_all([delivery, message])
        session.flush()
        return {"chuo": chuo_token, "kita": kita_token, "delivery": delivery.id, "message": message.id,
                "case": case.id, "alert": alert.id}


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(router)
    with TestClient(app) as test_client:
        yield test_client


def test_the_staff_api_lists_the_failed_of_ones_own_counters_with_the_resend_command(
    client: TestClient, failures: dict[str, object]
) -> None:
    mine = client.get("/api/staff/failed", headers={"Authorization": f"Bearer {failures['chuo']}"})
    assert mine.status_code == 200
    body = mine.json()
    assert [(row["id"], row["case_id"], row["method"], row["fail_count"]) for row in body["deliveries"]] == [
        (failures["delivery"], failures["case"], "webhook", 10)]
    assert [(row["id"], row["alert_id"], row["channel"]) for row in body["alert_messages"]] == [
        (failures["message"], failures["alert"], "email")]
    assert "helper@example.jp" not in mine.text  # why it failed, not whom
    assert body["resend"] == "tsunagu deliver --retry-failed"
    theirs = client.get("/api/staff/failed", headers={"Authorization": f"Bearer {failures['kita']}"}).json()
    assert theirs["deliveries"] == [] and theirs["alert_messages"] == []
    assert client.get("/api/staff/failed").status_code == 401


def test_the_console_lists_the_failed_and_sends_them_again(
    failures: dict[str, object], fakes: Fakes, db_url: str
) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["deliver", "--failed"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.stdout.splitlines() if "case deliveries" in line or "alert messages" in line]
    assert len(rows) == 2
    assert str(failures["delivery"]) in rows[0] and str(failures["message"]) in rows[1]
    assert "tsunagu deliver --retry-failed" in listed.stderr

    resent = runner.invoke(cli, ["deliver", "--retry-failed"])
    assert resent.exit_code == 0, resent.output
    assert "case deliveries: 1 queued again" in resent.stderr and "alert messages: 1 queued again" in resent.stderr
    assert [address for _, address in fakes.smtp.deliveries] == ["helper@example.jp"]
    with session_scope(db_url) as session:
        delivery = session.get(Delivery, failures["delivery"])
        # Tried again with a fresh count: the dead webhook failed once more, and waits for its retry.
        assert (delivery.state, delivery.fail_count) == (DeliveryState.unprocessed, 1)
        assert session.get(OutboxItem, failures["message"]).state == OutboxState.sent
    again = runner.invoke(cli, ["deliver", "--failed"], env={"COLUMNS": "200"})
    assert "alert messages" not in again.stdout and "case deliveries" not in again.stdout
