"""The case inbox and case page in headless Chromium against the real app: counter staff log in,
see only their counter's cases, open one, reply to the resident (the fake LINE server receives
the push), see the resident's answer arrive in the thread without reloading, and mark the case
contacted. A web chat resident sees staff's reply appear on the chat page, gets no bot answer
while staff hold the chat, and reads the hand-back notice. ``TSUNAGU_SCREENSHOTS=1`` saves the inbox and the case with its thread to
``docs/screenshots/console_inbox.png`` and ``console_case.png``."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from bot.app import build_engine, create_app
from bot.console import casework
from bot.console.auth import set_password
from bot.db import session_scope
from bot.domain import load_domain
from bot.messages import InboundMessage
from bot.models import Case, CaseKind, CaseStatus, Contact, utcnow
from bot.models.staff import Role
from bot.settings import settings
from bot.staff_api import create_staff_user
from flows.handoff import STAFF_HANDBACK_RESPONSE
from routing.cases import open_case
from tests.bot.console.conftest import PASSWORD, log_in
from tests.channels.conftest import channel_settings, served_on_loopback
from tests.channels.test_webchat import CHROMIUM, CHROMIUM_ARGS
from tests.fakes.line import FakeLineAPI

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
LINE_TOKEN = "line-access-token-for-console-tests"
OURS = "mimamori-chuo"
THEIRS = "mimamori-kita"
RESIDENT = "U-console-browser"
STAFF_WORDS = "中央区見守り相談室の佐藤です。ご連絡ありがとうございます。明日の午前中に様子を見に伺います。"
ANSWER = "ありがとうございます。よろしくお願いします。"


@pytest.fixture
def line(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLineAPI]:
    with FakeLineAPI(LINE_TOKEN) as api:
        monkeypatch.setattr(settings, "line_channel_access_token", LINE_TOKEN)
        monkeypatch.setattr(settings, "line_api_host", api.url)
        monkeypatch.setattr(settings, "redis_url", None)
        yield api


def _seed(url: str) -> tuple[int, int, int]:
    """Two of our counter's cases (one reported on LINE, with consent) and one of another counter."""
    now = utcnow()
    with session_scope(url) as session:
        contact = Contact(channel="line", channel_user_id=RESIDENT)
        session.add(contact)
        session.flush()
        ours, _ = open_case(session, kind=CaseKind.worry, topic="elderly", counter_id=OURS, area=None,
                            details={"noticed": "向かいのおばあさんの新聞が3日分たまっています", "since_when": "3日前",
                                     "where": "中央区 本町2丁目"},
                            reason="中央区 本町の見守りは中央区見守り相談室の担当です", channel="line", language="ja",
                            reporter_contact_id=contact.id, callback_consent=True, now=now - timedelta(hours=21))
        ours.town_id, ours.ward = "chuo-1-1", "chuo"
        overdue, _ = open_case(session, kind=CaseKind.consult, topic="money", counter_id=OURS, area=None,
                               details={"message": "生活費の相談"}, reason="中央区の総合相談", channel="voice",
                               language="ja", now=now - timedelta(hours=30))
        theirs, _ = open_case(session, kind=CaseKind.worry, topic="elderly", counter_id=THEIRS, area=None,
                              details={"noticed": "北区の気づき"}, reason="北区の見守り", channel="line", language="ja",
                              now=now - timedelta(hours=2))
        user, _ = create_staff_user(session, "sato", [OURS], role=Role.counter)
        set_password(user, PASSWORD)
        return ours.id, overdue.id, theirs.id


@pytest.fixture
def console(sqlite_url: str, line: FakeLineAPI) -> Iterator[str]:
    app: FastAPI = create_app(init_database=False, handler=lambda message: None, channel_names=[])
    with served_on_loopback(app) as url:
        yield url


