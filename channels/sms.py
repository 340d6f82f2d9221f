"""Outbound SMS through the Twilio Messages API (alerts and callbacks only).

Japan has no two-way SMS for this kind of service, so there is no inbound SMS channel:
this module only sends. One :class:`twilio.rest.Client` with one asynchronous HTTP
session serves every send; ``client.api.base_url`` comes from
``settings.twilio_api_base_url`` so tests talk to a fake. Sends draw from the
``sms.send`` bucket of :mod:`channels.ratelimit` and back off on 429.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot.messages import Reply
from bot.settings import Settings
from channels.base import OutputChannel, numbered_text
from channels.ratelimit import RateLimiter, rate_limiter, send_with_backoff

__all__ = ["SmsSender"]


def _retry_delay(exc: BaseException) -> float | None:
    if isinstance(exc, TwilioRestException) and exc.status == 429:
        return 0.0
    return None


class SmsSender(OutputChannel):
    """Sends text messages from ``settings.twilio_from_number``.

    Call :meth:`start` inside the running event loop before sending and :meth:`close`
    when done (the HTTP session belongs to the loop it was opened in).
    """

    def __init__(
        self, account_sid: str, auth_token: str, from_number: str, api_base_url: str, limiter: RateLimiter | None = None
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.api_base_url = api_base_url
        self.limiter = limiter or rate_limiter()
        self._client: Client | None = None
        self._http: AsyncTwilioHttpClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, limiter: RateLimiter | None = None) -> Self:
        """A sender for the Twilio account and number in ``settings``, paced by ``limiter``."""
        return cls(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            settings.twilio_from_number,
            settings.twilio_api_base_url,
            limiter,
        )

    async def start(self) -> None:
        """Open the HTTP session (one per sender, reused by every send)."""
        self._http = AsyncTwilioHttpClient(timeout=10)
        self._client = Client(self.account_sid, self.auth_token, http_client=self._http)
        self._client.api.base_url = self.api_base_url

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = self._client = None

    async def send_text(self, to: str, body: str) -> str:
        """Send one SMS and return its Message SID.

        Args:
            to: The recipient in E.164 form ("+8190…").
            body: The text (Twilio splits long texts into segments).

        Raises:
            RuntimeError: :meth:`start` has not run.
            twilio.base.exceptions.TwilioRestException: Twilio refused the message.
        """
        client = self._client
        if client is None:
            raise RuntimeError("SmsSender.start() has not run")
        message = await send_with_backoff(
            lambda: client.messages.create_async(to=to, from_=self.from_number, body=body),
            limiter=self.limiter,
            rules=[("sms.send", "")],
            retry_delay=_retry_delay,
        )
        return str(message.sid)

    async def send(self, recipient_id: str, replies: Sequence[Reply], *, language: str = "ja") -> None:
        """Send the replies as one SMS (choices as numbered lines: SMS has no buttons)."""
        await self.send_text(recipient_id, "\n\n".join(numbered_text(reply) for reply in replies))
