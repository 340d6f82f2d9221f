"""The case inbox and the case page: only one's own counters' cases (404 for another counter's,
by URL and by the JSON API), overdue first with the deadline in words, filters and paging, and
the actions — acknowledged, contacted (the first contact), closed with a reason, transfer, notes,
a reply — each changing the case and writing an audit row; a manager reads every counter's cases
and changes none."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.console.cases import TOPIC_LABELS
from bot.db import session_scope
from bot.models import Case, CaseEvent, CaseKind, CaseStatus, Contact, Delivery, DeliveryTarget, utcnow
from bot.models.casework import CaseNote, StaffReply
from bot.models.console import AuditEntry
from bot.models.staff import Role
from bot.taxonomy import DESK_TOPICS, TOPICS
from routing.cases import add_details, open_case
from routing.methods import DETAIL_LABELS

OURS = "mimamori-chuo"
THEIRS = "mimamori-kita"


@pytest.fixture(autouse=True)
def no_background_sending(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages queue replies and deliveries; here the rows themselves are what is checked."""
    monkeypatch.setattr("bot.console.cases.schedule_replies", lambda url=None: None)
    monkeypatch.setattr("bot.console.cases.schedule_delivery", lambda url=None: None)


def _case(url: str, counter: str, *, hours_ago: float = 0, topic: str = "elderly", town: str | None = None,
          channel: str = "line", user_id: str | None = None, consent: bool = True, language: str = "ja") -> int:
    now = utcnow() - timedelta(hours=hours_ago)
    with session_scope(url) as session:
        contact_id = None
        if user_id is not None:
            contact = Contact(channel=channel, channel_user_id=user_id)
            session.add(contact)
            session.flush()
            contact_id = contact.id
        case, _ = open_case(session, kind=CaseKind.worry, topic=topic, counter_id=counter, area=None,
                            details={"noticed": "新聞がたまっている", "since_when": "3日前"}, reason="担当地区の見守り相談室",
                            channel=channel, language=language, reporter_contact_id=contact_id,
                            callback_consent=consent and contact_id is not None, now=now)
        case.town_id = town
        return case.id


def _audited(url: str, action: str, case_id: int) -> int:
    with session_scope(url) as session:
        return len(session.scalars(select(AuditEntry).where(
            AuditEntry.action == action, AuditEntry.object_type == "case", AuditEntry.object_id == str(case_id))).all())


def _get(url: str, case_id: int) -> Case:
    with session_scope(url) as session:
        case = session.get(Case, case_id)
        assert case is not None
        session.expunge(case)
        return case


def _case_ids(html: str) -> list[int]:
    import re

    return [int(number) for number in re.findall(r'data-case-id="(\d+)"', html)]


