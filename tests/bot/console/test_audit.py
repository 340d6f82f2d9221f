"""The audit log (issue 13, item 1): rows hold who, what and when by id only; admins filter and
export them; the staff console's own actions write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.console.audit import AuditFilter, audit, audit_csv, audit_entries
from bot.db import session_scope
from bot.models import StaffUser
from bot.models.console import AuditEntry
from bot.models.staff import Role
from tests.bot.console.conftest import StaffAccount

StaffClient = Callable[..., TestClient]


def test_audit_rows_hold_ids_only_and_filter(db_url: str, staff_account: Callable[..., StaffAccount]) -> None:
    sato = staff_account(Role.counter)
    kato = staff_account(Role.counter)
    with session_scope(db_url) as session:
        sato_user, kato_user = session.get(StaffUser, sato.id), session.get(StaffUser, kato.id)
        audit(session, sato_user, "view", "case", 12)
        audit(session, sato_user, "reply", "case", 12)
        audit(session, kato_user, "view", "person", "7")
        old = audit(session, kato_user, "view", "case", 3)
        old.at = datetime.now(timezone.utc) - timedelta(days=10)
    with session_scope(db_url) as session:
        everything = audit_entries(session)
        assert [(entry.action, entry.object_type, entry.object_id) for entry, _ in everything] == [
            ("view", "person", "7"), ("reply", "case", "12"), ("view", "case", "12"), ("view", "case", "3")]
        assert {column.name for column in AuditEntry.__table__.columns} == {
            "id", "at", "staff_user_id", "action", "object_type", "object_id"}, "nothing personal fits in a row"
        by_sato = audit_entries(session, AuditFilter(staff_user_id=sato.id))
        assert {entry.action for entry, _ in by_sato} == {"view", "reply"}
        one_case = audit_entries(session, AuditFilter(object_type="case", object_id="12", action="view"))
        assert [(entry.staff_user_id, user.username) for entry, user in one_case] == [(sato.id, sato.username)]
        recent = audit_entries(session, AuditFilter(since=datetime.now(timezone.utc) - timedelta(days=1)))
        assert len(recent) == 3


def test_csv_export_neutralises_formulas() -> None:
    entry = AuditEntry(id=1, at=datetime(2026, 11, 30, 1, 2, tzinfo=timezone.utc), staff_user_id=None,
                       action="view", object_type="case", object_id="=HYPERLINK(\"x\")")
    rows = list(csv.reader(io.StringIO(audit_csv([(entry, None)]))))
    assert rows[0][:2] == ["id", "at"] and rows[1][-1].startswith("'=")


def test_admins_filter_and_export_the_log(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    counter = staff_client(Role.counter)
    with session_scope(db_url) as session:
        audit(session, session.get(StaffUser, counter.account.id), "view", "case", 42)  # type: ignore[attr-defined]
    page = admin.get("/staff/admin/audit", params={"object_type": "case"})
    assert page.status_code == 200
    assert page.text.count("data-audit=") == 1 and "case 42" in page.text
    export = admin.get("/staff/admin/audit.csv", params={"staff_user_id": counter.account.id})  # type: ignore[attr-defined]
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert {(row["action"], row["object_type"]) for row in rows} == {("login", "staff_user"), ("view", "case")}
    assert {row["username"] for row in rows} == {counter.account.username}  # type: ignore[attr-defined]
    with session_scope(db_url) as session:
        reads = session.scalars(select(AuditEntry).where(AuditEntry.object_type == "audit_log")).all()
        assert {(row.action, row.staff_user_id) for row in reads} == {
            ("view", admin.account.id), ("export", admin.account.id)}, "reading the log is audited too"  # type: ignore[attr-defined]


def test_the_audit_log_filters_by_local_days(staff_client: StaffClient, db_url: str) -> None:
    admin = staff_client(Role.admin)
    with session_scope(db_url) as session:
        user = session.get(StaffUser, admin.account.id)  # type: ignore[attr-defined]
        # 2026-11-29 23:30 in Tokyo is still the 29th there, though UTC says 14:30.
        audit(session, user, "view", "case", 1).at = datetime(2026, 11, 29, 14, 30, tzinfo=timezone.utc)
        audit(session, user, "view", "case", 2).at = datetime(2026, 11, 29, 15, 30, tzinfo=timezone.utc)
    page = admin.get("/staff/admin/audit", params={"since": "2026-11-29", "until": "2026-11-29", "action": "view",
                                                   "object_type": "case"})
    assert "case 1" in page.text and "case 2" not in page.text
