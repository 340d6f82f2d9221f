"""The dashboard in headless Chromium: a manager logs in and watches the first-contact figure move.

The database holds the demo's eight weeks (``tsunagu demo``) and one worry report that came in
two hours ago; when a counter marks it contacted, the manager's reload counts it. With
``TSUNAGU_SCREENSHOTS=1`` the page is saved as ``docs/screenshots/console_dashboard.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from bot.app import create_app
from bot.console.demo import seed_demo
from bot.db import get_engine
from bot.models import Case, CaseKind, CaseStatus
from bot.models.base import utcnow
from routing.cases import transition
from tests.bot.console.conftest import PASSWORD, log_in
from tests.channels.conftest import served_on_loopback
from tests.channels.test_webchat import CHROMIUM, CHROMIUM_ARGS

SCREENSHOT = Path(__file__).resolve().parents[3] / "docs" / "screenshots" / "console_dashboard.png"


@pytest.fixture
def live_console(sqlite_url: str) -> Iterator[str]:
    app = create_app(init_database=False, handler=lambda message: None, channel_names=[])
    with served_on_loopback(app) as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
async def test_a_manager_sees_the_first_contact_figure_change(sqlite_url: str, live_console: str) -> None:
    from playwright.async_api import async_playwright, expect

    with Session(get_engine(sqlite_url)) as session:
        seed_demo(session, password=lambda: PASSWORD)
        now = utcnow()
        waiting = Case(kind=CaseKind.worry, topic="watch", counter_id="mimamori-kita", town_id="kita-1-1",
                       created_at=now - timedelta(hours=2), last_report_at=now - timedelta(hours=2),
                       first_contact_due=now + timedelta(hours=22), details={})
        session.add(waiting)
        session.commit()
        waiting_id = waiting.id

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="ja-JP", viewport={"width": 1280, "height": 900})
            await log_in(page, live_console, "demo-manager")
            await page.goto(f"{live_console}/staff/dashboard")
            await expect(page.get_by_role("heading", name="ダッシュボード")).to_be_visible()
            await expect(page.get_by_role("img", name="対応中の案件（町別） / Open cases by town")).to_be_visible()
            counted = int(await page.get_by_test_id("kgi-counted").inner_text())
            waiting_before = int(await page.get_by_test_id("kgi-waiting").inner_text())
            share = (await page.get_by_test_id("kgi-share").inner_text()).strip()
            assert waiting_before >= 1

            with Session(get_engine(sqlite_url)) as session:
                case = session.get(Case, waiting_id)
                transition(session, case, CaseStatus.contacted, actor="demo-counter")
                session.commit()
            await page.reload()

            await expect(page.get_by_test_id("kgi-counted")).to_have_text(str(counted + 1))
            await expect(page.get_by_test_id("kgi-waiting")).to_have_text(str(waiting_before - 1))
            await expect(page.get_by_test_id("kgi-share")).not_to_have_text(share)
            # The CSV link of a table downloads it.
            async with page.expect_download() as download:
                await page.locator('a[href^="/staff/dashboard/first_contact_weeks.csv"]').click()
            assert (await download.value).suggested_filename.startswith("tsunagu-first_contact_weeks-")
            if os.environ.get("TSUNAGU_SCREENSHOTS") == "1":
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                # From the top down to the city map: the KGI, its charts and tables, the map.
                town_map = await page.get_by_role("img", name="対応中の案件（町別） / Open cases by town").bounding_box()
                await page.screenshot(path=str(SCREENSHOT), full_page=True,
                                      clip={"x": 0, "y": 0, "width": 1280, "height": town_map["y"] + town_map["height"] + 16})
        finally:
            await browser.close()
