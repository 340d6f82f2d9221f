"""Kill -9 the real server right after it acknowledged a burst of crisis messages, or while it
is answering them: every acknowledged event must still be answered, and none twice (issue 15,
defect 3).

The app runs as ``tsunagu serve`` does (uvicorn; a SQLite file, or PostgreSQL) in a subprocess, with the
real line-bot-sdk talking to the fake LINE API in this process. 20 residents each write
「もう死にたい」 at once; the moment the last 200 arrives (or half of the answers have gone)
the server is killed, then started again on the same database. Each event counts as answered when LINE accepted crisis
guidance for it: a reply with its reply token, or a push with the retry key derived from
its event id.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from bot.models import InboxEvent, InboxState, Message, MessageDirection
from bot.settings import settings
from channels.line import derived_retry_key
from tests.channels.conftest import LINE_SECRET, LINE_TOKEN
from tests.channels.test_inbox import CRISIS, crisis_opening
from tests.fakes.line import FakeLineAPI, LineEvents

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RESIDENTS = 20
START_TIMEOUT = 180.0
# The lease of an event the killed server was processing runs 30 s; a wide margin on top.
ANSWER_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(database_url: str, line_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``tsunagu serve`` on ``port``, its output in ``log`` (kept with the test's files)."""
    env = {
        **os.environ,
        "TSUNAGU_ENVIRONMENT": "test",
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_DATA_DIR": str(settings.data_dir),
        "TSUNAGU_LINE_CHANNEL_SECRET": LINE_SECRET,
        "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
        "TSUNAGU_LINE_API_HOST": line_url,
        # The fake LINE's tokens never expire: on a slow or loaded machine a restart or a worker's
        # start-up may take longer than LINE's minute, and the test is about crashes, not clocks.
        "TSUNAGU_LINE_REPLY_TOKEN_SECONDS": "3600",
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-c", f"from bot.app import serve; serve('127.0.0.1', {port})"]
    with log.open("wb") as output:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)


async def wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited during start-up"
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the server did not start in time")


def deliveries(api: FakeLineAPI, event: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """The messages LINE accepted for ``event``: by its reply token or its push retry key."""
    push_key = derived_retry_key(event["webhookEventId"], 0)
    replies = [call.body["messages"] for call in api.calls("/reply") if call.body.get("replyToken") == event["replyToken"]]
    pushes = [call.body["messages"] for call in api.calls("/push") if call.headers.get("X-Line-Retry-Key") == push_key]
    return replies + pushes


def unfinished(engine: Any) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(InboxEvent.__table__)
                                     .where(InboxEvent.state.in_((InboxState.pending, InboxState.processing)))))


# Each moment of the kill on one engine (the suite's time): both engines are killed at many
# moments in test_report_crash.
@pytest.mark.parametrize(("db_url", "kill_after_answers"), [("postgresql", 0), ("sqlite", RESIDENTS // 2)],
                         ids=["postgresql-after-the-last-200", "sqlite-mid-answers"], indirect=["db_url"])
async def test_every_acknowledged_event_is_answered_once_after_kill_9(
    tmp_path: Path, db_url: str, kill_after_answers: int
) -> None:
    url = db_url
    with FakeLineAPI(LINE_TOKEN) as api:
        events_builder = LineEvents(api, LINE_SECRET)
        events = [events_builder.text(f"Ucrash{index:04d}", CRISIS) for index in range(RESIDENTS)]

        base = f"http://127.0.0.1:{free_port()}"
        server = start_server(url, api.url, int(base.rsplit(":", 1)[1]), tmp_path / "killed.log")
        try:
            await wait_until_up(base, server)
            async with httpx.AsyncClient(base_url=base, timeout=30) as client:
                async def send(event: dict[str, Any]) -> int:
                    body, headers = events_builder.body(event)
                    return (await client.post("/webhooks/line", content=body.encode(), headers=headers)).status_code

                statuses = await asyncio.gather(*(send(event) for event in events))
            deadline = time.monotonic() + ANSWER_TIMEOUT
            while (sum(1 for event in events if deliveries(api, event)) < kill_after_answers
                   and time.monotonic() < deadline):
                await asyncio.sleep(0.01)
            server.send_signal(signal.SIGKILL)  # right after the last 200, or while answers go out
            server.wait()
        finally:
            if server.poll() is None:
                server.kill()
        acknowledged = [event for event, status in zip(events, statuses, strict=True) if status == 200]
        answered_before = sum(1 for event in acknowledged if deliveries(api, event))

        base = f"http://127.0.0.1:{free_port()}"
        restarted = start_server(url, api.url, int(base.rsplit(":", 1)[1]), tmp_path / "restarted.log")
        database = create_engine(url)
        try:
            await wait_until_up(base, restarted)
            deadline = time.monotonic() + ANSWER_TIMEOUT
            # Done when the inbox has nothing left: no further sends can come.
            while unfinished(database) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert unfinished(database) == 0, "the restarted server took up every stored event"
        finally:
            restarted.send_signal(signal.SIGTERM)
            try:
                restarted.wait(30)
            except subprocess.TimeoutExpired:
                restarted.kill()

        with database.connect() as connection:
            turns = connection.execute(
                select(Message.channel_event_id, func.count()).where(Message.direction == MessageDirection.inbound)
                .group_by(Message.channel_event_id)).all()
            inbox = {event_id: (state.value, attempts, answer) for event_id, state, attempts, answer in connection.execute(
                select(InboxEvent.event_id, InboxEvent.state, InboxEvent.attempts, InboxEvent.answered_with))}
            pushed = connection.scalar(select(func.count()).select_from(InboxEvent.__table__)
                                       .where(InboxEvent.answered_with == "push"))
        database.dispose()

    answers = {event["webhookEventId"]: deliveries(api, event) for event in acknowledged}
    unanswered = [event_id for event_id, sent in answers.items() if not sent]
    twice = [event_id for event_id, sent in answers.items() if len(sent) > 1]
    print(f"\ncrash test: sent {len(events)}, acknowledged {len(acknowledged)}, answered before the kill "
          f"{answered_before}, answered in the end {len(answers) - len(unanswered)} (by push {pushed}), "
          f"duplicates {len(twice)}")
    assert statuses == [200] * RESIDENTS
    assert unanswered == [], {event_id: inbox.get(event_id) for event_id in unanswered}
    assert twice == [], {event_id: inbox.get(event_id) for event_id in twice}
    assert all(sent[0][0]["text"].startswith(crisis_opening()) for sent in answers.values()), "crisis guidance"
    assert sorted(turns) == sorted((event["webhookEventId"], 1) for event in acknowledged), "one turn per event"
