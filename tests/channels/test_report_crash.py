"""Kill -9 the real server again and again while residents file reports over LINE and
Telegram: every report still ends as exactly one case, complete, queued for its counter once,
and every acknowledged event is answered (issue 15, "Done means").

The app runs as ``tsunagu serve`` does (uvicorn, in a subprocess; a SQLite file, or
PostgreSQL), with the real line-bot-sdk and python-telegram-bot talking to the fake platform
APIs in this process. Residents type whole worry reports and whole missing-person reports
(the turns of tests/conversations/worry.yml and missing.yml, or of ``ANSWERS`` where those no
longer answer what the bot asks), one turn at a time, waiting for the answer before typing the
next, as people do. Meanwhile the server is killed with SIGKILL
at points a seeded RNG chooses (after so many acknowledged events, plus up to 0.6 s, so that
kills land mid-turn, mid-answer and mid-request) and started again on the same database and
port. The platforms' side is played as they play it: a webhook that got no 200 (refused
connection, connection cut, 503) is sent again — LINE marks the same event as a redelivery,
Telegram posts the same update — and an acknowledged one is never sent again.

Each script names a town no other script names, so a case is told apart by its kind and town:
a case missing is a lost report, two for one town a turn run twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, create_engine, func, select

from bot.models import (
    Alert, Case, CaseEvent, Delivery, DeliveryTarget, InboxEvent, InboxState, Message, MessageDirection,
)
from bot.settings import settings
from intents.classifier import get_classifier
from routing.cases import INCOMPLETE
from tests.channels.conftest import LINE_SECRET, LINE_TOKEN, TELEGRAM_SECRET, TELEGRAM_TOKEN
from tests.channels.test_inbox_crash import deliveries, free_port, unfinished, wait_until_up
from tests.fakes.line import FakeLineAPI, LineEvents
from tests.fakes.telegram import FakeTelegramAPI, TelegramUpdates

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CONVERSATIONS = ROOT / "tests" / "conversations"
# One report per resident, each in a town no other script names; every other resident writes
# on LINE, the rest on Telegram. (One resident filing both reports in one conversation would
# test the follow-up rule — whether the classifier is sure enough that the second report is
# a new request, flows/followup.py — not the crash: a resident who just filed a report has
# what they type next added to it.)
# Only conversations the suite passes without kills: a report that does not complete at all
# (tsunagu eval --conversations tests/conversations lists them) would fail here for no kill.
# (miss-casual-grandpa is not among them: its opening is answered with 119 guidance and no
# report starts; miss-casual-description-is-not-emergency is the casual missing report.)
WORRY = ["worry-std-not-seen", "worry-casual-neighbour", "worry-easy-newspapers", "worry-std-rubbish-self-neglect"]
MISSING = ["miss-std-father", "miss-phone-mother", "miss-casual-description-is-not-emergency",
           "miss-kansai-mother-day-service"]
# A script's turns where the suite's no longer answer the questions the bot asks, as a resident
# answers them today. worry-std-rubbish-self-neglect: 「本人も何日も同じ服です」 already says since
# when (何日も), so after the place the bot asks whether it may call back; the suite's
# 「2週間前くらいからです」 would answer a question not asked (the bot asks it again).
ANSWERS = {
    "worry-std-rubbish-self-neglect": [
        "同じアパートの男性の部屋の前にゴミ袋が山のように積まれていて、本人も何日も同じ服です",
        "中央区錦町1丁目です",
        "いいえ",
        "はい",
    ],
}
KILLS = 4
SEED = 15
# What a complete case holds (routing.cases: the details each report's form fills).
COMPLETE_DETAILS = {
    "worry": ("noticed", "since_when"),
    "missing": ("who", "last_seen_where", "last_seen_when", "clothing"),
}
# What each report queues for its counter (routing.cases): a worry report once, complete; a
# missing person's draft as soon as its place is known, then its completion as an update.
QUEUED = {
    "worry": ("created",),
    "missing": ("created", "report_completed"),
}
# An event the killed server was processing is taken again once its lease runs out: 30 s in
# production. Shortened in the server so that several kills fit in one run; the mechanism
# (claim, renewal, expiry, the event id keeping a turn from running twice) is the same.
LEASE_SECONDS = 5
# Generous: a restart may retrain the classifier (others edit the training data) on a loaded machine.
ANSWER_TIMEOUT = 600.0
RESEND_PAUSE = 0.5


@dataclass(frozen=True)
class Script:
    """One report as a resident types it, and the case it must end as."""

    id: str
    kind: str
    turns: list[str]
    counter_id: str
    town_id: str


def load_script(conversation_id: str) -> Script:
    kind = "worry" if conversation_id.startswith("worry") else "missing"
    document = yaml.safe_load((CONVERSATIONS / f"{kind}.yml").read_text(encoding="utf-8"))
    conversation = next(c for c in document["conversations"] if c["id"] == conversation_id)
    created = next(e for e in conversation["expect"]["effects"] if e["kind"] == "case_created")
    assert created["case_kind"] == kind
    turns = ANSWERS.get(conversation_id) or [turn if isinstance(turn, str) else turn["say"]
                                             for turn in conversation["turns"]]
    return Script(conversation_id, kind, turns, created["counter_id"], created["town_id"])


class Line:
    """LINE's side: signed webhook bodies; an event is answered when LINE accepted the answer."""

    name = "line"

    def __init__(self, api: FakeLineAPI) -> None:
        self.api = api
        self.events = LineEvents(api, LINE_SECRET)

    def new(self, resident: str, text: str) -> dict[str, Any]:
        return self.events.text(resident, text)

    def event_id(self, event: dict[str, Any]) -> str:
        return str(event["webhookEventId"])

    def request(self, event: dict[str, Any], again: bool) -> tuple[bytes, dict[str, str]]:
        body, headers = self.events.body(self.events.redelivered(event) if again else event)
        return body.encode(), headers

    def answered(self, event: dict[str, Any], database: Engine) -> bool:
        return bool(deliveries(self.api, event))


