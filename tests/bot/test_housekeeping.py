"""The clock jobs purge an ended alert on schedule (SQLite and PostgreSQL): not a minute
before its retention has passed, then everything the family gave, their phone included."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.db import session_scope
from bot.housekeeping import run_due_jobs
from bot.models import Alert, Case, Message
from bot.settings import settings
from tests.alerts.conftest import MORNING
from tests.alerts.test_retention import PHONE, _ended_alert


def test_the_minute_jobs_purge_an_ended_alert_when_its_retention_has_passed(db_url: str) -> None:
    ids = _ended_alert(db_url)
    due = MORNING + timedelta(hours=3) + timedelta(days=settings.missing_retention_days)
    assert run_due_jobs(db_url, due - timedelta(minutes=1))["ended alerts purged"] == 0
    with session_scope(db_url) as session:
        assert session.get(Case, ids["case"]).details["callback_phone"] == PHONE
    assert run_due_jobs(db_url, due)["ended alerts purged"] == 1
    assert run_due_jobs(db_url, due + timedelta(minutes=1))["ended alerts purged"] == 0, "once"
    with session_scope(db_url) as session:
        case = session.get(Case, ids["case"])
        assert PHONE not in json.dumps([case.details, *[e.details for e in case.events]])
        assert session.get(Message, ids["later_location"]).payload is None
        assert session.get(Alert, ids["alert"]).purged
