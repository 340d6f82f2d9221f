"""Bad input meets the edge: bodies over the limit get 413, invalid requests a 422 that names the
fields without echoing them, JSON nested too deeply a 400 — never a 500, never the handler."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fastapi.testclient import TestClient

from bot.app import create_app
from bot.db import session_scope
from bot.messages import InboundMessage, TurnResult
from bot.settings import Settings
from bot.staff_api import create_staff_user

LIMIT = 4096
URL = "/webhooks/webchat/messages"
JSON = {"Content-Type": "application/json"}


@pytest.fixture
async def client(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    seen: list[InboundMessage] = []

    def handler(message: InboundMessage) -> TurnResult:
        seen.append(message)
        return TurnResult(replies=[], language="ja")

    app = create_app(Settings(database_url=sqlite_url, max_request_bytes=LIMIT), handler=handler,
                     channel_names=["webchat"], init_database=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        client.seen = seen  # type: ignore[attr-defined]
        yield client


async def test_a_body_under_the_limit_reaches_the_handler(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json={"id": "m1", "text": "こんにちは"})
    assert response.status_code == 200
    assert [message.text for message in client.seen] == ["こんにちは"]  # type: ignore[attr-defined]


async def test_a_declared_body_over_the_limit_is_refused_unread(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, content=b"{" + b" " * LIMIT + b"}", headers=JSON)
    assert response.status_code == 413
    assert client.seen == []  # type: ignore[attr-defined]


async def test_a_streamed_body_over_the_limit_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id": "m1", "text": "'
        for _ in range(LIMIT // 512 + 2):
            yield b"a" * 512
        yield b'"}'

    response = await client.post(URL, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert client.seen == []  # type: ignore[attr-defined]


async def test_an_invalid_request_names_the_field_without_echoing_it(client: httpx.AsyncClient) -> None:
    marker = "090-1234-5678 佐藤花子"
    response = await client.post(URL, json={"id": "m1", "text": marker + "x" * 2000})
    assert response.status_code == 422
    assert marker not in response.text and "090" not in response.text
    assert response.json()["detail"][0]["loc"] == ["body", "text"]


@pytest.mark.parametrize("body", [
    b'{"id": "m1", "latitude": NaN, "longitude": 139.7}',
    b'{"id": "m1", "latitude": 1e400, "longitude": 139.7}',
    b'{"id": "m1", "latitude": 35.0, "longitude": -Infinity}',
])
async def test_numbers_that_are_not_numbers_are_refused(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(URL, content=body, headers=JSON)
    assert response.status_code == 422
    assert client.seen == []  # type: ignore[attr-defined]


async def test_json_nested_too_deeply_is_a_400(client: httpx.AsyncClient) -> None:
    depth = LIMIT // 2 - 8
    response = await client.post(URL, content=b"[" * depth + b"]" * depth, headers=JSON)
    assert response.status_code in (400, 422)
    assert client.seen == []  # type: ignore[attr-defined]


def test_an_id_the_database_cannot_hold_is_a_4xx_on_both_engines(db_url: str) -> None:
    with session_scope(db_url) as session:
        _, token = create_staff_user(session, "sato", ["mimamori-chuo"])
    client = TestClient(create_app(Settings(database_url=db_url), handler=lambda message: None, channel_names=[],
                                   init_database=False))
    response = client.get(f"/api/staff/cases/{2**31}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 404)
