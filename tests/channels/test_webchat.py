"""Web chat: the JSON endpoint through httpx, and the page itself in headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import STATIC_DIR, create_app
from bot.domain import RESIDENT_LANGUAGES, load_domain
from bot.page_words import render_chat_page
from bot.settings import DEFAULT_DOMAIN as DOMAIN_PATH
from channels.webchat import PageLanguage, SessionSigner
from flows.conversation import MENU
from tests.channels.conftest import (
    cases,
    channel_settings,
    open_client,
    served_on_loopback,
    stored,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
async def client(engine_db: str) -> AsyncIterator[httpx.AsyncClient]:
    async for client in open_client(channel_settings(engine_db), ["webchat"]):
        yield client


async def test_first_message_sets_a_session_cookie_and_returns_replies(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/webchat/messages", json={"id": "m1", "event": "follow"})
    assert response.status_code == 200
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("tsunagu_chat=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    body = response.json()
    assert body["language"] == "ja"
    assert body["replies"] and {"text", "choices", "request_location", "urgent", "handoff"} <= set(body["replies"][0])
    menu = body["replies"][-1]["choices"]
    # The main menu with the phone's keys: every matter numbered, a person on 0.
    assert [choice["digit"] for choice in menu] == [digit for _, _, digit in MENU]


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
async def test_a_page_in_any_residents_language_opens_the_conversation_in_it(
    client: httpx.AsyncClient, language: str
) -> None:
    """The page starts in the browser's language (bot/static/chat.html) and says so: the
    greeting comes in it, whichever of the residents' languages it is."""
    response = await client.post("/webhooks/webchat/messages", json={"id": "m1", "event": "follow",
                                                                    "language": language})
    assert response.status_code == 200 and response.json()["language"] == language
    assert PageLanguage.__args__ == RESIDENT_LANGUAGES  # type: ignore[attr-defined]


async def test_a_language_no_resident_writes_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/webchat/messages", json={"id": "m1", "event": "follow", "language": "fr"})
    assert response.status_code == 422


async def test_a_resent_message_is_processed_once(client: httpx.AsyncClient, engine_db: str) -> None:
    message = {"id": "m1", "text": "母の介護のことで相談したい"}
    first = await client.post("/webhooks/webchat/messages", json=message)
    session = {"Cookie": first.headers["set-cookie"].split(";")[0]}
    again = await client.post("/webhooks/webchat/messages", json=message, headers=session)
    assert first.json()["replies"] and again.json()["replies"] == []
    assert "set-cookie" not in again.headers, "the session is kept"
    assert stored(engine_db)["contacts"] == 1


async def test_a_session_id_the_client_made_up_or_altered_is_not_accepted(
    client: httpx.AsyncClient, engine_db: str
) -> None:
    first = await client.post("/webhooks/webchat/messages", json={"id": "m1", "text": "母の介護のことで相談したい"})
    issued = first.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    session_id, stamp, signature = issued.split(".")
    forged = [session_id, f"{session_id}.{stamp}.{'A' * len(signature)}", f"{'0' * 32}.{stamp}.{signature}",
              f"{session_id}.{int(stamp) + 1}.{signature}"]
    for cookie in forged:
        response = await client.post("/webhooks/webchat/messages", json={"id": "m2", "text": "北区です"},
                                     headers={"Cookie": f"tsunagu_chat={cookie}"})
        assert "set-cookie" in response.headers, "a new session is issued instead"
        assert not response.headers["set-cookie"].startswith(f"tsunagu_chat={session_id}.")
    # Each forged request started a conversation of its own; none reached the first resident's.
    assert stored(engine_db)["contacts"] == 1 + len(forged)


def test_a_session_cookie_expires() -> None:
    signer = SessionSigner("a secret", max_age_seconds=3600)
    session_id, cookie = signer.issue(now=1_000_000)
    assert signer.session_id(cookie, now=1_000_000 + 3600) == session_id
    assert signer.session_id(cookie, now=1_000_000 + 3601) is None
    assert SessionSigner("another secret", max_age_seconds=3600).session_id(cookie, now=1_000_000) is None


