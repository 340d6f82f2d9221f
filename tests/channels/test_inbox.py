"""The durable inbox: events stored before they are acknowledged, claimed in order per resident
under a lease, resumed after a crash, answered late by push, refused with 503 when the database
is down, purged after retention. (The kill -9 test is tests/channels/test_inbox_crash.py.)"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from bot.app import build_engine, create_app, run_turns
from bot.db import session_scope
from bot.domain import load_domain
from bot.housekeeping import run_due_jobs
from bot.messages import InboundMessage
from bot.metrics import REGISTRY
from bot.models import Contact, InboxEvent, InboxState, Message, MessageDirection, utcnow
from bot.models.conversations import STAFF_MESSAGE_KIND
from channels import inbox as inbox_module
from channels import line as line_module
from channels.inbox import Inbox, NewEvent
from tests.channels.conftest import TELEGRAM_SECRET, channel_settings, drain, open_client
from tests.fakes.line import FakeLineAPI, LineEvents
from tests.fakes.telegram import FakeTelegramAPI, TelegramUpdates

CRISIS = "もう死にたい"
UNREACHABLE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:1/test"


def crisis_opening(channel: str = "line") -> str:
    """What the crisis guidance says before its list of hotlines, as domain.yml words it on ``channel``."""
    marker = "\x00hotlines\x00"
    return load_domain().text("utter_crisis", "ja", channel, hotlines=marker).split(marker)[0]


def rows(url: str) -> list[InboxEvent]:
    with session_scope(url) as session:
        return list(session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


def age_claim(url: str, event_id: str, by: timedelta) -> None:
    """Move an event's claim (or last attempt) back in time, as if that much had passed."""
    with session_scope(url) as session:
        row = session.scalars(select(InboxEvent).where(InboxEvent.event_id == event_id)).one()
        assert row.claimed_at is not None
        row.claimed_at -= by


def new(event_id: str, resident: str) -> NewEvent:
    return NewEvent(event_id=event_id, resident=resident, payload={"id": event_id})


# --------------------------------------------------------------------------- storing and claiming


def test_a_repeated_event_id_is_stored_once(db_url: str) -> None:
    inbox = Inbox(db_url)
    assert inbox.insert("line", [new("e1", "U1"), new("e2", "U1")]) == ["U1", "U1"]
    assert inbox.insert("line", [new("e1", "U1"), new("e3", "U2")]) == ["U2"], "e1 is a duplicate"
    assert inbox.insert("telegram", [new("e1", "77")]) == ["77"], "event ids are per channel"
    assert [(row.channel, row.event_id, row.state) for row in rows(db_url)] == [
        ("line", "e1", InboxState.pending), ("line", "e2", InboxState.pending),
        ("line", "e3", InboxState.pending), ("telegram", "e1", InboxState.pending)]


def test_a_residents_events_are_claimed_one_at_a_time_in_order(db_url: str) -> None:
    inbox, other_worker = Inbox(db_url), Inbox(db_url)
    inbox.insert("line", [new("e1", "U1"), new("e2", "U1"), new("e3", "U2")])
    first = inbox.claim_next("line", "U1")
    assert first is not None and first.event_id == "e1"
    assert other_worker.claim_next("line", "U1") is None, "e1 is being processed; e2 waits for it"
    assert other_worker.claim_next("line", "U2").event_id == "e3", "another resident is not held up"
    assert inbox.finish(first, inbox_module.Answer.reply)
    second = other_worker.claim_next("line", "U1")
    assert second is not None and second.event_id == "e2"
    [e1, *_] = rows(db_url)
    assert (e1.state, e1.payload, e1.answered_with) == (InboxState.done, None, "reply"), "payload erased"


def test_two_servers_on_one_database_take_each_event_once_and_in_order(db_url: str) -> None:
    residents = [f"U{number}" for number in range(8)]
    Inbox(db_url).insert("line", [new(f"{resident}-{index}", resident) for index in range(5) for resident in residents])
    taken: list[tuple[str, str]] = []  # (resident, event id) in the order they were claimed
    lock = threading.Lock()

    def serve() -> None:
        inbox = Inbox(db_url)
        for _ in range(3):  # look again: the other server may have held a resident's next event
            for resident in residents:
                while (event := inbox.claim_next("line", resident)) is not None:
                    with lock:
                        taken.append((resident, event.event_id))
                    assert inbox.finish(event, inbox_module.Answer.reply)

    servers = [threading.Thread(target=serve) for _ in range(2)]
    for server in servers:
        server.start()
    for server in servers:
        server.join()
    assert sorted(event_id for _, event_id in taken) == sorted(row.event_id for row in rows(db_url)), "each once"
    for resident in residents:
        assert [event_id for who, event_id in taken if who == resident] == [f"{resident}-{index}" for index in range(5)]
    assert {row.state for row in rows(db_url)} == {InboxState.done}


