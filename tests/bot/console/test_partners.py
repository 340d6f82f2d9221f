"""The admin pages of partner businesses: only the administrator opens them; list with counts,
add, end an agreement, a new invitation code shown once (hash kept), the CSV; each change audited."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.db import session_scope
from bot.models import CaseKind, Contact
from bot.models.console import AuditEntry
from bot.models.partners import Partner, PartnerInvitation
from bot.models.staff import Role
from routing.areas import resolve_town_id
from routing.cases import open_case
from routing.partners import CODE_RE, add_partner, check_invitation, create_invitation, join, record_report

PAGE = "/staff/admin/partners"


def _partner_with_a_report(db_url: str) -> int:
    now = datetime.now(timezone.utc)
    with session_scope(db_url) as session:
        partner = add_partner(session, name="青葉ミルク", type="milk", wards=["minami"], contact="06-2222-3333",
                              agreement_date=date(2026, 4, 1))
        contact = Contact(channel="line", channel_user_id="U-milk")
        session.add(contact)
        session.flush()
        _, code = create_invitation(session, partner.id, now=now)
        reporter = join(session, invitation_id=check_invitation(session, code, now).id, contact_id=contact.id, now=now)
        case, _ = open_case(session, kind=CaseKind.worry, topic="watch", counter_id="mimamori-minami",
                            area=resolve_town_id(session, "minami-1-2"), details={"source": "partner"}, reason="test",
                            channel="line", language="ja", now=now)
        record_report(session, case=case, reporter=reporter, what_seen="newspapers", now=now)
        return partner.id


@pytest.mark.parametrize("role", [Role.counter, Role.alert_desk, Role.manager])
def test_only_the_administrator_opens_them(staff_client: Callable[..., TestClient], db_url: str, role: Role) -> None:
    client = staff_client(role)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data={"name": "x", "type": "gas", "agreement_date": "2026-04-01",
                                   "ward": "kita"}).status_code == 403


def test_the_list_shows_each_partner_with_its_report_count(staff_client: Callable[..., TestClient], db_url: str) -> None:
    partner_id = _partner_with_a_report(db_url)
    page = staff_client(Role.admin).get(PAGE)
    assert page.status_code == 200
    assert "青葉ミルク" in page.text
    assert re.search(rf'<tr data-partner="{partner_id}">.*?data-reports="1"', page.text, re.S)
    assert '<tr data-type="milk"><td>milk</td><td>1</td></tr>' in page.text
    assert '<tr data-ward="minami">' in page.text


def test_add_then_end_an_agreement_audited(staff_client: Callable[..., TestClient], db_url: str) -> None:
    client = staff_client(Role.admin)
    added = client.post(PAGE, data={"name": "あおば運輸", "type": "parcel", "agreement_date": "2026-05-01",
                                    "ward": ["kita", "chuo"], "contact": "配送課"}, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == f"{PAGE}?done=created"
    with session_scope(db_url) as session:
        [partner] = session.scalars(select(Partner)).all()
        assert (partner.type.value, partner.wards, partner.active) == ("parcel", ["kita", "chuo"], True)
        partner_id = partner.id
    ended = client.post(f"{PAGE}/{partner_id}/disable", follow_redirects=False)
    assert ended.status_code == 303
    with session_scope(db_url) as session:
        assert session.get(Partner, partner_id).active is False
        actions = [(entry.action, entry.object_type, entry.object_id) for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.object_type == "partner").order_by(AuditEntry.id))]
        assert actions == [("create", "partner", str(partner_id)), ("disable", "partner", str(partner_id))]
    assert client.post(f"{PAGE}/999/disable").status_code == 404


def test_a_bad_ward_is_refused_with_the_page(staff_client: Callable[..., TestClient], db_url: str) -> None:
    answer = staff_client(Role.admin).post(PAGE, data={"name": "X", "type": "gas", "agreement_date": "2026-04-01",
                                                       "ward": "atlantis"})
    assert answer.status_code == 400 and 'class="error"' in answer.text


def test_an_invitation_code_is_shown_once_and_only_its_hash_kept(staff_client: Callable[..., TestClient],
                                                                 db_url: str) -> None:
    partner_id = _partner_with_a_report(db_url)
    client = staff_client(Role.admin)
    answer = client.post(f"{PAGE}/{partner_id}/invite", data={"uses": "3", "days": "30"}, follow_redirects=False)
    assert answer.status_code == 200
    code = re.search(r'<strong class="code" id="new-code">([^<]+)</strong>', answer.text).group(1)
    assert CODE_RE.fullmatch(code)
    with session_scope(db_url) as session:
        invitation = session.scalar(select(PartnerInvitation).where(
            PartnerInvitation.code_hash == hashlib.sha256(code.encode()).hexdigest()))
        assert invitation is not None and (invitation.max_uses, invitation.created_by) == (3, client.account.username)
        assert invitation.expires_at - invitation.created_at == timedelta(days=30)
    assert code not in client.get(PAGE).text, "shown once"


def test_the_csv_counts_the_period(staff_client: Callable[..., TestClient], db_url: str) -> None:
    _partner_with_a_report(db_url)
    answer = staff_client(Role.admin).get(f"{PAGE}/report.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(row["partner"], row["ward"], row["reports"]) for row in rows if row["group"] == "partner"] == [
        ("青葉ミルク", "minami", "1")]
