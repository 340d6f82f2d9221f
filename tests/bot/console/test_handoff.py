"""Two-way handoff: staff reply to a case's reporter on the reporter's own channel (the fake LINE,
Telegram and Twilio servers receive it), staff then hold the chat — the engine says nothing
but the safety guidance and puts the resident's words on the case — and hand it back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from bot.app import create_app
from bot.console import casework
from bot.console.replies import send_pending
from bot.db import session_scope
from bot.domain import load_domain
from bot.engine import ConversationEngine
from bot.messages import TurnResult
from bot.models import Case, CaseEvent, CaseKind, CaseStatus, Contact, Message
from bot.models.casework import ReplyKind, ReplyState, StaffReply
from bot.settings import Settings, settings
from flows.conversation import SAFETY_RESPONSES
from flows.handoff import STAFF_HANDBACK_RESPONSE
from channels.webchat import COOKIE
from routing.cases import open_case
from tests.bot.conftest import Resident
from tests.channels.conftest import channel_settings
from tests.fakes.line import FakeLineAPI
from tests.fakes.telegram import FakeTelegramAPI
from tests.fakes.twilio import FakeTwilioAPI

LINE_TOKEN = "line-access-token-for-handoff-tests"
TELEGRAM_TOKEN = "123456:telegram-token-for-handoff-tests"
TWILIO_SID = "AC" + "2" * 32
TWILIO_TOKEN = "twilio-auth-token-for-handoff-tests"
COUNTER = "mimamori-kita"
STAFF_WORDS = "見守り相談室の山田です。明日の午前中にお伺いしてもよろしいでしょうか。"
DOMAIN = load_domain()


@pytest.fixture
def platforms(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The fake platforms, and the settings pointing at them."""
    with FakeLineAPI(LINE_TOKEN) as line, FakeTelegramAPI(TELEGRAM_TOKEN) as telegram, \
            FakeTwilioAPI(TWILIO_SID, TWILIO_TOKEN) as twilio:
        values = {"line_channel_access_token": LINE_TOKEN, "line_api_host": line.url,
                  "telegram_bot_token": TELEGRAM_TOKEN, "telegram_base_url": telegram.base_url,
                  "twilio_account_sid": TWILIO_SID, "twilio_auth_token": TWILIO_TOKEN,
                  "twilio_from_number": "+815012345678", "twilio_api_base_url": twilio.url, "redis_url": None}
        for name, value in values.items():
            monkeypatch.setattr(settings, name, value)
        yield {"line": line, "telegram": telegram, "twilio": twilio}


def _case_of(url: str, channel: str, user_id: str, *, consent: bool = True,
             details: dict[str, Any] | None = None) -> int:
    """A worry case reported by the contact (channel, user_id), with or without consent to be contacted."""
    with session_scope(url) as session:
        contact = session.scalar(select(Contact).where(Contact.channel == channel, Contact.channel_user_id == user_id))
        if contact is None:
            contact = Contact(channel=channel, channel_user_id=user_id)
            session.add(contact)
            session.flush()
        case, _ = open_case(session, kind=CaseKind.worry, topic="elderly", counter_id=COUNTER, area=None,
                            details={"noticed": "新聞がたまっている", **(details or {})}, reason="北区の見守り",
                            channel=channel, language="ja", reporter_contact_id=contact.id, callback_consent=consent)
        return case.id


def _reply(url: str, case_id: int, words: str = STAFF_WORDS) -> StaffReply:
    with session_scope(url) as session:
        return casework.reply(session, session.get(Case, case_id), words, author="yamada", domain=DOMAIN)


def _hand_back(url: str, case_id: int) -> StaffReply:
    with session_scope(url) as session:
        return casework.hand_back(session, session.get(Case, case_id), actor="yamada", domain=DOMAIN)


def _send(url: str) -> None:
    run = asyncio.run(send_pending(url, Settings.model_validate(settings.model_dump())))
    assert run.failed == 0 and run.retrying == 0


def _thread(url: str, case_id: int) -> list[casework.ThreadEntry]:
    with session_scope(url) as session:
        return casework.thread(session, session.get(Case, case_id))


def _held(url: str, channel: str, user_id: str) -> int | None:
    with session_scope(url) as session:
        return session.scalar(select(Contact.held_case_id).where(Contact.channel == channel,
                                                                 Contact.channel_user_id == user_id))