def test_a_killed_workers_event_is_taken_again_after_its_lease(db_url: str) -> None:
    inbox, other_worker = Inbox(db_url), Inbox(db_url)
    inbox.insert("line", [new("e1", "U1")])
    killed = inbox.claim_next("line", "U1")
    assert killed is not None
    assert other_worker.claim_next("line", "U1") is None, "the lease holds"
    age_claim(db_url, "e1", inbox_module.LEASE)
    taken = other_worker.claim_next("line", "U1")
    assert taken is not None and taken.resumed, "the second attempt knows the turn may have run"
    assert not inbox.finish(killed, inbox_module.Answer.reply), "the first claim is no longer valid"
    assert other_worker.finish(taken, inbox_module.Answer.push)


def test_a_failed_attempt_waits_for_its_back_off_then_gives_up(db_url: str) -> None:
    inbox = Inbox(db_url)
    inbox.insert("line", [new("e1", "U1"), new("e2", "U1")])
    for attempt in range(1, inbox_module.MAX_ATTEMPTS + 1):
        if attempt > 1:
            assert inbox.claim_next("line", "U1") is None, "it waits for its back-off, e2 behind it"
            age_claim(db_url, "e1", inbox_module.BACKOFF.most)
        event = inbox.claim_next("line", "U1")
        assert event is not None and (event.event_id, event.attempts) == ("e1", attempt)
        inbox.release(event)
    assert [row.state for row in rows(db_url)] == [InboxState.failed, InboxState.pending]
    after = inbox.claim_next("line", "U1")
    assert after is not None and after.event_id == "e2", "a given-up event no longer holds the others"


def test_housekeeping_deletes_finished_events_past_retention(db_url: str) -> None:
    inbox = Inbox(db_url)
    inbox.insert("line", [new("old-done", "U1"), new("old-pending", "U2"), new("new-done", "U3")])
    for resident in ("U1", "U3"):
        event = inbox.claim_next("line", resident)
        assert event is not None
        inbox.finish(event, inbox_module.Answer.reply)
    later = utcnow() + timedelta(days=91)
    with session_scope(db_url) as session:
        session.execute(update(InboxEvent).where(InboxEvent.event_id == "new-done").values(received_at=later))
    report = run_due_jobs(db_url, now=later)
    assert report["inbox events deleted"] == 1
    assert [row.event_id for row in rows(db_url)] == ["old-pending", "new-done"], "unanswered events are kept"


# --------------------------------------------------------------------------- through the LINE webhook


@pytest.fixture
async def client(engine_db: str, line_api: FakeLineAPI) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_client(channel_settings(engine_db, line_api_host=line_api.url), ["line"]):
        yield client


def inbox_of(client: httpx.AsyncClient) -> Inbox:
    inbox = client.app.state.channels["line"].inbox  # type: ignore[attr-defined]
    assert inbox is not None
    return inbox


async def post(client: httpx.AsyncClient, line_events: LineEvents, *events: dict[str, Any]) -> httpx.Response:
    body, headers = line_events.body(*events)
    response = await client.post("/webhooks/line", content=body.encode(), headers=headers)
    await drain(client, "line")
    return response


def received(line_api: FakeLineAPI, user_id: str) -> list[str]:
    return [message["text"] for message in line_api.messages_to(user_id)]


