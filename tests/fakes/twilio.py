"""A fake Twilio REST API (Messages) and helpers to sign voice webhooks as Twilio does.

Wire format (Twilio REST API 2010-04-01): ``POST /2010-04-01/Accounts/{Sid}/Messages.json``,
HTTP basic auth ``AccountSid:AuthToken``, form fields ``To``, ``From``, ``Body``; answers
``201`` with the Message resource JSON, errors as ``{"code", "message", "more_info",
"status"}`` (``20003`` authenticate, ``20429`` too many requests).

Voice webhooks are form posts signed with ``X-Twilio-Signature``: base64 HMAC-SHA1 of the
full URL followed by each POST parameter name and value, sorted by name, keyed with the
auth token (the same algorithm as the SDK's ``RequestValidator``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import BasicAuth, web

from tests.fakes.server import PARAMS, FakeHTTPServer

__all__ = ["FakeTwilioAPI", "too_many_requests", "twilio_signature"]


def twilio_signature(url: str, params: dict[str, str], auth_token: str) -> str:
    """``X-Twilio-Signature`` for a form POST of ``params`` to ``url``."""
    payload = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def too_many_requests() -> dict[str, Any]:
    return {"code": 20429, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429",
            "status": 429}


class FakeTwilioAPI(FakeHTTPServer):
    """Twilio's Messages endpoint on loopback."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._sids = itertools.count(1)
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self.create_message)

    async def create_message(self, request: web.Request) -> web.Response:
        try:
            auth = BasicAuth.decode(request.headers.get("Authorization", ""))
        except ValueError:
            auth = None
        if auth is None or (auth.login, auth.password) != (self.account_sid, self.auth_token) \
                or request.match_info["sid"] != self.account_sid:
            return web.json_response({"code": 20003, "message": "Authenticate",
                                      "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401},
                                     status=401)
        params = request[PARAMS]
        sid = f"SM{next(self._sids):032x}"
        now = format_datetime(datetime.now(UTC))
        return web.json_response({
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": params.get("Body"),
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": params.get("From"),
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": params.get("To"),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }, status=201)
