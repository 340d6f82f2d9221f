"""The alert desk in Debian's Chromium (issue 13, "Done means"): the desk logs in, opens the pending
alert, approves it and watches the progress reach 100% without reloading while the real fan-out
(the in-process sender) sends to the fake LINE and Telegram servers; a sighting arrives on the page
and its map; the desk marks the person found and sees the day the personal data is deleted. An
alert ended elsewhere (the family's chat) shows as ended on a desk page left open.

``TSUNAGU_SCREENSHOTS=1`` saves the page mid-broadcast to ``docs/screenshots/console_alert_desk.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alerts.lifecycle import approve, create_from_case, found
from alerts.sightings import record_sighting
from bot.console import alerts as console_alerts
from bot.db import session_scope
from bot.models import (
    Alert,
    AlertStatus,
    CaseKind,
    Cooperator,
    CooperatorEndpoint,
    OutboxItem,
    OutboxState,
    Town,
    utcnow,
)
from bot.models.staff import Role
from bot.settings import settings
from routing.areas import resolve_town_id
from routing.cases import open_case
from tests.alerts.fanout.conftest import Fakes, address, fakes, fanout_env  # noqa: F401 - fixtures
from tests.bot.console.conftest import StaffAccount, log_in
from tests.channels.conftest import served_on_loopback
from tests.channels.test_webchat import CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)"),
]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
TABLET = {"width": 1180, "height": 900}
# Cooperators around 本町 (where the person was last seen), half on LINE, half on Telegram.
TOWNS = ("chuo-1-1", "chuo-1-2", "chuo-1-3", "chuo-1-4", "chuo-2-1", "chuo-2-3")
TELEGRAM_BEFORE_STALL = 2


@pytest.fixture
def desk_app(fanout_env: dict[str, str], console_app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The real app on loopback, its fan-out sending in process to the fakes; every cooperator in the first stage."""
    monkeypatch.setattr(console_alerts, "POLL_SECONDS", 0.2)
    # Streams end every 2 s: the page lives on reconnections, as it does every minute in service.
    monkeypatch.setattr(console_alerts, "STREAM_SECONDS", 2.0)
    monkeypatch.setattr(settings, "alert_radius_stages_km", [5.0])
    monkeypatch.setattr(settings, "alert_min_first_stage", 1)
    with served_on_loopback(console_app) as url:
        yield url


def _pending_alert(db_url: str) -> tuple[int, dict[str, list[str]]]:
    """A pending alert of a missing case in 本町, and one LINE and one Telegram cooperator in each town near."""
    addresses: dict[str, list[str]] = {"line": [], "telegram": []}
    with session_scope(db_url) as session:
        number = 0
        for town_id in TOWNS:
            town = session.scalars(select(Town).where(Town.town_id == town_id)).one()
            for channel in ("line", "telegram"):
                number += 1
                cooperator = Cooperator(town_id=town_id, latitude=town.latitude, longitude=town.longitude)
                session.add(cooperator)
                session.flush()
                addresses[channel].append(address(channel, number))
                session.add(CooperatorEndpoint(cooperator_id=cooperator.id, channel=channel,
                                               address=address(channel, number)))
        seen = utcnow() - timedelta(hours=1)
        case, _ = open_case(
            session, kind=CaseKind.missing, topic="missing", counter_id="mimamori-chuo",
            area=resolve_town_id(session, "chuo-1-1"),
            details={"who": "母です。78歳", "last_seen_where": "本町公園のあたり", "last_seen_when": "1時間くらい前",
                     "last_seen_time": f"{seen.astimezone(settings.tz):%Y-%m-%d %H:%M} 頃 (±30分)",
                     "clothing": "紺色のジャンパー、灰色のズボン", "callback_phone": "090-0000-0000"},
            reason="test", channel="line", language="ja", urgent=True, callback_consent=True, now=utcnow())
        alert = create_from_case(session, case, last_seen_at=seen)
        alert.public_fields = {"sex": "female", "age": 78, "height": "150_160", "build": "small",
                               "clothing": "紺色のジャンパー、灰色のズボン", "footwear": "白い運動靴",
                               "belongings": "杖", "landmark": "本町公園"}
        return alert.id, addresses


