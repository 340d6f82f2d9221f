"""An alert as cooperators receive it: the 「見かけた」 button on LINE and Telegram, the photo only with consent."""

from __future__ import annotations

import json

import pytest

from alerts.fanout import runner
from alerts.fanout.senders import line_messages, telegram_photo
from alerts.texts import AlertMessage
from bot.db import session_scope
from bot.messages import Choice
from bot.models import Alert
from tests.alerts.fanout.conftest import Fakes, address, enqueue, make_alert, seed

TOWN = "chuo-1-1"
PHOTO = "telegram:photo:AgACAgIAAxkBAAIBZmZ-face"


@pytest.mark.parametrize("share", [False, True])
def test_the_alert_has_the_saw_them_button_and_the_photo_only_with_consent(
        fanout_env, fakes: Fakes, city, db_url: str, share: bool) -> None:
    seed(db_url, city, [[("line", address("line", 1))], [("telegram", address("telegram", 2))]], towns=[TOWN])
    alert_id = make_alert(db_url, city, TOWN)
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        alert.photo_ref, alert.share_identity = PHOTO, share
    assert enqueue(db_url, alert_id) == 2
    runner.process_outbox(["line", "telegram"])

    payload = f"sighting:{alert_id}"
    [multicast] = fakes.line.calls("/multicast")
    messages = multicast.body["messages"]
    assert [message["type"] for message in messages] == ["text"], "a Telegram photo cannot go to LINE"
    assert [item["action"]["data"] for item in messages[0]["quickReply"]["items"]] == [payload]

    photos, texts = fakes.telegram.calls("/sendPhoto"), fakes.telegram.calls("/sendMessage")
    [sent] = photos if share else texts
    assert not (texts if share else photos)
    if share:
        assert sent.body["photo"] == PHOTO.removeprefix("telegram:photo:") and sent.body["caption"]
    markup = sent.body["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert [button["callback_data"] for row in markup["inline_keyboard"] for button in row] == [payload]


def test_where_each_platform_can_send_the_photo_from() -> None:
    button = (Choice("見かけた", "sighting:7"),)
    telegram = AlertMessage("本文", button, PHOTO)
    assert telegram_photo(telegram) == "AgACAgIAAxkBAAIBZmZ-face"
    assert telegram_photo(AlertMessage("本文", button, None)) is None, "no consent, no photo"
    assert telegram_photo(AlertMessage("長" * 1025, button, PHOTO)) is None, "over the caption limit: text only"
    assert telegram_photo(AlertMessage("本文", button, "https://city.example.jp/p/7.jpg")) is None
    stored = line_messages(AlertMessage("本文", button, "https://city.example.jp/p/7.jpg"), "ja")
    assert [message.type for message in stored] == ["image", "text"]
    assert stored[0].original_content_url == "https://city.example.jp/p/7.jpg"
    assert [message.type for message in line_messages(telegram, "ja")] == ["text"]
