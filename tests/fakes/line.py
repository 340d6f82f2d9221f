"""A fake LINE Messaging API (reply, push, multicast) and builders for signed webhook bodies.

Wire formats follow the LINE Messaging API reference: requests carry
``Authorization: Bearer <channel access token>``; reply/push answer
``{"sentMessages": [{"id", "quoteToken"}]}``, multicast ``{}``, each with the request's id in
``x-line-request-id``; a spent or unknown reply
token is ``400 {"message": "Invalid reply token"}``; more than five messages or more
than thirteen quick-reply items is a 400 with ``details``; a push or multicast whose
``X-Line-Retry-Key`` was already accepted is a 409 with ``x-line-accepted-request-id``, the
id of the request that was accepted (whoever sent it: keys are the sender's to make unique).
Webhook events are shaped like LINE's: ``webhookEventId`` (ULID-like),
``deliveryContext.isRedelivery``, ``mode``, ``source``, ``replyToken``.

For the fan-out, multicast also has a rate limit (``rate``: 429 beyond it), user ids LINE
does not know (``unknown_users``: 400 naming ``to[i]``), a log of every recipient of an
accepted multicast (``deliveries``; a repeated retry key delivers nothing, as on the real
API) and ``stall_after(n)``: the multicast after ``n`` more is accepted (its retry key is
taken) and never answered, as if the sender died before it read the response. What users
sent (``contents``: message id → bytes and type) is downloaded from
``GET /v2/bot/message/{messageId}/content``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
import uuid
from typing import Any

from aiohttp import web

from tests.fakes.server import PARAMS, FakeHTTPServer

__all__ = ["FakeLineAPI", "LineEvents", "sign"]

# The id LINE gives each API request (x-line-request-id), set when the request is checked.
REQUEST_ID = web.RequestKey("request_id", str)


def sign(body: str, channel_secret: str) -> str:
    """The ``x-line-signature`` LINE computes for ``body``."""
    digest = hmac.new(channel_secret.encode(), body.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _error(status: int, message: str, details: list[dict[str, str]] | None = None,
           headers: dict[str, str] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return web.json_response(body, status=status, headers=headers)


class FakeLineAPI(FakeHTTPServer):
    """The LINE Messaging API endpoints tsunagu uses, on loopback."""

    def __init__(self, access_token: str, *, rate: float | None = None) -> None:
        super().__init__(rate=rate)
        self.access_token = access_token
        self.token_owner: dict[str, str] = {}  # every issued reply token -> user id
        self.unused_tokens: set[str] = set()
        self.retry_keys: dict[str, str] = {}  # accepted retry key -> request id
        self.unknown_users: set[str] = set()
        self.accepted_requests: list[tuple[float, int]] = []  # (monotonic time, recipients) of each multicast
        self.duplicates_refused = 0
        self.app.router.add_post("/v2/bot/message/reply", self.reply)
        self.app.router.add_post("/v2/bot/message/push", self.push)
        self.app.router.add_post("/v2/bot/message/multicast", self.multicast)
        # What users sent (images), by message id: served as the data host's content endpoint.
        self.contents: dict[str, tuple[bytes, str]] = {}
        self.app.router.add_get("/v2/bot/message/{message_id}/content", self.content)

    async def content(self, request: web.Request) -> web.Response:
        """``GET /v2/bot/message/{messageId}/content`` (on LINE, the api-data.line.me host)."""
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "Authentication failed.")
        found = self.contents.get(request.match_info["message_id"])
        if found is None:
            return _error(404, "Not found")
        return web.Response(body=found[0], content_type=found[1])

    def issue_reply_token(self, user_id: str) -> str:
        """A reply token for one webhook event (valid once)."""
        token = uuid.uuid4().hex
        self.token_owner[token] = user_id
        self.unused_tokens.add(token)
        return token

    def _check(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "Authentication failed. Confirm that the access token in the authorization header is valid.")
        messages = request[PARAMS].get("messages") or []
        if not 1 <= len(messages) <= 5:
            return _error(400, "The request body has 1 error(s)",
                          [{"message": "Size must be between 1 and 5", "property": "messages"}])
        for index, message in enumerate(messages):
            items = (message.get("quickReply") or {}).get("items", [])
            if len(items) > 13:
                return _error(400, "The request body has 1 error(s)",
                              [{"message": "Size must be between 1 and 13",
                                "property": f"messages[{index}].quickReply.items"}])
        return None

    @staticmethod
    def _sent(request: web.Request, count: int) -> web.Response:
        return web.json_response(
            {"sentMessages": [{"id": str(time.time_ns() + i), "quoteToken": uuid.uuid4().hex} for i in range(count)]},
            headers={"x-line-request-id": request[REQUEST_ID]},
        )

    def _retry_conflict(self, request: web.Request) -> web.Response | None:
        request[REQUEST_ID] = uuid.uuid4().hex
        key = request.headers.get("X-Line-Retry-Key")
        if key is None:
            return None
        if key in self.retry_keys:
            return _error(409, "The retry key is already accepted",
                          headers={"x-line-accepted-request-id": self.retry_keys[key],
                                   "x-line-request-id": request[REQUEST_ID]})
        self.retry_keys[key] = request[REQUEST_ID]
        return None

    async def reply(self, request: web.Request) -> web.Response:
        if (error := self._check(request)) is not None:
            return error
        token = request[PARAMS].get("replyToken")
        if token not in self.unused_tokens:
            return _error(400, "Invalid reply token")
        self.unused_tokens.discard(token)
        request[REQUEST_ID] = uuid.uuid4().hex
        return self._sent(request, len(request[PARAMS]["messages"]))

    async def push(self, request: web.Request) -> web.Response:
        if (error := self._check(request) or self._retry_conflict(request)) is not None:
            return error
        return self._sent(request, len(request[PARAMS]["messages"]))

    async def multicast(self, request: web.Request) -> web.Response:
        if self.over_limit():
            return _error(429, "The API rate limit has been exceeded. Try again later.", headers={"Retry-After": "1"})
        if (error := self._check(request)) is not None:
            return error
        to = request[PARAMS].get("to", [])
        if not 1 <= len(to) <= 500:
            return _error(400, "The request body has 1 error(s)",
                          [{"message": "Size must be between 1 and 500", "property": "to"}])
        if unknown := [index for index, user in enumerate(to) if user in self.unknown_users]:
            return _error(400, "The request body has 1 error(s)",
                          [{"message": "Invalid user id", "property": f"to[{index}]"} for index in unknown])
        if (error := self._retry_conflict(request)) is not None:
            self.duplicates_refused += 1
            return error
        self.accepted_requests.append((time.monotonic(), len(to)))
        self.delivered(*to)
        if self.stall.should_stall():
            await self.stall.hold()
        return web.json_response({}, headers={"x-line-request-id": request[REQUEST_ID]})

    def messages_to(self, user_id: str) -> list[dict[str, Any]]:
        """Every message delivered to ``user_id`` (replies and pushes), in order."""
        out: list[dict[str, Any]] = []
        sends = [call for suffix in ("/reply", "/push", "/multicast") for call in self.calls(suffix)]
        for call in sorted(sends, key=self.requests.index):
            body = call.body
            recipients = {
                "/reply": [self.token_owner.get(body.get("replyToken", ""))],
                "/push": [body.get("to")],
                "/multicast": body.get("to", []),
            }[call.path[call.path.rindex("/"):]]
            if user_id in recipients:
                out.extend(body["messages"])
        return out


class LineEvents:
    """Builds webhook bodies the way LINE sends them, with fresh ids and reply tokens."""

    _ids = itertools.count(1)

    def __init__(self, api: FakeLineAPI, channel_secret: str, bot_user_id: str = "U0bot") -> None:
        self.api = api
        self.channel_secret = channel_secret
        self.bot_user_id = bot_user_id

    def _base(self, user_id: str, kind: str, *, reply: bool = True, redelivery: bool = False,
              mode: str = "active") -> dict[str, Any]:
        event: dict[str, Any] = {
            "type": kind,
            "mode": mode,
            "timestamp": int(time.time() * 1000),
            "source": {"type": "user", "userId": user_id},
            "webhookEventId": f"01TSUNAGU{next(self._ids):017d}",
            "deliveryContext": {"isRedelivery": redelivery},
        }
        if reply:
            event["replyToken"] = self.api.issue_reply_token(user_id)
        return event

    def text(self, user_id: str, text: str, **options: Any) -> dict[str, Any]:
        event = self._base(user_id, "message", **options)
        event["message"] = {"type": "text", "id": str(time.time_ns()), "quoteToken": uuid.uuid4().hex, "text": text}
        return event

    def location(self, user_id: str, latitude: float, longitude: float, address: str | None = None,
                 **options: Any) -> dict[str, Any]:
        event = self._base(user_id, "message", **options)
        event["message"] = {"type": "location", "id": str(time.time_ns()), "title": "位置情報",
                            "address": address, "latitude": latitude, "longitude": longitude}
        return event

    def image(self, user_id: str, **options: Any) -> dict[str, Any]:
        event = self._base(user_id, "message", **options)
        event["message"] = {"type": "image", "id": str(time.time_ns()), "quoteToken": uuid.uuid4().hex,
                            "contentProvider": {"type": "line"}}
        return event

    def postback(self, user_id: str, data: str, **options: Any) -> dict[str, Any]:
        event = self._base(user_id, "postback", **options)
        event["postback"] = {"data": data}
        return event

    def follow(self, user_id: str, **options: Any) -> dict[str, Any]:
        event = self._base(user_id, "follow", **options)
        event["follow"] = {"isUnblocked": False}
        return event

    def unfollow(self, user_id: str, **options: Any) -> dict[str, Any]:
        return self._base(user_id, "unfollow", reply=False, **options)

    def redelivered(self, event: dict[str, Any]) -> dict[str, Any]:
        """The same event again, as LINE redelivers it (same id, isRedelivery true)."""
        again = json.loads(json.dumps(event))
        again["deliveryContext"]["isRedelivery"] = True
        return again

    def body(self, *events: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The raw body and headers of one webhook request carrying ``events``."""
        body = json.dumps({"destination": self.bot_user_id, "events": list(events)}, ensure_ascii=False)
        return body, {"content-type": "application/json", "x-line-signature": sign(body, self.channel_secret)}
