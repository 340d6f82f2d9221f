"""An alert as cooperators receive it: the 「見かけた」 button on LINE and Telegram, the photo only with consent."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alerts.fanout import runner
from alerts.lifecycle import found
from alerts.fanout.senders import line_messages, telegram_photo
from alerts.texts import AlertMessage
from bot.db import session_scope
from bot.messages import Choice
from bot.app import create_app
from bot.models import Alert, AlertMedia
from bot.settings import settings
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


# A tiny JPEG's bytes as the platforms would hand them back (the content is never decoded).
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4 + b"\xff\xd9"
PUBLIC = "https://tsunagu.aoba.example.lg.jp"


@pytest.mark.parametrize("origin", ["line", "telegram"])
def test_a_consented_photo_reaches_line_at_a_public_address_while_the_alert_runs(
        fanout_env, fakes: Fakes, city, db_url: str, origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "public_base_url", PUBLIC)
    monkeypatch.setattr(settings, "line_api_data_host", fakes.line.url)
    monkeypatch.setattr(settings, "telegram_file_base_url", fakes.telegram.file_base_url)
    if origin == "line":
        fakes.line.contents["5501"], ref = (JPEG, "image/jpeg"), "line:message:5501"
    else:
        fakes.telegram.files["AgACAgIAAx-family"], ref = JPEG, "telegram:photo:AgACAgIAAx-family"
    seed(db_url, city, [[("line", address("line", 1))], [("telegram", address("telegram", 2))]], towns=[TOWN])
    alert_id = make_alert(db_url, city, TOWN)
    with session_scope(db_url) as session:
        alert = session.get(Alert, alert_id)
        alert.photo_ref, alert.share_identity = ref, True
    assert enqueue(db_url, alert_id) == 2
    runner.process_outbox(["line", "telegram"])

    [multicast] = fakes.line.calls("/multicast")
    image, text = multicast.body["messages"]
    assert (image["type"], text["type"]) == ("image", "text"), "the photo first, then the text and its button"
    url = image["originalContentUrl"]
    assert url.startswith(f"{PUBLIC}/media/") and image["previewImageUrl"] == url
    [sent] = fakes.telegram.calls("/sendPhoto")
    assert sent.body["photo"] == ("AgACAgIAAx-family" if origin == "telegram" else url), \
        "Telegram sends its own file again, else the public copy"

    web = TestClient(create_app())
    served = web.get(url.removeprefix(PUBLIC))
    assert (served.status_code, served.content, served.headers["content-type"]) == (200, JPEG, "image/jpeg")
    assert served.headers["cache-control"] == "no-store"
    assert web.get("/media/not-a-token").status_code == 404
    with session_scope(db_url) as session:
        found(session, session.get(Alert, alert_id), by="desk")
        assert session.scalar(select(func.count()).select_from(AlertMedia)) == 0, "deleted when the search ends"
    assert web.get(url.removeprefix(PUBLIC)).status_code == 404


def test_no_photo_is_copied_without_consent_or_a_public_https_address(
        fanout_env, fakes: Fakes, city, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "line_api_data_host", fakes.line.url)
    fakes.line.contents["5502"] = (JPEG, "image/jpeg")
    seed(db_url, city, [[("line", address("line", 1))]], towns=[TOWN])
    for share, public in ((False, PUBLIC), (True, "http://localhost:8000")):
        monkeypatch.setattr(settings, "public_base_url", public)
        alert_id = make_alert(db_url, city, TOWN)
        with session_scope(db_url) as session:
            alert = session.get(Alert, alert_id)
            alert.photo_ref, alert.share_identity = "line:message:5502", share
        assert enqueue(db_url, alert_id) == 1
        runner.process_outbox(["line"])
    assert [[message["type"] for message in call.body["messages"]] for call in fakes.line.calls("/multicast")] \
        == [["text"], ["text"]]
    assert not fakes.line.calls("/content"), "nothing fetched"
    with session_scope(db_url) as session:
        assert session.scalar(select(func.count()).select_from(AlertMedia)) == 0