async def _screenshot(page: object, name: str) -> None:
    if os.environ.get("TSUNAGU_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


async def _until(condition: object, seconds: float = 15.0) -> None:
    for _ in range(int(seconds * 10)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_counter_staff_reply_from_the_case_page_and_mark_contacted(
        sqlite_url: str, line: FakeLineAPI, console: str) -> None:
    from playwright.async_api import async_playwright

    ours, overdue, theirs = _seed(sqlite_url)
    engine = build_engine(sqlite_url)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
        await log_in(page, console, "sato")
        await page.goto(f"{console}/staff/cases")

        rows = page.locator("[data-case-id]")
        assert [int(await row.get_attribute("data-case-id")) for row in await rows.all()] == [overdue, ours]
        assert await page.locator(f'[data-case-id="{theirs}"]').count() == 0
        assert await page.locator(f'[data-case-id="{overdue}"] .due-overdue').count() == 1
        assert await page.locator(f'[data-case-id="{ours}"] .due-soon').count() == 1
        await _screenshot(page, "console_inbox")

        await page.locator(f'a[href="/staff/cases/{ours}"]').click()
        await page.wait_for_url(re.compile(rf".*/staff/cases/{ours}$"))
        assert await page.locator('[data-testid="details"]').inner_text() != ""
        assert await page.locator("svg.case-map .tsunagu-map-highlight").count() == 1

        await page.locator("#reply-text").fill(STAFF_WORDS)
        await page.locator('[data-testid="reply-form"] button[type=submit]').click()
        await page.locator('[data-testid="held"]').wait_for()
        await _until(lambda: line.calls("/push"))
        push = line.calls("/push")[0].body
        assert push["to"] == RESIDENT and STAFF_WORDS in push["messages"][0]["text"]

        # The resident answers on LINE: the bot stays quiet, the case page shows it without a reload.
        result = await asyncio.to_thread(engine.handle, InboundMessage(channel="line", user_id=RESIDENT, text=ANSWER,
                                                                       event_id="browser-answer-1"))
        assert result.replies == []
        await page.locator('ol.thread li[data-who="resident"]', has_text=ANSWER).wait_for(timeout=15_000)
        await page.locator('ol.thread li[data-who="staff"][data-state="sent"]').wait_for(timeout=15_000)

        await page.locator('button[data-action="contacted"]').click()
        await page.locator('[data-testid="status"][data-status="contacted"]').wait_for()
        await _screenshot(page, "console_case")
        await browser.close()

    with session_scope(sqlite_url) as session:
        case = session.get(Case, ours)
        assert case.status == CaseStatus.contacted and case.contacted_at is not None
        assert session.scalar(select(Contact.held_case_id).where(Contact.channel_user_id == RESIDENT)) == ours


async def test_a_web_chat_resident_sees_staff_replies_as_they_come(sqlite_url: str) -> None:
    from playwright.async_api import async_playwright

    app = create_app(channel_settings(sqlite_url), channel_names=["webchat"])
    domain = load_domain()
    with served_on_loopback(app) as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 390, "height": 844}, locale="ja-JP")
            await page.goto(f"{url}/chat")
            await page.locator("#log > li.bot").first.wait_for()
            with session_scope(sqlite_url) as session:
                contact = session.scalars(select(Contact).where(Contact.channel == "webchat")).one()
                case, _ = open_case(session, kind=CaseKind.callback, topic="complex", counter_id=OURS, area=None,
                                    details={"message": "介護のことで相談したい", "contact": "channel"},
                                    reason="中央区の総合相談", channel="webchat", language="ja",
                                    reporter_contact_id=contact.id, callback_consent=True)
                casework.reply(session, case, STAFF_WORDS, author="sato", domain=domain)
                case_id = case.id

            await page.locator("#log > li.staff", has_text=STAFF_WORDS).wait_for(timeout=15_000)
            # While staff hold the chat, the resident's words get no bot answer.
            bubbles = await page.locator("#log > li").count()
            await page.locator("#text").fill(ANSWER)
            await page.locator("#text").press("Enter")
            await page.wait_for_function("() => document.getElementById('log').getAttribute('aria-busy') === 'false'")
            assert await page.locator("#log > li").count() == bubbles + 1  # only the resident's own bubble

            with session_scope(sqlite_url) as session:
                casework.hand_back(session, session.get(Case, case_id), actor="sato", domain=domain)
            notice = domain.text(STAFF_HANDBACK_RESPONSE, "ja", None)
            await page.locator("#log > li.staff", has_text=notice).wait_for(timeout=15_000)
            await browser.close()
