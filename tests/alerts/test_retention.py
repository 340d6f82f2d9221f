"""The purge of an ended alert on SQLite and PostgreSQL: everything the family gave goes on
schedule — the case's details with the call-back phone and the copies its events made, the
family's messages in every conversation since the report (a location sent outside the
report conversation included), their slots, their links to the alert — with the CAP
messages' content; nothing of other residents or from before the report; and a second run
rewrites nothing."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from alerts.cap import cap_messages
from alerts.lifecycle import approve, create_from_case, found
from alerts.retention import ERASED_PREFIX, purge_alert, purge_expired_alerts
from bot.db import session_scope
from bot.models import (
    Alert,
    AlertFamily,
    Case,
    CaseEvent,
    CaseKind,
    Contact,
    Conversation,
    Message,
    MessageDirection,
)
from bot.settings import settings
from routing.cases import open_case
from tests.alerts.conftest import MORNING, add_cooperator, missing_case

PHONE = "09033334444"
LOCATION = {"latitude": 34.70123, "longitude": 135.47654, "address": "中央区本町2丁目3-4"}


def _message(session, contact: Contact, conversation: Conversation | None, minutes: float,  # type: ignore[no-untyped-def]
             text: str | None, payload: dict[str, object] | None = None) -> Message:
    message = Message(contact_id=contact.id, conversation_id=conversation.id if conversation else None,
                      direction=MessageDirection.inbound, channel=contact.channel, text=text, payload=payload,
                      kind="location" if payload else "text", created_at=MORNING + timedelta(minutes=minutes))
    session.add(message)
    session.flush()
    return message


def _ended_alert(db_url: str) -> dict[str, int]:
    """A reported, approved and found alert with the family's words in three conversations."""
    with session_scope(db_url) as session:
        add_cooperator(session, "chuo-1-1")
        family = Contact(channel="line", channel_user_id="U-family")
        neighbour = Contact(channel="line", channel_user_id="U-neighbour")
        session.add_all([family, neighbour])
        session.flush()
        report = Conversation(contact_id=family.id, slots={"callback_phone": PHONE}, flow="report_missing",
                              started_at=MORNING - timedelta(minutes=10), updated_at=MORNING)
        later = Conversation(contact_id=family.id, slots={"last_place": "駅前"}, started_at=MORNING + timedelta(hours=2),
                             updated_at=MORNING + timedelta(hours=2))
        other = Conversation(contact_id=neighbour.id, slots={"topic": "ゴミ"}, updated_at=MORNING)
        session.add_all([report, later, other])
        session.flush()
        ids = {
            "last_week": _message(session, family, None, -7 * 24 * 60, "先週の相談").id,
            "before_consent": _message(session, family, report, -9, None, LOCATION).id,
            "report": _message(session, family, report, -8, "父が帰ってこない。090-3333-4444").id,
            "later_location": _message(session, family, later, 120, None, LOCATION).id,
            "neighbour": _message(session, neighbour, other, 5, "隣の家のこと").id,
        }
        case = missing_case(session)
        case.details = {**case.details, "conversation_id": report.id}
        case.reporter_contact_id = family.id
        session.add(CaseEvent(case_id=case.id, kind="report_completed", actor="line", created_at=MORNING,
                              details={"details": dict(case.details)}))
        session.add(CaseEvent(case_id=case.id, kind="details_added", actor="line", created_at=MORNING,
                              details={"details": {"added": "電話は 090-3333-4444"}}))
        alert = create_from_case(session, case, now=MORNING)
        alert.public_fields = {"sex": "male", "age": 80, "clothing": "紺色のジャンパー"}
        approve(session, alert, by="tanaka", now=MORNING + timedelta(minutes=5))
        found(session, alert, by="tanaka", now=MORNING + timedelta(hours=3))
        assert session.scalars(select(AlertFamily.contact_id).where(AlertFamily.alert_id == alert.id)).all() == [
            family.id]
        ids |= {"alert": alert.id, "case": case.id, "report_conversation": report.id, "later": later.id,
                "other": other.id}
        return ids