def test_a_staff_reply_reaches_the_line_resident_as_a_push_and_holds_the_chat(
        db_url: str, platforms: dict[str, Any]) -> None:
    case_id = _case_of(db_url, "line", "U-resident-1")
    row = _reply(db_url, case_id)
    assert row.state == ReplyState.unprocessed and row.channel == "line"
    assert _held(db_url, "line", "U-resident-1") == case_id

    _send(db_url)

    pushes = platforms["line"].calls("/push")
    assert [call.body["to"] for call in pushes] == ["U-resident-1"]
    assert STAFF_WORDS in pushes[0].body["messages"][0]["text"]
    with session_scope(db_url) as session:
        sent = session.get(StaffReply, row.id)
        assert sent.state == ReplyState.sent and sent.sent_at is not None
    # A second pass sends nothing more.
    _send(db_url)
    assert len(platforms["line"].calls("/push")) == 1
    assert [(entry.who, entry.state) for entry in _thread(db_url, case_id)] == [("staff", "sent")]


def test_a_staff_reply_reaches_the_telegram_resident(db_url: str, platforms: dict[str, Any]) -> None:
    case_id = _case_of(db_url, "telegram", "4242")
    _reply(db_url, case_id)
    _send(db_url)
    sent = platforms["telegram"].sent_to(4242)
    assert len(sent) == 1 and STAFF_WORDS in sent[0]["text"]


def test_a_caller_gets_an_sms_at_the_mobile_they_gave_and_nothing_is_held(
        db_url: str, platforms: dict[str, Any]) -> None:
    case_id = _case_of(db_url, "voice", "+81312345678", details={"callback_phone": "090-1234-5678"})
    row = _reply(db_url, case_id)
    assert row.channel == "sms"
    _send(db_url)
    messages = platforms["twilio"].calls("/Messages.json")
    assert [call.body["To"] for call in messages] == ["+819012345678"]
    assert STAFF_WORDS in messages[0].body["Body"]
    assert _held(db_url, "voice", "+81312345678") is None


def test_no_reply_without_consent_or_to_a_resident_who_blocked_the_bot(db_url: str) -> None:
    without_consent = _case_of(db_url, "line", "U-no-consent", consent=False)
    blocked = _case_of(db_url, "line", "U-blocked")
    with session_scope(db_url) as session:
        session.scalar(select(Contact).where(Contact.channel_user_id == "U-blocked")).active = False
    for case_id in (without_consent, blocked):
        with session_scope(db_url) as session, pytest.raises(casework.CaseActionError):
            casework.reply(session, session.get(Case, case_id), STAFF_WORDS, author="yamada", domain=DOMAIN)
    with session_scope(db_url) as session:
        assert session.scalars(select(StaffReply)).all() == []


def test_a_refused_push_fails_the_reply_for_staff_to_see(db_url: str, platforms: dict[str, Any]) -> None:
    case_id = _case_of(db_url, "line", "U-gone")
    row = _reply(db_url, case_id)
    platforms["line"].fail_next("/push", 400, {"message": "The request body has 1 error(s)"})
    asyncio.run(send_pending(db_url, Settings.model_validate(settings.model_dump())))
    with session_scope(db_url) as session:
        failed = session.get(StaffReply, row.id)
        assert failed.state == ReplyState.failed and failed.fail_count == 1
        assert "LINE 400" in (failed.last_failure_reason or "")
    assert [entry.state for entry in _thread(db_url, case_id)] == ["failed"]


def test_while_held_the_bot_is_quiet_but_the_safety_layer_answers(
        engine: ConversationEngine, db_url: str, platforms: dict[str, Any]) -> None:
    resident = Resident(engine, channel="line", user_id="U-held")
    assert resident.send("こんにちは").replies  # the bot answers before staff hold the chat
    case_id = _case_of(db_url, "line", "U-held")
    _reply(db_url, case_id)

    quiet = resident.send("ありがとうございます。明日の午前中で大丈夫です。")
    assert quiet.replies == [] and quiet.effects == []

    collapsed = resident.send("隣の人が倒れています")
    assert collapsed.replies and all(reply.response in SAFETY_RESPONSES for reply in collapsed.replies)
    assert collapsed.flow is None  # guidance only: staff, not a form, take the matter on
    crisis = resident.send("死にたい")
    assert [reply.response for reply in crisis.replies] == ["utter_crisis"]
    assert crisis.flow is None

    thread = _thread(db_url, case_id)
    assert [entry.who for entry in thread] == ["staff", "resident", "resident", "bot", "resident", "bot"]
    assert thread[1].text == "ありがとうございます。明日の午前中で大丈夫です。"
    assert thread[-1].text == crisis.replies[0].text