async def test_emergency_phrase_gets_119_guidance_first(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/webchat/messages", json={"id": "m1", "text": "人が倒れて動かない"})
    first = response.json()["replies"][0]
    assert first["urgent"] and "119" in first["text"]


async def test_only_json_is_accepted(client: httpx.AsyncClient, engine_db: str) -> None:
    response = await client.post("/webhooks/webchat/messages", data={"text": "こんにちは"})
    assert response.status_code in (415, 422)
    assert stored(engine_db)["messages"] == 0


async def test_the_bare_address_redirects_to_the_chat_page(client: httpx.AsyncClient) -> None:
    home = await client.get("/")
    assert home.status_code in (302, 307) and home.headers["location"] == "/chat"
    page = await client.get("/chat")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'rel="icon"' in page.text


async def test_the_favicon_is_served_under_both_names(client: httpx.AsyncClient) -> None:
    for path in ("/favicon.ico", "/favicon.svg"):
        icon = await client.get(path)
        assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml"), path


async def test_the_page_never_parses_text_as_html(client: httpx.AsyncClient) -> None:
    # Replies and echoed resident messages are drawn with text nodes: no HTML sink at all.
    page = (await client.get("/chat")).text
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
        assert sink not in page, sink


@pytest.fixture
def live_server(engine_db: str) -> Iterator[str]:
    """The app served by uvicorn on a random loopback port, for the browser."""
    app = create_app(channel_settings(engine_db), channel_names=["webchat"])
    with served_on_loopback(app) as url:
        yield url


@pytest.mark.slow
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (/usr/bin/chromium)")
async def test_worry_report_in_the_browser(live_server: str, engine_db: str, tmp_path: Path) -> None:
    from playwright.async_api import async_playwright, expect

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(locale="ja-JP", viewport={"width": 420, "height": 860})
            await page.goto(f"{live_server}/chat")
            bot = page.locator("#log li.bot")
            await expect(page.get_by_role("button", name="近所の方が心配")).to_be_visible()
            assert await page.locator("html").get_attribute("lang") == "ja"

            await page.get_by_role("button", name="近所の方が心配").click()
            await expect(bot.last).to_contain_text("気づきました")
            await page.get_by_label("メッセージ").fill("隣のおばあさんを見かけない。新聞がたまっている")
            await page.get_by_role("button", name="送信").click()
            await expect(page.get_by_role("button", name="位置情報を送る")).to_be_visible()
            await page.get_by_label("メッセージ").fill("南区朝日町3丁目")
            await page.keyboard.press("Enter")
            await expect(bot.last).to_contain_text("いつ頃")
            await page.get_by_label("メッセージ").fill("3日前から")
            await page.get_by_role("button", name="送信").click()
            await page.get_by_role("button", name="いいえ").last.click()
            await expect(bot.last).to_contain_text("南区見守り相談室")
            await page.get_by_role("button", name="この内容で送る").click()
            await expect(page.locator("#log li.bot", has_text="受付番号")).to_be_visible()
            await page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

            await page.get_by_role("button", name="English").click()
            await expect(page.locator("#title")).to_have_text("Tsunagu welfare chat")
            assert await page.locator("html").get_attribute("lang") == "en"
            await expect(page.get_by_role("button", name="Send")).to_be_visible()
        finally:
            await browser.close()
    [case] = cases(engine_db)
    assert (case.counter_id, case.town_id, case.channel) == ("mimamori-minami", "minami-1-2", "webchat")


def test_the_pages_words_come_from_the_domain_in_every_language(tmp_path: Path) -> None:
    """A city edits the page's 119/110 notice where it edits every other sentence."""
    shutil.copytree(DOMAIN_PATH.parent / "responses", tmp_path / "responses")
    domain_file = tmp_path / "domain.yml"
    domain_file.write_text(DOMAIN_PATH.read_text(encoding="utf-8").replace(
        "如遇危及生命的紧急情况", "<市的通知>如遇危及生命的紧急情况"), encoding="utf-8")
    page = render_chat_page(STATIC_DIR / "chat.html", load_domain(domain_file))
    words = json.loads(re.search(r"var UI = (\{.*?\});", page, re.DOTALL).group(1))
    assert set(words) == set(RESIDENT_LANGUAGES)
    assert words["zh"]["notice"].startswith("<市的通知>"), "the edited sentence, in its language"
    assert "</" not in re.search(r"var UI = (\{.*?\});", page, re.DOTALL).group(1), "a city's '<' cannot end the script"
    assert words["ja"]["notice"] == load_domain(domain_file).text("utter_page_notice", "ja", "webchat")