async def test_the_desk_approves_watches_the_broadcast_sees_a_sighting_and_marks_found(
        desk_app: str, db_url: str, fakes: Fakes, staff_account: object) -> None:
    from playwright.async_api import async_playwright, expect

    alert_id, addresses = _pending_alert(db_url)
    account: StaffAccount = staff_account(Role.alert_desk)  # type: ignore[operator]
    # Telegram takes two messages, then holds the rest: the page is caught mid-broadcast.
    fakes.telegram.stall_after(TELEGRAM_BEFORE_STALL)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="ja-JP", viewport=TABLET)
            script_errors: list[str] = []
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            await log_in(page, desk_app, account.username)
            await page.goto(f"{desk_app}/staff/alerts")
            await page.locator(f'#review tr[data-alert="{alert_id}"] a').click()
            await expect(page.locator("#approve-button")).to_be_visible()
            await expect(page.locator('pre.alert-text[lang="ja"]')).to_contain_text("本町公園")

            await page.locator("#approve-button").click()
            await expect(page.locator("#desk-notice")).to_contain_text("12")
            await expect(page.locator("#progress-total")).to_have_text("12")
            # From here on the page is never reloaded: what changes comes from the event stream.
            await page.evaluate("window.stayed = true")
            sent = len(addresses["line"]) + TELEGRAM_BEFORE_STALL
            await expect(page.locator("#progress-sent")).to_have_text(str(sent), timeout=15_000)
            await expect(page.locator('#progress-channels tr[data-channel="line"] td[data-state="sent"]')).to_have_text("6")
            assert await page.locator("#progress-percent").text_content() != "100%"

            with session_scope(db_url) as session:
                alert = session.get(Alert, alert_id)
                town = session.scalars(select(Town).where(Town.town_id == "chuo-1-2")).one()
                sighting_id = record_sighting(
                    session, alert, contact_id=None, text="公園のベンチに座っていた", town_id="chuo-1-2",
                    point=(town.latitude, town.longitude), seen_at=utcnow(), photo_ref=None,
                    where_label="本町2丁目付近", when_text="いま", channel="telegram", conversation_id=None).id
            row = page.locator(f'#sightings tr[data-sighting="{sighting_id}"]')
            await expect(row).to_be_visible(timeout=15_000)
            await expect(row).to_contain_text("公園のベンチ")
            await expect(page.locator("#sightings svg .tsunagu-map-point-sighting").first).to_be_attached()
            if os.environ.get("TSUNAGU_SCREENSHOTS") == "1":
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SCREENSHOTS / "console_alert_desk.png"), full_page=True)

            fakes.release()
            await expect(page.locator("#progress-percent")).to_have_text("100%", timeout=20_000)
            await expect(page.locator("#progress-sent")).to_have_text("12")
            assert await page.evaluate("window.stayed === true"), "the progress came without a reload"

            await page.locator("#found-button").click()
            await expect(page.locator("#purge-date")).to_be_visible()
            await expect(page.locator("#alert-status")).to_have_text("found")
            assert script_errors == []
        finally:
            await browser.close()

    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == AlertStatus.found and alert.purge_after is not None
        broadcast = session.scalars(select(OutboxItem).where(OutboxItem.alert_id == alert_id,
                                                             OutboxItem.kind == "alert")).all()
        assert {row.state for row in broadcast} == {OutboxState.sent} and len(broadcast) == 12
    delivered = fakes.deliveries()
    assert set(delivered["line"]) == set(addresses["line"]) and set(delivered["telegram"]) == set(addresses["telegram"])


async def test_an_alert_ended_from_the_familys_chat_shows_as_ended_on_the_open_page(
        desk_app: str, db_url: str, staff_account: object) -> None:
    from playwright.async_api import async_playwright, expect

    alert_id, _ = _pending_alert(db_url)
    with session_scope(db_url) as session:
        approve(session, session.get(Alert, alert_id), by="desk")
    account: StaffAccount = staff_account(Role.alert_desk)  # type: ignore[operator]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="ja-JP", viewport=TABLET)
            await log_in(page, desk_app, account.username)
            await page.goto(f"{desk_app}/staff/alerts/{alert_id}")
            await expect(page.locator("#found-button")).to_be_visible()
            with session_scope(db_url) as session:  # what the family's 「見つかりました」 does
                found(session, session.get(Alert, alert_id), by="family")
            await expect(page.locator("#purge-date")).to_be_visible(timeout=15_000)
            await expect(page.locator("#found-button")).to_have_count(0)
        finally:
            await browser.close()
