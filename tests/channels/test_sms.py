"""Outbound SMS through the real twilio client against the fake Twilio REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from twilio.base.exceptions import TwilioRestException

from bot.messages import Choice, Reply
from channels.ratelimit import MemoryRateLimiter
from channels.sms import SmsSender
from tests.channels.conftest import TWILIO_SID, TWILIO_TOKEN
from tests.fakes.twilio import FakeTwilioAPI, too_many_requests


@pytest.fixture
async def sender(twilio_api: FakeTwilioAPI) -> AsyncIterator[SmsSender]:
    sender = SmsSender(TWILIO_SID, TWILIO_TOKEN, "+815012345678", twilio_api.url, MemoryRateLimiter())
    await sender.start()
    yield sender
    await sender.close()


async def test_sends_one_message_and_returns_its_sid(sender: SmsSender, twilio_api: FakeTwilioAPI) -> None:
    sid = await sender.send_text("+819012345678", "行方不明者の情報です")
    [call] = twilio_api.calls("/Messages.json")
    assert call.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert call.body == {"To": "+819012345678", "From": "+815012345678", "Body": "行方不明者の情報です"}
    assert sid.startswith("SM")


async def test_replies_become_one_text_with_numbered_choices(sender: SmsSender, twilio_api: FakeTwilioAPI) -> None:
    await sender.send("+819012345678", [Reply("見かけましたか", choices=(Choice("はい", "yes"), Choice("いいえ", "no")))])
    [call] = twilio_api.calls("/Messages.json")
    assert call.body["Body"] == "見かけましたか\n1. はい\n2. いいえ"


async def test_429_is_retried_after_back_off(sender: SmsSender, twilio_api: FakeTwilioAPI) -> None:
    twilio_api.fail_next("/Messages.json", 429, too_many_requests())
    await sender.send_text("+819012345678", "テスト")
    assert [call.status for call in twilio_api.calls("/Messages.json", successful=False)] == [429, 201]


async def test_wrong_credentials_raise(twilio_api: FakeTwilioAPI) -> None:
    sender = SmsSender(TWILIO_SID, "wrong-token", "+815012345678", twilio_api.url, MemoryRateLimiter())
    await sender.start()
    try:
        with pytest.raises(TwilioRestException) as raised:
            await sender.send_text("+819012345678", "テスト")
    finally:
        await sender.close()
    assert raised.value.status == 401