def test_the_purge_erases_everything_the_family_gave_on_schedule(db_url: str) -> None:
    ids = _ended_alert(db_url)
    retention = timedelta(days=settings.missing_retention_days)
    with session_scope(db_url) as session:
        assert purge_expired_alerts(session, MORNING + retention) == 0, "not before the retention has passed"
        assert session.get(Case, ids["case"]).details["callback_phone"] == PHONE
        assert session.get(Message, ids["later_location"]).payload == LOCATION
    with session_scope(db_url) as session:
        assert purge_expired_alerts(session, MORNING + timedelta(hours=3) + retention) == 1

    with session_scope(db_url) as session:
        case = session.get(Case, ids["case"])
        assert case.details == {} and case.reporter_contact_id is None
        events = json.dumps([event.details for event in case.events], ensure_ascii=False)
        assert "090" not in events and "父" not in events, "no event keeps a copy of the family's words"
        assert any(event.details.get("alert_id") == ids["alert"] for event in case.events), "ids stay"
        for name in ("before_consent", "report", "later_location"):
            message = session.get(Message, ids[name])
            assert (message.text, message.payload) == (None, None), name
        assert session.get(Message, ids["last_week"]).text == "先週の相談", "nothing from before the report"
        assert session.get(Message, ids["neighbour"]).text == "隣の家のこと", "nothing of anyone else"
        assert session.get(Conversation, ids["report_conversation"]).slots == {}
        assert session.get(Conversation, ids["later"]).slots == {}
        assert session.get(Conversation, ids["other"]).slots == {"topic": "ゴミ"}
        assert session.scalars(select(AlertFamily).where(AlertFamily.alert_id == ids["alert"])).all() == []
        alert = session.get(Alert, ids["alert"])
        assert alert.purged and alert.public_fields == {} and alert.description is None
        messages = cap_messages(session, ids["alert"])
        assert [m.msg_type for m in messages] == ["Alert", "Cancel"], "what was issued stays known"
        assert all(m.xml is None for m in messages), "but not what it said about the person"


def test_a_second_purge_rewrites_nothing(db_url: str) -> None:
    ids = _ended_alert(db_url)
    with session_scope(db_url) as session:
        # The message retention erased one text already: the purge does not count (rewrite) it.
        session.get(Message, ids["report"]).text = None
    with session_scope(db_url) as session:
        first = purge_alert(session, session.get(Alert, ids["alert"]), MORNING + timedelta(days=8))
        assert first["messages"] == 2, "the location before consent and the later one; not the erased text"
        assert first["cap messages"] == 2 and first["family links"] == 1 and first["case events"] >= 2
    with session_scope(db_url) as session:
        again = purge_alert(session, session.get(Alert, ids["alert"]), MORNING + timedelta(days=9))
    assert set(again.values()) == {0}


def test_a_family_who_called_loses_their_number_unless_another_open_case_needs_it(db_url: str) -> None:
    with session_scope(db_url) as session:
        caller = Contact(channel="voice", channel_user_id="+819033334444")
        busy = Contact(channel="voice", channel_user_id="+819055556666")
        session.add_all([caller, busy])
        session.flush()
        for contact in (caller, busy):
            case = missing_case(session)
            case.reporter_contact_id = contact.id
            alert = create_from_case(session, case, now=MORNING)
            found(session, alert, by="tanaka", now=MORNING + timedelta(hours=1))
        # The second family also reported something else that is still being worked.
        open_case(session, kind=CaseKind.missing, topic="missing", counter_id="mimamori-chuo", area=None, details={},
                  reason="test", channel="voice", language="ja", reporter_contact_id=busy.id, callback_consent=True,
                  now=MORNING)
        ids = (caller.id, busy.id)
    with session_scope(db_url) as session:
        assert purge_expired_alerts(session, MORNING + timedelta(days=settings.missing_retention_days, hours=2)) == 2
    with session_scope(db_url) as session:
        assert session.get(Contact, ids[0]).channel_user_id == f"{ERASED_PREFIX}{ids[0]}"
        assert session.get(Contact, ids[1]).channel_user_id == "+819055556666", "an open case still needs it"