async def test_an_event_is_answered_with_its_reply_token_and_its_payload_erased(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    assert (await post(client, line_events, line_events.text("U1", CRISIS))).status_code == 200
    assert received(line_api, "U1")[0].startswith(crisis_opening())
    [row] = rows(engine_db)
    assert (row.state, row.answered_with, row.payload) == (InboxState.done, "reply", None)


def stored_event(event: dict[str, Any]) -> NewEvent:
    return NewEvent(event["webhookEventId"], event["source"]["userId"], event)


async def test_webhooks_arriving_together_share_one_commit_and_are_each_answered(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    """Group commit: webhooks that reach the inbox while a commit is due are stored in one
    transaction (one arrival time), each resident's events still answered in order."""
    inbox, channel = inbox_of(client), client.app.state.channels["line"]  # type: ignore[attr-defined]
    events = [line_events.text(f"U11g{index % 2}", text)
              for index, text in enumerate(["こんにちは", "hello", CRISIS, "help"])]
    await asyncio.gather(*(inbox.store(channel, [stored_event(event)]) for event in events))
    stored = rows(engine_db)
    assert [row.event_id for row in stored] == [event["webhookEventId"] for event in events], "in arrival order"
    assert len({row.received_at for row in stored}) == 1, "one transaction for the four webhooks"
    await drain(client, "line")
    assert [row.state for row in rows(engine_db)] == [InboxState.done] * 4
    answers = received(line_api, "U11g0")
    crisis_at = [index for index, text in enumerate(answers) if text.startswith(crisis_opening())]
    assert crisis_at and crisis_at[0] > 0, "the greeting answered first, then the crisis written after it"


async def test_a_webhook_the_database_refuses_does_not_refuse_those_committed_with_it(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    inbox, channel = inbox_of(client), client.app.state.channels["line"]  # type: ignore[attr-defined]
    good = [line_events.text(f"U12g{index}", CRISIS) for index in range(4)]
    unstorable = NewEvent("unstorable", "U12bad", {"not json": object()})
    outcomes = await asyncio.gather(
        *(inbox.store(channel, [stored_event(event)]) for event in good[:2]), inbox.store(channel, [unstorable]),
        *(inbox.store(channel, [stored_event(event)]) for event in good[2:]), return_exceptions=True)
    assert [isinstance(outcome, SQLAlchemyError) for outcome in outcomes] == [False, False, True, False, False]
    assert [row.event_id for row in rows(engine_db)] == [event["webhookEventId"] for event in good]
    await drain(client, "line")
    assert all(received(line_api, event["source"]["userId"])[0].startswith(crisis_opening()) for event in good)


async def test_an_event_processed_too_late_for_its_reply_token_is_pushed_and_counted(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(line_module, "REPLY_TOKEN_USABLE", timedelta(0))  # every event is late
    counted = {"channel": "line", "answer": "push"}
    pushes_before = REGISTRY.get_sample_value("tsunagu_inbox_answers_total", counted) or 0.0
    assert (await post(client, line_events, line_events.text("U2", CRISIS))).status_code == 200
    assert received(line_api, "U2")[0].startswith(crisis_opening())
    assert not line_api.calls("/reply", successful=False), "an expired token is not tried"
    assert len(line_api.calls("/push")) == 1
    assert [row.answered_with for row in rows(engine_db)] == ["push"]
    assert REGISTRY.get_sample_value("tsunagu_inbox_answers_total", counted) == pushes_before + 1, "counted"


async def test_a_turn_run_before_a_crash_is_answered_from_what_it_stored(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    """The engine committed the turn, then the process died before answering: the next
    attempt finds a duplicate and sends the replies the turn stored. A fresh event whose turn
    already ran (a redelivery after its row was purged) is not answered again."""
    inbox = inbox_of(client)
    channel = client.app.state.channels["line"]  # type: ignore[attr-defined]
    events = {user_id: line_events.text(user_id, CRISIS) for user_id in ("U3crashed", "U3redelivered")}
    for user_id, event in events.items():
        await channel.handle(InboundMessage(channel="line", user_id=user_id, text=CRISIS,
                                            event_id=event["webhookEventId"]))
    # Stored and claimed at once (the app's own sweeps must not take it first), then the crash.
    crashed = events["U3crashed"]
    inbox.insert("line", [NewEvent(crashed["webhookEventId"], "U3crashed", crashed)])
    assert inbox.claim_next("line", "U3crashed") is not None
    age_claim(engine_db, crashed["webhookEventId"], inbox_module.LEASE)
    redelivered = events["U3redelivered"]
    inbox.insert("line", [NewEvent(redelivered["webhookEventId"], "U3redelivered", redelivered)])
    assert not line_api.requests, "nothing was answered before the crash"

    await inbox.sweep()
    await drain(client, "line")
    assert received(line_api, "U3crashed")[0].startswith(crisis_opening())
    assert received(line_api, "U3redelivered") == []
    assert {row.resident: row.answered_with for row in rows(engine_db)} == {
        "U3crashed": "reply", "U3redelivered": "none"}


async def test_a_turn_cut_short_by_a_crash_runs_again(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    """A kill mid-turn leaves nothing of the turn (its transaction is rolled back whole, on
    SQLite too: tests/bot/test_db.py), only the claimed event: the next attempt runs the turn."""
    inbox = inbox_of(client)
    event = line_events.text("U8", CRISIS)
    inbox.insert("line", [NewEvent(event["webhookEventId"], "U8", event)])
    assert inbox.claim_next("line", "U8") is not None
    age_claim(engine_db, event["webhookEventId"], inbox_module.LEASE)  # the process was killed mid-turn

    await inbox.sweep()
    await drain(client, "line")
    assert received(line_api, "U8")[0].startswith(crisis_opening())
    [row] = rows(engine_db)
    assert (row.attempts, row.answered_with) == (2, "reply")


async def test_a_reply_that_got_through_before_a_crash_is_not_sent_again(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    """LINE refusing a reply token that is not yet a minute old means an earlier attempt used it."""
    inbox = inbox_of(client)
    channel = client.app.state.channels["line"]  # type: ignore[attr-defined]
    event = line_events.text("U7", CRISIS)
    result = await channel.handle(InboundMessage(channel="line", user_id="U7", text=CRISIS,
                                                 event_id=event["webhookEventId"]))
    inbox.insert("line", [NewEvent(event["webhookEventId"], "U7", event)])
    assert inbox.claim_next("line", "U7") is not None
    await channel.output.reply(event["replyToken"], "U7", result.replies, language="ja", seed=event["webhookEventId"])
    age_claim(engine_db, event["webhookEventId"], inbox_module.LEASE)  # then the process was killed

    await inbox.sweep()
    await drain(client, "line")
    assert len(line_api.calls("/reply")) == 1 and not line_api.calls("/push"), "no second answer"
    [row] = rows(engine_db)
    assert (row.state, row.attempts, row.answered_with) == (InboxState.done, 2, "reply")


async def test_a_send_that_failed_is_tried_again(
    client: httpx.AsyncClient, line_events: LineEvents, line_api: FakeLineAPI, engine_db: str
) -> None:
    line_api.fail_next("/reply", 500, {"message": "An error occurred in the server"})
    event = line_events.text("U4", CRISIS)
    assert (await post(client, line_events, event)).status_code == 200
    assert received(line_api, "U4") == []
    [row] = rows(engine_db)
    assert (row.state, row.attempts) == (InboxState.pending, 1), "kept for another attempt"

    age_claim(engine_db, event["webhookEventId"], inbox_module.BACKOFF.first)
    await inbox_of(client).sweep()
    await drain(client, "line")
    assert received(line_api, "U4")[0].startswith(crisis_opening())
    assert len(line_api.calls("/reply")) == 1, "answered once"


async def test_a_telegram_update_is_stored_then_answered_once_by_send_message(
    engine_db: str, telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates
) -> None:
    update = telegram_updates.text(82002, CRISIS)
    settings = channel_settings(engine_db, telegram_base_url=telegram_api.base_url)
    async for client in open_client(settings, ["telegram"]):
        answers = []
        for _ in range(2):  # Telegram delivered it again
            response = await client.post("/webhooks/telegram", json=update,
                                         headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
            assert response.status_code == 200
            await drain(client, "telegram")
            answers.append(len(telegram_api.sent_to(82002)))
    assert answers[0] > 0 and answers[1] == answers[0], "answered once"
    assert telegram_api.sent_to(82002)[0]["text"].startswith(crisis_opening("telegram"))
    [row] = rows(engine_db)
    assert (row.event_id, row.state, row.answered_with, row.payload) == (
        str(update["update_id"]), InboxState.done, "send", None)


# --------------------------------------------------------------------------- database down


@pytest.fixture
def unreachable_sqlite(tmp_path: Path) -> tuple[str, Path]:
    """A SQLite database in a directory that does not exist (yet)."""
    path = tmp_path / "not-mounted" / "tsunagu.db"
    return f"sqlite:///{path}", path


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
async def test_database_down_is_503_and_nothing_is_acknowledged_or_answered(
    engine: str, unreachable_sqlite: tuple[str, Path], line_api: FakeLineAPI, line_events: LineEvents
) -> None:
    url = unreachable_sqlite[0] if engine == "sqlite" else UNREACHABLE_POSTGRES
    turns: list[InboundMessage] = []
    app = create_app(channel_settings(url, line_api_host=line_api.url), handler=turns.append,  # type: ignore[arg-type]
                     channel_names=["line"], init_database=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            response = await post(client, line_events, line_events.text("U5", CRISIS))
    assert response.status_code == 503, "LINE redelivers what was not acknowledged"
    assert turns == [] and not line_api.requests


async def test_when_the_database_is_back_the_redelivered_event_is_answered(
    unreachable_sqlite: tuple[str, Path], sqlite_template: Path, line_api: FakeLineAPI, line_events: LineEvents
) -> None:
    url, path = unreachable_sqlite
    app = create_app(channel_settings(url, line_api_host=line_api.url), handler=build_engine(url).handle,
                     channel_names=["line"], init_database=False)
    event = line_events.text("U6", CRISIS)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            assert (await post(client, line_events, event)).status_code == 503
            # The database is back whole: a sweep running meanwhile in a thread must not open a
            # half-copied file (or create an empty one between mkdir and copy), so the directory
            # is filled aside and renamed into place, as a volume is mounted.
            staging = path.parent.with_name("staging")
            staging.mkdir()
            shutil.copy(sqlite_template, staging / path.name)
            staging.rename(path.parent)
            assert (await post(client, line_events, line_events.redelivered(event))).status_code == 200
    assert received(line_api, "U6")[0].startswith(crisis_opening())
    assert [row.answered_with for row in rows(url)] == ["push"], "a redelivered event's token may be spent"


async def test_telegram_database_down_is_503(
    unreachable_sqlite: tuple[str, Path], telegram_api: FakeTelegramAPI, telegram_updates: TelegramUpdates
) -> None:
    turns: list[InboundMessage] = []
    settings = channel_settings(unreachable_sqlite[0], telegram_base_url=telegram_api.base_url)
    app = create_app(settings, handler=turns.append, channel_names=["telegram"],  # type: ignore[arg-type]
                     init_database=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            response = await client.post("/webhooks/telegram", json=telegram_updates.text(82001, CRISIS),
                                         headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
            await app.state.channels["telegram"].tasks.drain()
    assert response.status_code == 503
    assert turns == [] and not telegram_api.calls("/sendMessage")


def test_a_resumed_turn_replays_its_own_replies_not_a_staff_message_written_since(db_url: str) -> None:
    with session_scope(db_url) as session:
        contact = Contact(channel="line", channel_user_id="U-resumed")
        session.add(contact)
        session.flush()
        for direction, kind, text, event_id in (
                (MessageDirection.inbound, "text", "相談したい", "E-resumed"),
                (MessageDirection.outbound, "text", "どんなことでお困りですか。", None),
                (MessageDirection.outbound, STAFF_MESSAGE_KIND, "中央見守り相談室の職員からです。", None)):
            session.add(Message(contact_id=contact.id, direction=direction, channel="line", kind=kind, text=text,
                                channel_event_id=event_id))
            session.flush()
    assert [reply.text for reply in Inbox(db_url).replies_of("line", "E-resumed")] == ["どんなことでお困りですか。"]


# --------------------------------------------------------------------------- turn workers (turn_mode = "worker")


async def wait_until_answered(url: str, count: int, timeout: float = 120) -> None:
    """Until ``count`` events are done (a liveness bound, not a speed figure)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while sum(row.state is InboxState.done for row in rows(url)) < count:
        assert asyncio.get_running_loop().time() < deadline, [row.state for row in rows(url)]
        await asyncio.sleep(0.05)


async def test_with_turn_workers_the_web_process_only_stores_and_a_worker_is_woken_to_answer(
    db_url: str, line_api: FakeLineAPI, line_events: LineEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No periodic sweep: after the worker's start-up, only its wake-up (NOTIFY on PostgreSQL,
    # the poll on SQLite) can bring it an event.
    monkeypatch.setattr(inbox_module, "SWEEP_SECONDS", 3600.0)
    app_settings = channel_settings(db_url, line_api_host=line_api.url, turn_mode="worker", telegram_bot_token="")
    async for client in open_client(app_settings, ["line"]):
        assert (await post(client, line_events, line_events.text("U1", CRISIS))).status_code == 200
        assert [row.state for row in rows(db_url)] == [InboxState.pending], "the web process runs no turn"

        stop = asyncio.Event()
        worker = asyncio.create_task(run_turns(stop, app_settings))
        try:
            await wait_until_answered(db_url, 1)  # left before the worker started: its start-up sweep
            assert (await post(client, line_events, line_events.text("U2", CRISIS))).status_code == 200
            await wait_until_answered(db_url, 2)
            # More residents in one commit than a notification can name: it says "look", and
            # the worker looks for everything due.
            many = [line_events.text(f"U{number:032x}", "こんにちは") for number in range(200)]
            assert (await post(client, line_events, *many)).status_code == 200
            await wait_until_answered(db_url, 202)
        finally:
            stop.set()
            await worker
    assert received(line_api, "U1")[0].startswith(crisis_opening())
    assert received(line_api, "U2")[0].startswith(crisis_opening())
    assert all(received(line_api, event["source"]["userId"]) for event in many)
    assert {row.answered_with for row in rows(db_url)} == {"reply"}
