"""A fake Telegram Bot API and builders for the Update JSON Telegram posts to a webhook.

Wire format (Telegram Bot API): ``POST /bot<token>/<method>`` with form or JSON
parameters (complex ones such as ``reply_markup`` JSON-encoded); answers
``{"ok": true, "result": …}`` or ``{"ok": false, "error_code": …, "description": …}``;
flood control is ``429`` with ``"parameters": {"retry_after": N}``. Implemented methods:
getMe, sendMessage, sendPhoto, getFile, deleteMessage, answerCallbackQuery, setWebhook,
deleteWebhook, getWebhookInfo; files a user sent (``files``: file_id → bytes) are downloaded
from ``GET /file/bot<token>/<file_path>`` (``file_base_url``). deleteMessage deletes a message this bot sent to that chat (``deleted``)
and answers ``400 Bad Request: message to delete not found`` for any other.

For the fan-out, sendMessage also has a global rate limit (``rate``: 429 with retry_after
beyond it), chats that blocked the bot (``blocked``: 403), a log of every chat a message was
delivered to (``deliveries``) and ``stall_after(n)``: after ``n`` more, a sendMessage hangs
*before* delivering (or after, with ``delivering=True``) until released, then fails with a 500.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.server import PARAMS, FakeHTTPServer

__all__ = ["FakeTelegramAPI", "TelegramUpdates", "retry_after_body"]

BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "つなぐ",
    "username": "tsunagu_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


def retry_after_body(seconds: int) -> dict[str, Any]:
    """The body of Telegram's flood-control answer."""
    return {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {seconds}",
            "parameters": {"retry_after": seconds}}


class FakeTelegramAPI(FakeHTTPServer):
    """The Bot API methods tsunagu uses; ``base_url`` is what PTB's ``base_url()`` takes."""

    def __init__(self, token: str, *, rate: float | None = None) -> None:
        super().__init__(rate=rate)
        self.token = token
        self.blocked: set[str] = set()  # chat ids, as strings
        self.webhook: dict[str, Any] = {}
        self._message_ids = itertools.count(1000)
        self.sent_messages: dict[int, str] = {}  # message id -> chat id, of every message sent
        self.deleted: list[tuple[str, int]] = []  # (chat id, message id) of every deleteMessage done
        self.app.router.add_post("/bot{token}/{method}", self.dispatch)
        self.app.router.add_get("/bot{token}/{method}", self.dispatch)
        self.files: dict[str, bytes] = {}  # file id -> content, of files users sent
        self.app.router.add_get("/file/bot{token}/{path:.+}", self.download)

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def file_base_url(self) -> str:
        return f"{self.url}/file/bot"

    async def download(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].removeprefix("photos/")
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id], content_type="image/jpeg")

    async def dispatch(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"]
        params = request[PARAMS]
        if method == "deleteMessage":
            return self._delete_message(str(params.get("chat_id")), int(params.get("message_id", 0)))
        handler = getattr(self, f"_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        if method == "sendMessage" and (refused := await self._refuse_message(str(params.get("chat_id")))):
            return refused
        response = web.json_response({"ok": True, "result": handler(params)})
        if method == "sendMessage":
            self.delivered(str(params.get("chat_id")))
        return response

    async def _refuse_message(self, chat: str) -> web.Response | None:
        """The fan-out's failures, in the order Telegram checks: blocked, flood control, a hang."""
        if chat in self.blocked:
            return web.json_response({"ok": False, "error_code": 403,
                                      "description": "Forbidden: bot was blocked by the user"}, status=403)
        if self.over_limit():
            return web.json_response(retry_after_body(1), status=429)
        if self.stall.should_stall():
            if self.stall.delivering:
                self.delivered(chat)
            await self.stall.hold()
            return web.json_response({"ok": False, "error_code": 500, "description": "Internal Server Error"},
                                     status=500)
        return None

    def _delete_message(self, chat: str, message_id: int) -> web.Response:
        if self.sent_messages.get(message_id) != chat:
            return web.json_response({"ok": False, "error_code": 400,
                                      "description": "Bad Request: message to delete not found"}, status=400)
        del self.sent_messages[message_id]
        self.deleted.append((chat, message_id))
        return web.json_response({"ok": True, "result": True})

    def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return BOT_USER

    def _sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids)
        self.sent_messages[message_id] = str(chat_id)
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": params["text"],
        }

    def _sendPhoto(self, params: dict[str, Any]) -> dict[str, Any]:
        """A photo sent again by its ``file_id`` (an alert's, with the family's consent), with a caption."""
        chat_id = int(params["chat_id"])
        message_id = next(self._message_ids)
        self.sent_messages[message_id] = str(chat_id)
        photo = str(params["photo"])
        return {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "photo": [{"file_id": photo, "file_unique_id": f"u-{photo[:16]}", "width": 640, "height": 480}],
            "caption": params.get("caption"),
        }

    def _getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params["file_id"])
        content = self.files.get(file_id, b"")
        return {"file_id": file_id, "file_unique_id": f"u-{file_id[:16]}", "file_size": len(content),
                "file_path": f"photos/{file_id}"}

    def _answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        return True

    def _setWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    def _deleteWebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0}

    def sent_to(self, chat_id: int) -> list[dict[str, Any]]:
        """sendMessage parameters for one chat, ``reply_markup`` decoded."""
        out = []
        for call in self.calls("/sendMessage"):
            if int(call.body["chat_id"]) == chat_id:
                params = dict(call.body)
                if isinstance(params.get("reply_markup"), str):
                    params["reply_markup"] = json.loads(params["reply_markup"])
                out.append(params)
        return out


class TelegramUpdates:
    """Update objects as Telegram posts them to a webhook, with increasing update ids."""

    _ids = itertools.count(500_000_001)

    def __init__(self, language_code: str = "ja") -> None:
        self.language_code = language_code

    def _user(self, chat_id: int) -> dict[str, Any]:
        return {"id": chat_id, "is_bot": False, "first_name": "太郎", "language_code": self.language_code}

    def _message(self, chat_id: int, **content: Any) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._ids) % 100000,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private", "first_name": "太郎"},
                "from": self._user(chat_id),
                **content,
            },
        }

    def text(self, chat_id: int, text: str) -> dict[str, Any]:
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
        update = self._message(chat_id, text=text)
        if entities:
            update["message"]["entities"] = entities
        return update

    def location(self, chat_id: int, latitude: float, longitude: float) -> dict[str, Any]:
        return self._message(chat_id, location={"latitude": latitude, "longitude": longitude})

    def callback(self, chat_id: int, data: str) -> dict[str, Any]:
        return {
            "update_id": next(self._ids),
            "callback_query": {
                "id": str(next(self._ids)),
                "from": self._user(chat_id),
                "chat_instance": "-1234567890",
                "data": data,
                "message": {
                    "message_id": 1000,
                    "date": int(time.time()),
                    "chat": {"id": chat_id, "type": "private", "first_name": "太郎"},
                    "from": BOT_USER,
                    "text": "…",
                },
            },
        }

    def blocked(self, chat_id: int) -> dict[str, Any]:
        """The resident blocked the bot (my_chat_member, status kicked)."""
        return {
            "update_id": next(self._ids),
            "my_chat_member": {
                "chat": {"id": chat_id, "type": "private", "first_name": "太郎"},
                "from": self._user(chat_id),
                "date": int(time.time()),
                "old_chat_member": {"user": BOT_USER, "status": "member"},
                "new_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
            },
        }
