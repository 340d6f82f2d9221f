"""The app: configured channels are mounted under /webhooks/<name>, unconfigured ones are not."""

from __future__ import annotations

import httpx

from channels.registry import CHANNELS
from tests.channels.conftest import channel_settings, open_client
from tests.fakes.line import FakeLineAPI
from tests.fakes.telegram import FakeTelegramAPI


async def test_registry_names_every_webhook_channel() -> None:
    assert set(CHANNELS) == {"line", "telegram", "voice", "webchat"}
    assert all(CHANNELS[name].path() == f"/webhooks/{name}" for name in CHANNELS)


async def test_configured_channels_are_mounted_and_listed(
    engine_db: str, line_api: FakeLineAPI, telegram_api: FakeTelegramAPI
) -> None:
    settings = channel_settings(engine_db, line_api_host=line_api.url, telegram_base_url=telegram_api.base_url)
    async for client in open_client(settings, list(CHANNELS)):
        health = await client.get("/healthz")
        assert health.json() == {"status": "ok", "channels": ["line", "telegram", "voice", "webchat"]}
        page = await client.get("/chat")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "/webhooks/webchat/messages" in page.text


async def test_a_channel_without_its_secret_is_not_mounted(engine_db: str) -> None:
    settings = channel_settings(engine_db, line_channel_secret="", telegram_secret_token="", twilio_auth_token="")
    async for client in open_client(settings, list(CHANNELS)):
        assert (await client.get("/healthz")).json()["channels"] == ["webchat"]
        for path in ("/webhooks/line", "/webhooks/telegram", "/webhooks/voice"):
            response: httpx.Response = await client.post(path, content=b"{}")
            assert response.status_code == 404, path
