"""The LINE sender against the fake LINE API: limits of the platform, retry keys, 429 back-off."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from linebot.v3.messaging import ApiException, AsyncApiClient, AsyncMessagingApi, Configuration

from bot.messages import Choice, Reply
from channels.line import LineOutput, derived_retry_key
from channels.ratelimit import MemoryRateLimiter
from tests.channels.conftest import LINE_TOKEN
from tests.fakes.line import FakeLineAPI


@pytest.fixture
async def output(line_api: FakeLineAPI) -> AsyncIterator[LineOutput]:
    async with AsyncApiClient(Configuration(host=line_api.url, access_token=LINE_TOKEN)) as api_client:
        yield LineOutput(AsyncMessagingApi(api_client), MemoryRateLimiter())


def test_choices_become_quick_replies_and_too_many_become_numbered_lines() -> None:
    few = Reply("どちらですか", choices=(Choice("はい", "yes", "1"), Choice("いいえ", "no", "2")), request_location=True,
                location_label="Send my location")
    many = Reply("区を選んでください", choices=tuple(Choice(f"選択肢{i}", f"p{i}") for i in range(1, 14)),
                 request_location=True, location_label="Send my location")
    first, second = LineOutput.render([few, many], "en")
    assert [item.action.to_dict() for item in first.quick_reply.items] == [
        {"type": "postback", "label": "はい", "data": "yes", "displayText": "はい"},
        {"type": "postback", "label": "いいえ", "data": "no", "displayText": "いいえ"},
        {"type": "location", "label": "Send my location"},
    ]
    # 13 choices + the location button do not fit in 13 items: numbered lines, location kept.
    assert second.text.splitlines()[:3] == ["区を選んでください", "1. 選択肢1", "2. 選択肢2"]
    assert [item.action.type for item in second.quick_reply.items] == ["location"]


def test_long_titles_are_cut_to_the_label_limit_but_shown_whole() -> None:
    title = "地域包括支援センターに電話で相談したい"  # 21 characters
    [message] = LineOutput.render([Reply("選んでください", choices=(Choice(title, "x"),))], "ja")
    action = message.quick_reply.items[0].action
    assert action.label == title[:20] and action.display_text == title


async def test_more_than_five_replies_reply_five_and_push_the_rest(output: LineOutput, line_api: FakeLineAPI) -> None:
    token = line_api.issue_reply_token("Uaaa")
    replies = [Reply(f"{i}通目") for i in range(1, 8)]
    await output.reply(token, "Uaaa", replies, language="ja", seed="evt-1")
    [reply] = line_api.calls("/reply")
    [push] = line_api.calls("/push")
    assert [m["text"] for m in reply.body["messages"]] == ["1通目", "2通目", "3通目", "4通目", "5通目"]
    assert [m["text"] for m in push.body["messages"]] == ["6通目", "7通目"]
    assert push.headers["X-Line-Retry-Key"] == derived_retry_key("evt-1", 0)


async def test_reply_429_is_retried_after_back_off(output: LineOutput, line_api: FakeLineAPI) -> None:
    line_api.fail_next("/reply", 429, {"message": "Too Many Requests"})
    token = line_api.issue_reply_token("Ubbb")
    await output.reply(token, "Ubbb", [Reply("こんにちは")], language="ja", seed="evt-2")
    assert [call.status for call in line_api.calls("/reply", successful=False)] == [429, 200]


async def test_multicast_sends_with_retry_key_and_a_repeat_counts_as_done(
    output: LineOutput, line_api: FakeLineAPI
) -> None:
    key = str(uuid.uuid4())
    users = [f"U{i:032x}" for i in range(500)]
    await output.multicast(users, [Reply("行方不明者の情報です")], key)
    await output.multicast(users, [Reply("行方不明者の情報です")], key)  # a worker re-ran the batch
    calls = line_api.calls("/multicast", successful=False)
    assert [call.status for call in calls] == [200, 409]
    assert calls[0].headers["X-Line-Retry-Key"] == key
    assert calls[0].body["to"] == users


async def test_multicast_backs_off_on_429(output: LineOutput, line_api: FakeLineAPI) -> None:
    line_api.fail_next("/multicast", 429, {"message": "Too Many Requests"})
    await output.multicast(["Uccc"], [Reply("お知らせ")], str(uuid.uuid4()))
    assert [call.status for call in line_api.calls("/multicast", successful=False)] == [429, 200]


async def test_multicast_refuses_what_line_would_refuse(output: LineOutput) -> None:
    with pytest.raises(ValueError):
        await output.multicast([f"U{i}" for i in range(501)], [Reply("x")], str(uuid.uuid4()))
    with pytest.raises(ValueError):
        await output.multicast(["U1"], [Reply("x")] * 6, str(uuid.uuid4()))
    with pytest.raises(ValueError):
        await output.multicast(["U1"], [Reply("x")], "not-a-uuid")


async def test_wrong_access_token_is_an_error(line_api: FakeLineAPI) -> None:
    async with AsyncApiClient(Configuration(host=line_api.url, access_token="wrong")) as api_client:
        output = LineOutput(AsyncMessagingApi(api_client), MemoryRateLimiter())
        with pytest.raises(ApiException) as raised:
            await output.send("Uddd", [Reply("こんにちは")])
    assert raised.value.status == 401