def test_handing_back_tells_the_resident_and_restores_the_bot(
        engine: ConversationEngine, db_url: str, platforms: dict[str, Any]) -> None:
    resident = Resident(engine, channel="line", user_id="U-back")
    resident.send("こんにちは")
    case_id = _case_of(db_url, "line", "U-back")
    _reply(db_url, case_id)
    assert resident.send("はい").replies == []

    notice = _hand_back(db_url, case_id)
    assert notice.kind == ReplyKind.handback
    assert _held(db_url, "line", "U-back") is None
    _send(db_url)
    texts = [call.body["messages"][0]["text"] for call in platforms["line"].calls("/push")]
    assert texts[-1] == DOMAIN.text(STAFF_HANDBACK_RESPONSE, "ja", None)

    assert resident.send("こんにちは").replies  # the bot answers again
    with session_scope(db_url) as session:
        kinds = [event.kind for event in session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id))]
        assert kinds.count("resident_message") == 1 and "handed_back" in kinds
        with pytest.raises(casework.CaseActionError):
            casework.hand_back(session, session.get(Case, case_id), actor="yamada", domain=DOMAIN)


def test_closing_a_held_case_hands_the_chat_back(db_url: str, platforms: dict[str, Any]) -> None:
    case_id = _case_of(db_url, "webchat", "session-1")
    row = _reply(db_url, case_id)
    # Web chat: nothing to send, the page fetches it.
    assert row.state == ReplyState.sent
    with session_scope(db_url) as session:
        case = session.get(Case, case_id)
        notice = casework.set_status(session, case, CaseStatus.closed, actor="yamada", reason="訪問して解決",
                                     domain=DOMAIN)
        assert notice is not None and notice.kind == ReplyKind.handback
        assert case.status == CaseStatus.closed and case.closed_at is not None
    assert _held(db_url, "webchat", "session-1") is None
    with session_scope(db_url) as session:
        staff = session.scalars(select(Message.text).where(Message.kind == "staff").order_by(Message.id)).all()
        assert len(staff) == 2 and STAFF_WORDS in staff[0]


def test_a_hold_on_a_case_that_is_gone_is_let_go(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-purged")
    resident.send("こんにちは")
    with session_scope(db_url) as session:
        contact = session.scalar(select(Contact).where(Contact.channel_user_id == "U-purged"))
        contact.held_case_id = 999_999
    assert resident.send("こんにちは").replies
    assert _held(db_url, "line", "U-purged") is None


def test_the_web_chat_page_fetches_staff_replies_for_its_own_resident_only(db_url: str) -> None:
    # Over plain HTTP, so the test client sends the (then not Secure) session cookie back.
    app = create_app(channel_settings(db_url, public_base_url="http://testserver"),
                     handler=lambda message: TurnResult(), channel_names=["webchat"], init_database=False)
    with TestClient(app) as resident, TestClient(app) as stranger:
        resident.post("/webhooks/webchat/messages", json={"id": "open-1", "event": "follow"})
        session_id = resident.cookies[COOKIE].split(".")[0]
        case_id = _case_of(db_url, "webchat", session_id)
        assert resident.get("/webhooks/webchat/updates").json() == {"messages": [], "held": False}

        row = _reply(db_url, case_id)
        found = resident.get("/webhooks/webchat/updates?after=0").json()
        assert found["held"] is True and len(found["messages"]) == 1
        assert STAFF_WORDS in found["messages"][0]["text"]
        with session_scope(db_url) as session:
            assert found["messages"][0]["id"] == session.get(StaffReply, row.id).message_id
        seen = found["messages"][0]["id"]
        assert resident.get(f"/webhooks/webchat/updates?after={seen}").json()["messages"] == []

        stranger.post("/webhooks/webchat/messages", json={"id": "open-2", "event": "follow"})
        assert stranger.get("/webhooks/webchat/updates").json() == {"messages": [], "held": False}


def test_a_hold_on_a_case_closed_without_handing_back_is_let_go(engine: ConversationEngine, db_url: str) -> None:
    resident = Resident(engine, channel="line", user_id="U-closed")
    resident.send("こんにちは")
    case_id = _case_of(db_url, "line", "U-closed")
    _reply(db_url, case_id)
    assert resident.send("はい").replies == []
    with session_scope(db_url) as session:
        # Closed by retention, say: not through the case page, which hands back first.
        session.get(Case, case_id).status = CaseStatus.closed
    assert resident.send("こんにちは").replies
    assert _held(db_url, "line", "U-closed") is None