def test_counter_staff_see_only_their_counters_cases(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    ours = _case(db_url, OURS)
    theirs = _case(db_url, THEIRS)
    client = staff_client(Role.counter, [OURS])

    inbox = client.get("/staff/cases")
    assert inbox.status_code == 200
    assert _case_ids(inbox.text) == [ours]
    assert client.get(f"/staff/cases/{ours}").status_code == 200
    assert client.get(f"/staff/cases/{theirs}").status_code == 404
    assert client.get("/staff/cases/999999").status_code == 404
    # Nor can they change it or read its thread.
    assert client.post(f"/staff/cases/{theirs}/status", data={"status": "acknowledged"}).status_code == 404
    assert client.get(f"/staff/cases/{theirs}/thread").status_code == 404
    assert _get(db_url, theirs).status == CaseStatus.new


def test_nor_through_the_json_api(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    theirs = _case(db_url, THEIRS)
    ours = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    bearer = {"Authorization": f"Bearer {client.account.api_token}"}  # type: ignore[attr-defined]
    assert client.get(f"/api/staff/cases/{theirs}", headers=bearer).status_code == 404
    assert client.get(f"/api/staff/cases/{ours}", headers=bearer).status_code == 200


def test_overdue_first_then_newest_with_the_deadline_in_words(
        db_url: str, staff_client: Callable[..., TestClient]) -> None:
    fresh = _case(db_url, OURS, hours_ago=1)
    soon = _case(db_url, OURS, hours_ago=22)
    overdue = _case(db_url, OURS, hours_ago=30)
    older_overdue = _case(db_url, OURS, hours_ago=50)
    client = staff_client(Role.counter, [OURS])
    page = client.get("/staff/cases?lang=en").text
    assert _case_ids(page) == [older_overdue, overdue, fresh, soon]
    assert f'data-case-id="{older_overdue}" data-deadline="overdue"' in page
    assert f'data-case-id="{soon}" data-deadline="soon"' in page
    assert f'data-case-id="{fresh}" data-deadline="ok"' in page
    assert "overdue" in page and "left" in page  # the words, not the colour alone


def test_filters_and_paging(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    money = _case(db_url, OURS, topic="money", town="chuo-1-1")
    elderly = [_case(db_url, OURS, topic="elderly", hours_ago=number / 10) for number in range(26)]
    client = staff_client(Role.counter, [OURS])
    assert _case_ids(client.get("/staff/cases?topic=money").text) == [money]
    assert _case_ids(client.get("/staff/cases?town=chuo-1-1").text) == [money]
    first, second = client.get("/staff/cases?topic=elderly"), client.get("/staff/cases?topic=elderly&page=2")
    assert len(_case_ids(first.text)) == 25 and len(_case_ids(second.text)) == 1
    assert set(_case_ids(first.text)) | set(_case_ids(second.text)) == set(elderly)
    assert _case_ids(client.get("/staff/cases?status=closed").text) == []


def test_viewing_a_case_is_audited(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    page = client.get(f"/staff/cases/{case_id}")
    assert "新聞がたまっている" in page.text and "担当地区の見守り相談室" in page.text
    assert _audited(db_url, "view", case_id) == 1
    english = client.get(f"/staff/cases/{case_id}?lang=en")
    assert english.status_code == 200 and 'lang="en"' in english.text
    assert _audited(db_url, "view", case_id) == 2


def test_a_question_added_after_the_report_reads_as_a_question(db_url: str,
                                                                staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        add_details(session, case, "夜も電気がついていません", source="line")
        add_details(session, case, "いつ連絡もらえますか？", source="line", kind="questions")
    page = staff_client(Role.counter, [OURS]).get(f"/staff/cases/{case_id}").text
    assert f"{DETAIL_LABELS['questions']}：いつ連絡もらえますか？" in page
    assert "夜も電気がついていません" in page and f"{DETAIL_LABELS['questions']}：夜も" not in page


@pytest.mark.parametrize("topic", [*TOPICS, *DESK_TOPICS])
def test_every_topic_a_case_can_have_is_shown_in_words(db_url: str, staff_client: Callable[..., TestClient],
                                                       topic: str) -> None:
    # Seen in Chromium as the alert desk: a missing-person case read 「分野 missing」.
    case_id = _case(db_url, OURS, topic=topic)
    page = staff_client(Role.counter, [OURS]).get(f"/staff/cases/{case_id}").text
    assert f"<dd>{TOPIC_LABELS[topic][0]}</dd>" in page


def test_acknowledge_contact_close_change_the_case_and_are_audited(
        db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])

    answer = client.post(f"/staff/cases/{case_id}/status", data={"status": "acknowledged"}, follow_redirects=False)
    assert answer.status_code == 303
    acknowledged = _get(db_url, case_id)
    assert acknowledged.status == CaseStatus.acknowledged and acknowledged.acknowledged_at is not None
    assert acknowledged.contacted_at is None

    client.post(f"/staff/cases/{case_id}/status", data={"status": "contacted"})
    contacted = _get(db_url, case_id)
    assert contacted.status == CaseStatus.contacted and contacted.contacted_at is not None

    refused = client.post(f"/staff/cases/{case_id}/status", data={"status": "closed", "reason": " "})
    assert refused.status_code == 400 and _get(db_url, case_id).status == CaseStatus.contacted
    assert 'data-testid="error"' in refused.text
    client.post(f"/staff/cases/{case_id}/status", data={"status": "closed", "reason": "訪問して安否を確認"})
    closed = _get(db_url, case_id)
    assert closed.status == CaseStatus.closed and closed.close_reason == "訪問して安否を確認"
    assert [_audited(db_url, action, case_id) for action in ("acknowledged", "contacted", "closed")] == [1, 1, 1]
    with session_scope(db_url) as session:
        steps = [(event.details["from"], event.details["to"], event.actor) for event in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id, CaseEvent.kind == "status").order_by(CaseEvent.id))]
    username = client.account.username  # type: ignore[attr-defined]
    assert steps == [("new", "acknowledged", username), ("acknowledged", "contacted", username),
                     ("contacted", "closed", username)]


def test_a_transfer_is_recorded_and_delivered_to_the_new_counter(
        db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    answer = client.post(f"/staff/cases/{case_id}/transfer", data={"counter_id": THEIRS, "reason": "北区の方でした"},
                         follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == f"/staff/cases?transferred={case_id}"
    assert _get(db_url, case_id).counter_id == THEIRS
    with session_scope(db_url) as session:
        event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                        CaseEvent.kind == "transferred")).one()
        assert event.details == {"from": OURS, "to": THEIRS, "reason": "北区の方でした"}
        targets = session.scalars(select(DeliveryTarget.counter_id).join(
            Delivery, Delivery.target_id == DeliveryTarget.id).where(Delivery.case_event_id == event.id)).all()
        assert targets and set(targets) == {THEIRS}
    assert _audited(db_url, "transfer", case_id) == 1
    # It is now theirs.
    assert client.get(f"/staff/cases/{case_id}").status_code == 404


def test_a_case_goes_only_to_a_counter_that_takes_cases(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    page = client.get(f"/staff/cases/{case_id}").text
    assert 'value="mimamori-kita"' in page and 'value="tel-119"' not in page
    for counter in ("tel-119", "community-honmachi-salon", OURS, "no-such-counter"):
        answer = client.post(f"/staff/cases/{case_id}/transfer", data={"counter_id": counter, "reason": "試し"})
        assert answer.status_code == 400, counter
    assert _get(db_url, case_id).counter_id == OURS
    assert _audited(db_url, "transfer", case_id) == 0


def test_notes_stay_internal(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    client.post(f"/staff/cases/{case_id}/notes", data={"text": "民生委員の田中さんに確認済み"})
    with session_scope(db_url) as session:
        assert session.scalars(select(CaseNote.text).where(CaseNote.case_id == case_id)).all() == ["民生委員の田中さんに確認済み"]
        assert session.scalars(select(StaffReply)).all() == []
    assert "民生委員の田中さんに確認済み" in client.get(f"/staff/cases/{case_id}").text
    assert _audited(db_url, "note", case_id) == 1


def test_a_reply_from_the_page_is_queued_and_holds_the_chat(
        db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS, user_id="U-page")
    without = _case(db_url, OURS, user_id="U-no", consent=False, language="ne")
    client = staff_client(Role.counter, [OURS])
    shown = client.get(f"/staff/cases/{without}").text
    assert 'data-testid="no-reply"' in shown
    assert 'data-language="ne"' in shown, "the language to call back in"

    client.post(f"/staff/cases/{case_id}/reply", data={"text": "明日伺います。"})
    with session_scope(db_url) as session:
        reply = session.scalars(select(StaffReply)).one()
        assert (reply.case_id, reply.channel, reply.author) == (case_id, "line", client.account.username)  # type: ignore[attr-defined]
        assert session.scalar(select(Contact.held_case_id).where(Contact.channel_user_id == "U-page")) == case_id
    page = client.get(f"/staff/cases/{case_id}").text
    assert 'data-testid="held"' in page and "明日伺います。" in page
    assert _audited(db_url, "reply", case_id) == 1

    client.post(f"/staff/cases/{case_id}/handback")
    with session_scope(db_url) as session:
        assert session.scalar(select(Contact.held_case_id).where(Contact.channel_user_id == "U-page")) is None
    assert _audited(db_url, "hand_back", case_id) == 1


def test_a_manager_reads_every_counter_and_changes_nothing(
        db_url: str, staff_client: Callable[..., TestClient]) -> None:
    ours, theirs = _case(db_url, OURS), _case(db_url, THEIRS)
    manager = staff_client(Role.manager)
    assert set(_case_ids(manager.get("/staff/cases").text)) == {ours, theirs}
    page = manager.get(f"/staff/cases/{theirs}").text
    assert 'action="/staff/cases/' not in page  # no action forms
    assert manager.post(f"/staff/cases/{theirs}/status", data={"status": "acknowledged"}).status_code == 403
    assert _get(db_url, theirs).status == CaseStatus.new


def test_a_change_without_the_csrf_token_is_refused(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS)
    client = staff_client(Role.counter, [OURS])
    headers: Any = {key: value for key, value in client.headers.items() if key.lower() != "x-csrf-token"}
    client.headers.clear()
    client.headers.update(headers)
    assert client.post(f"/staff/cases/{case_id}/status", data={"status": "acknowledged"}).status_code == 403
    assert _get(db_url, case_id).status == CaseStatus.new


def test_a_missing_person_case_shows_its_own_ending(db_url: str, staff_client: Callable[..., TestClient]) -> None:
    case_id = _case(db_url, OURS, hours_ago=30)
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        case.kind, case.status = CaseKind.missing, CaseStatus.found
    client = staff_client(Role.counter, [OURS])
    inbox = client.get("/staff/cases?lang=en").text
    assert f'data-case-id="{case_id}" data-deadline="done"' in inbox and "Found" in inbox
    page = client.get(f"/staff/cases/{case_id}").text
    assert 'data-status="found"' in page
    assert 'data-action="contacted"' not in page and 'data-action="closed"' in page
    # The search ends on the alert desk, not here.
    refused = client.post(f"/staff/cases/{case_id}/status", data={"status": "cancelled"})
    assert refused.status_code == 400 and _get(db_url, case_id).status == CaseStatus.found