class Telegram:
    """Telegram's side: updates with the secret token header; an update is answered when its
    inbox row is finished with a send (sendMessage has no per-update key to look for)."""

    name = "telegram"

    def __init__(self, api: FakeTelegramAPI) -> None:
        self.api = api
        self.updates = TelegramUpdates()

    def new(self, resident: str, text: str) -> dict[str, Any]:
        return self.updates.text(int(resident), text)

    def event_id(self, event: dict[str, Any]) -> str:
        return str(event["update_id"])

    def request(self, event: dict[str, Any], again: bool) -> tuple[bytes, dict[str, str]]:
        return json.dumps(event, ensure_ascii=False).encode(), {
            "content-type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}

    def answered(self, event: dict[str, Any], database: Engine) -> bool:
        with database.connect() as connection:
            return connection.scalar(select(InboxEvent.answered_with).where(
                InboxEvent.channel == self.name, InboxEvent.event_id == self.event_id(event),
                InboxEvent.state == InboxState.done)) == "send"


Platform = Line | Telegram


@dataclass
class Load:
    """The residents' side: what the platforms sent and what they got a 200 for."""

    base: str
    database: Engine
    acknowledged: list[tuple[Platform, dict[str, Any]]] = field(default_factory=list)
    resent: int = 0

    async def deliver(self, client: httpx.AsyncClient, platform: Platform, event: dict[str, Any]) -> None:
        """POST ``event`` until the server answers 200, sending it again as the platform does."""
        deadline = time.monotonic() + ANSWER_TIMEOUT
        again = False
        while time.monotonic() < deadline:
            body, headers = platform.request(event, again)
            try:
                response = await client.post(f"{self.base}/webhooks/{platform.name}", content=body, headers=headers)
                if response.status_code == 200:
                    self.acknowledged.append((platform, event))
                    return
            except httpx.TransportError:
                pass  # refused (the server is down) or cut off (killed mid-request)
            self.resent += 1
            again = True
            await asyncio.sleep(RESEND_PAUSE)
        raise AssertionError("an event was never acknowledged")

    async def answered(self, platform: Platform, event: dict[str, Any]) -> None:
        deadline = time.monotonic() + ANSWER_TIMEOUT
        while not platform.answered(event, self.database):
            assert time.monotonic() < deadline, "an acknowledged event was not answered in time"
            await asyncio.sleep(0.2)

    async def resident(self, platform: Platform, resident: str, scripts: list[Script]) -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            for script in scripts:
                for text in script.turns:
                    event = platform.new(resident, text)
                    await self.deliver(client, platform, event)
                    await self.answered(platform, event)  # people read the answer before typing on


def model_hash() -> str | None:
    """The data hash of the classifier saved in the data dir, if there is one."""
    meta = settings.model_dir / "classifier.json"
    return str(json.loads(meta.read_text(encoding="utf-8"))["data_hash"]) if meta.exists() else None


class Server:
    """``tsunagu serve`` on one port, killed and started again on the same database."""

    def __init__(self, url: str, line: FakeLineAPI, telegram: FakeTelegramAPI, logs: Path) -> None:
        self.logs = logs
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.starts = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.env = {
            **os.environ,
            "TSUNAGU_ENVIRONMENT": "test",
            "TSUNAGU_DATABASE_URL": url,
            "TSUNAGU_DATA_DIR": str(settings.data_dir),
            "TSUNAGU_LINE_CHANNEL_SECRET": LINE_SECRET,
            "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN": LINE_TOKEN,
            "TSUNAGU_LINE_API_HOST": line.url,
            "TSUNAGU_LINE_REPLY_TOKEN_SECONDS": "3600",  # the fake LINE's tokens never expire
            "TSUNAGU_TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TSUNAGU_TELEGRAM_SECRET_TOKEN": TELEGRAM_SECRET,
            "TSUNAGU_TELEGRAM_BASE_URL": telegram.base_url,
            "TSUNAGU_TELEGRAM_FILE_BASE_URL": telegram.file_base_url,
            "PYTHONPATH": str(ROOT),
        }

    async def start(self) -> None:
        self.starts += 1
        program = ("import datetime, channels.inbox as inbox, intents.classifier as classifier; "
                   f"inbox.LEASE = datetime.timedelta(seconds={LEASE_SECONDS}); "
                   f"classifier._expected_hash = lambda identity: {model_hash()!r}; "
                   f"from bot.app import serve; serve('127.0.0.1', {self.port})")
        with (self.logs / f"serve-{self.starts}.log").open("wb") as output:
            self.process = subprocess.Popen([sys.executable, "-c", program], cwd=ROOT, env=self.env,
                                            stdout=output, stderr=subprocess.STDOUT)
        await wait_until_up(self.base, self.process)

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, "the server died by itself"
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def kill_at_random(server: Server, load: Load, rng: random.Random, total: int) -> list[int]:
    """Kill the server after as many acknowledged events as ``rng`` chose, then start it again."""
    points = sorted(rng.sample(range(1, total - 1), KILLS))
    for point in points:
        while len(load.acknowledged) < point:
            await asyncio.sleep(0.01)
        await asyncio.sleep(rng.uniform(0.0, 0.6))  # mid-turn, mid-answer or mid-request
        server.kill()
        await server.start()
    return points


async def test_every_report_ends_as_exactly_one_case_after_kill_9s(tmp_path: Path, db_url: str) -> None:
    rng = random.Random(SEED)
    # The server loads the classifier saved in the data dir and never trains one: a start-up
    # that trains takes minutes, and the training data may be edited while the test runs.
    # What the classifier makes of the turns is tested elsewhere (tests/conversations).
    if model_hash() is None:
        get_classifier()
    with FakeLineAPI(LINE_TOKEN) as line_api, FakeTelegramAPI(TELEGRAM_TOKEN) as telegram_api:
        line, telegram = Line(line_api), Telegram(telegram_api)
        residents: dict[str, tuple[Platform, list[Script]]] = {}
        for index, conversation_id in enumerate(WORRY + MISSING):
            on_line = index % 2 == 0
            resident = f"Ureport{index:04d}" if on_line else str(880_000_000 + index)
            residents[resident] = (line if on_line else telegram, [load_script(conversation_id)])
        total = sum(len(script.turns) for _, scripts in residents.values() for script in scripts)

        server = Server(db_url, line_api, telegram_api, tmp_path)
        database = create_engine(db_url)
        try:
            await server.start()
            load = Load(server.base, database)
            killer = asyncio.create_task(kill_at_random(server, load, rng, total))
            await asyncio.gather(*(load.resident(platform, resident, scripts)
                                   for resident, (platform, scripts) in residents.items()))
            points = await killer
            deadline = time.monotonic() + ANSWER_TIMEOUT
            # Done when the inbox has nothing left: no further sends can come.
            while unfinished(database) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert unfinished(database) == 0, "the server took up every stored event"
        finally:
            server.stop()

        with database.connect() as connection:
            cases = connection.execute(select(Case.id, Case.kind, Case.town_id, Case.counter_id, Case.details)
                                       .order_by(Case.id)).all()
            events = Counter((case_id, kind) for case_id, kind in connection.execute(
                select(CaseEvent.case_id, CaseEvent.kind)))
            queued = connection.execute(
                select(CaseEvent.case_id, CaseEvent.kind, Delivery.target_id, func.count())
                .join(Delivery, Delivery.case_event_id == CaseEvent.id)
                .group_by(CaseEvent.case_id, CaseEvent.kind, Delivery.target_id)).all()
            targets = {counter: {target for (target,) in connection.execute(
                select(DeliveryTarget.id).where(DeliveryTarget.counter_id == counter, DeliveryTarget.active))}
                for counter in {case.counter_id for case in cases}}
            alerts = Counter(case_id for (case_id,) in connection.execute(select(Alert.case_id)))
            turns = Counter(event_id for (event_id,) in connection.execute(
                select(Message.channel_event_id).where(Message.direction == MessageDirection.inbound)))
        unanswered = [platform.event_id(event) for platform, event in load.acknowledged
                      if not platform.answered(event, database)]
        database.dispose()

    line_twice = [line.event_id(event) for platform, event in load.acknowledged
                  if platform is line and len(deliveries(line_api, event)) > 1]
    telegram_sent = len(telegram_api.calls("/sendMessage"))
    print(f"\nreport crash test: {total} events, kills after {points} acknowledged, {server.starts} starts, "
          f"{load.resent} webhooks sent again, {len(cases)} cases, LINE events answered twice {len(line_twice)}, "
          f"Telegram messages sent {telegram_sent}")

    # Every acknowledged event answered, each turn run once.
    assert len(load.acknowledged) == total
    assert unanswered == []
    assert sorted(turns.items()) == sorted((platform.event_id(event), 1) for platform, event in load.acknowledged)
    # A LINE answer that got through just before a kill is sent again only when its resumed
    # turn is pushed (docs/reliability.md): at most the events in flight at each kill.
    assert len(line_twice) <= KILLS, line_twice

    # Exactly one case per report: none lost, none from a turn run twice.
    expected = sorted((script.kind, script.town_id, script.counter_id)
                      for _, scripts in residents.values() for script in scripts)
    made = sorted((case.kind.value, case.town_id, case.counter_id) for case in cases)
    lost = [script.id for _, scripts in residents.values() for script in scripts
            if (script.kind, script.town_id, script.counter_id) not in made]
    assert made == expected, f"no case for {lost} (replay them with tsunagu chat --script to tell a kill from a " \
        f"report that no longer completes); cases {made}"
    for case in cases:
        # Complete: every answer of the form, and not a draft.
        assert INCOMPLETE not in case.details, case.id
        assert all(case.details.get(key) for key in COMPLETE_DETAILS[case.kind.value]), (case.id, sorted(case.details))
        # Queued for its counter once: one creation (and, for a missing person, one completion),
        # each delivered to every one of the counter's targets, and nothing else.
        assert targets[case.counter_id], case.counter_id
        for kind in QUEUED[case.kind.value]:
            assert events[(case.id, kind)] == 1, (case.id, kind)
            assert {target for case_id, queued_kind, target, _ in queued
                    if case_id == case.id and queued_kind == kind} == targets[case.counter_id], (case.id, kind)
        assert {kind for case_id, kind, _, _ in queued if case_id == case.id} == set(QUEUED[case.kind.value]), case.id
    assert [row for row in queued if row[3] != 1] == [], "a case event queued twice for one target"
    assert sorted(alerts.items()) == sorted((case.id, 1) for case in cases if case.kind.value == "missing")
