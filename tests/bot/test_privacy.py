"""Retention, disclosure and erasure on real rows, SQLite and PostgreSQL: what a resident said is
deleted on schedule, an abandoned case does not stay forever, a contact goes once nothing needs it,
a second purge erases nothing, and a resident's data can be exported and erased by command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from bot.cli import app as cli
from bot.db import session_scope
from bot.models import Case, CaseKind, CaseStatus, Contact, Conversation, Message, utcnow
from bot.models.casework import CaseNote
from bot.privacy import RETENTION_CLOSE_REASON, ResidentNotFound, erase_resident, purge_expired, resident_data
from bot.settings import settings
from tests.bot.conftest import Resident

PHONE = "090-1234-5678"


def count(url: str, model: type) -> int:
    with session_scope(url) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def report_case(url: str, user_id: str, *, status: CaseStatus = CaseStatus.new) -> int:
    """A worry case the resident reported, with their call-back number (as the worry form stores it)."""
    with session_scope(url) as session:
        contact = session.scalar(select(Contact).where(Contact.channel_user_id == user_id))
        case = Case(kind=CaseKind.worry, topic="elderly", counter_id="mimamori-chuo", status=status,
                    reporter_contact_id=contact.id, callback_consent=True,
                    details={"observation": "新聞がたまっている", "callback_phone": PHONE},
                    closed_at=utcnow() if status == CaseStatus.closed else None)
        session.add(case)
        session.flush()
        return case.id


def purge(url: str, days: int) -> dict[str, int]:
    with session_scope(url) as session:
        return purge_expired(session, utcnow() + timedelta(days=days))


@pytest.fixture
def talked(resident: Resident, db_url: str) -> str:
    # The conversation happens now, so the retention clock of every row starts together.
    resident.now = datetime.now(UTC)
    resident.send("母の介護のことで相談したい")
    resident.send("北区柳町")
    return resident.user_id


def test_messages_and_conversations_go_after_retention_and_the_contact_when_nothing_needs_it(
    talked: str, db_url: str
) -> None:
    assert count(db_url, Message) > 0
    assert all(number == 0 for number in purge(db_url, settings.message_retention_days - 1).values())
    erased = purge(db_url, settings.message_retention_days + 1)
    assert erased["messages deleted"] > 0 and erased["conversations deleted"] == 1
    assert erased["contacts deleted"] == 1
    assert (count(db_url, Message), count(db_url, Conversation), count(db_url, Contact)) == (0, 0, 0)
    assert all(number == 0 for number in purge(db_url, settings.message_retention_days + 1).values()), \
        "a second purge erases nothing"


def test_a_contact_who_reported_a_case_stays_until_the_case_lets_go(talked: str, db_url: str) -> None:
    case_id = report_case(db_url, talked, status=CaseStatus.closed)
    assert purge(db_url, settings.message_retention_days + 1)["contacts deleted"] == 0
    erased = purge(db_url, settings.closed_case_retention_days + 1)
    assert erased["closed cases anonymised"] == 1 and erased["contacts deleted"] == 1
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        assert case.details == {} and case.reporter_contact_id is None
        assert (case.topic, case.counter_id) == ("elderly", "mimamori-chuo"), "statistics stay"


def test_staff_notes_go_with_the_closed_case_they_are_about(talked: str, db_url: str) -> None:
    case_id = report_case(db_url, talked, status=CaseStatus.closed)
    with session_scope(db_url) as session:
        session.add(CaseNote(case_id=case_id, author="tanaka", text="長女 090-1111-2222 に連絡済み"))
        session.get(Case, case_id).details = {}  # a case whose details went already: its note must go anyway
    assert purge(db_url, settings.closed_case_retention_days - 1)["closed cases anonymised"] == 0
    assert count(db_url, CaseNote) == 1
    assert purge(db_url, settings.closed_case_retention_days + 1)["closed cases anonymised"] == 1
    assert count(db_url, CaseNote) == 0
    assert purge(db_url, settings.closed_case_retention_days + 1)["closed cases anonymised"] == 0, "idempotent"


def test_an_abandoned_open_case_is_closed_and_anonymised(talked: str, db_url: str) -> None:
    case_id = report_case(db_url, talked)
    assert purge(db_url, settings.closed_case_retention_days - 1)["abandoned cases closed and anonymised"] == 0
    assert purge(db_url, settings.closed_case_retention_days + 1)["abandoned cases closed and anonymised"] == 1
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        assert (case.status, case.close_reason, case.details) == (CaseStatus.closed, RETENTION_CLOSE_REASON, {})


def test_export_lists_what_is_kept_and_erasure_removes_it_but_keeps_the_report(talked: str, db_url: str) -> None:
    case_id = report_case(db_url, talked)
    with session_scope(db_url) as session:
        data = resident_data(session, "console", talked)
    assert "北区柳町" in [message["text"] for message in data["messages"]]
    assert [case["case"] for case in data["cases_reported"]] == [case_id]
    assert data["cases_reported"][0]["details"]["callback_phone"] == PHONE
    with session_scope(db_url) as session:
        erased = erase_resident(session, "console", talked)
    assert erased["contacts deleted"] == 1 and erased["messages deleted"] == len(data["messages"])
    assert (count(db_url, Message), count(db_url, Contact)) == (0, 0)
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        assert case.details == {"observation": "新聞がたまっている"}
        assert case.reporter_contact_id is None and not case.callback_consent
        with pytest.raises(ResidentNotFound):
            resident_data(session, "console", talked)


def test_the_commands_export_and_erase(resident: Resident, db_url: str) -> None:
    resident.send("母の介護のことで相談したい")
    exported = CliRunner().invoke(cli, ["resident", "export", "console", resident.user_id])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["contact"]["user_id"] == resident.user_id
    refused = CliRunner().invoke(cli, ["resident", "erase", "console", resident.user_id], input="n\n")
    assert refused.exit_code == 1 and count(db_url, Contact) == 1
    erased = CliRunner().invoke(cli, ["resident", "erase", "console", resident.user_id, "--yes"])
    assert erased.exit_code == 0 and count(db_url, Contact) == 0
    missing = CliRunner().invoke(cli, ["resident", "export", "console", resident.user_id])
    assert missing.exit_code == 1 and resident.user_id in missing.output
