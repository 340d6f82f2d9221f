"""LINE Messaging API channel (line-bot-sdk v3): ``POST /webhooks/line``.

Every request's ``x-line-signature`` (HMAC-SHA256 of the raw body with the channel
secret) is checked by the SDK's parser before anything else; a missing signature is a
400, a wrong one a 401, and nothing is stored. An empty ``events`` list (the console's
"Verify" button) is a 200. Events in ``mode: standby`` (another channel owns the chat)
and events from groups or rooms are ignored.

The webhook commits each event to the inbox (``channels.inbox``) and only then answers
200, as quickly as LINE recommends; when the database cannot take it the answer is 503
and LINE redelivers. Events are processed from the inbox, each resident's in arrival
order, also after a crash. A ``webhookEventId`` already stored is a duplicate. Replies go
out with the event's reply token (at most five messages per call, quick replies for
choices, a location button when the flow asks for a place) while it is valid: LINE says
to use it within one minute of receiving the webhook, so an event processed later (after
a restart, behind a backlog) is answered by push, as is a redelivered event, a refused
token and what exceeds five messages. Pushes carry an ``X-Line-Retry-Key`` derived from
the event, so a retried push is never shown twice.

:meth:`LineOutput.multicast` is the sender the missing-person alert fan-out uses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import Self

import aiohttp
from fastapi import APIRouter, Header, Request, Response
from linebot.v3.exceptions import InvalidSignatureError
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    LocationAction,
    MulticastRequest,
    PostbackAction,
    PushMessageRequest,
    QuickReply,
    QuickReplyItem,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    Event,
    FollowEvent,
    ImageMessageContent,
    LocationMessageContent,
    MessageEvent,
    PostbackEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)

from bot.messages import InboundMessage, Reply, TurnResult
from bot.models import utcnow
from bot.settings import Settings
from bot.settings import settings as configured
from channels.base import EngineHandler, OutputChannel, numbered_text
from channels.inbox import Answer, ClaimedEvent, DurableChannel, NewEvent
from channels.ratelimit import RateLimiter, rate_limiter, send_with_backoff

__all__ = ["LineChannel", "LineOutput"]

log = logging.getLogger(__name__)

MAX_MESSAGES = 5  # per reply / push / multicast request
MAX_QUICK_REPLY_ITEMS = 13
MAX_MULTICAST_RECIPIENTS = 500
MAX_LABEL = 20  # quick reply and action labels
_RETRY_NAMESPACE = uuid.UUID("8d1a4f52-3c0e-4f7e-9a55-6b1f0c4e2d10")
_REQUEST_TIMEOUT = 10.0
# LINE: a reply token must be used within one minute of receiving the webhook. A margin
# for the time the reply itself takes (50 s by default); an older event is answered by push.
REPLY_TOKEN_USABLE = timedelta(seconds=configured.line_reply_token_seconds)


def _retry_delay(exc: BaseException) -> float | None:
    """Back off on 429, 5xx and network errors (safe: pushes carry a retry key)."""
    if isinstance(exc, ApiException):
        if exc.status == 429 or (exc.status or 0) >= 500:
            retry_after = (exc.headers or {}).get("Retry-After")
            return float(retry_after) if retry_after and retry_after.isdigit() else 0.0
        return None
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError)):
        return 0.0
    return None


def _reply_retry_delay(exc: BaseException) -> float | None:
    """A reply carries no retry key: only a 429 (not processed at all) is safe to retry."""
    if isinstance(exc, ApiException) and exc.status == 429:
        return 0.0
    return None


def _chunks(items: Sequence[TextMessage], size: int = MAX_MESSAGES) -> list[list[TextMessage]]:
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def derived_retry_key(seed: str, index: int = 0) -> str:
    """A stable UUID for the ``index``-th request made for ``seed`` (an event id or key)."""
    return str(uuid.uuid5(_RETRY_NAMESPACE, f"{seed}:{index}"))


class LineOutput(OutputChannel):
    """Sends replies through the LINE Messaging API (reply, push and multicast)."""

    def __init__(self, api: AsyncMessagingApi, limiter: RateLimiter) -> None:
        self.api = api
        self.limiter = limiter

    @staticmethod
    def render(replies: Sequence[Reply], language: str) -> list[TextMessage]:
        """LINE text messages for ``replies``: choices as quick-reply buttons.

        More choices than fit in a quick reply (13 items, the location button counted)
        fall back to numbered lines in the text.
        """
        messages = []
        for reply in replies:
            items = [
                QuickReplyItem(
                    action=PostbackAction(
                        label=choice.title[:MAX_LABEL], data=choice.payload, displayText=choice.title
                    )
                )
                for choice in reply.choices
            ]
            if reply.request_location:
                items.append(QuickReplyItem(action=LocationAction(label=reply.location_label[:MAX_LABEL])))
            text = reply.text
            if len(items) > MAX_QUICK_REPLY_ITEMS:
                text = numbered_text(reply)
                items = items[len(reply.choices) :]
            quick_reply = QuickReply(items=items) if items else None
            messages.append(TextMessage(text=text, quickReply=quick_reply))
        return messages

    async def reply(self, reply_token: str, user_id: str, replies: Sequence[Reply], *, language: str, seed: str,
                    resumed: bool = False) -> Answer:
        """Answer an event with its reply token; push what the token cannot carry.

        Args:
            reply_token: The event's reply token (valid once, for a short time).
            user_id: Where to push if the token is refused or there are more than five.
            replies: The engine's replies.
            language: Conversation language, for the location button label.
            seed: The event id; push retry keys are derived from it.
            resumed: An earlier attempt may have used the token: LINE refusing a token
                still valid by its age then means that reply got through.

        Returns:
            ``reply``, or ``push`` when the token was refused and everything was pushed.
        """
        messages = self.render(replies, language)
        first, rest = messages[:MAX_MESSAGES], messages[MAX_MESSAGES:]
        request = ReplyMessageRequest(replyToken=reply_token, messages=first)
        answer = Answer.reply
        try:
            await send_with_backoff(
                lambda: self.api.reply_message(request, _request_timeout=_REQUEST_TIMEOUT),
                limiter=self.limiter,
                rules=[("line.reply", "")],
                retry_delay=_reply_retry_delay,
            )
        except ApiException as exc:
            if exc.status != 400:
                raise
            if resumed:
                log.info("line: reply token already used by an earlier attempt")
            else:
                log.info("line: reply token refused (%s); pushing instead", exc.status)
                rest, answer = messages, Answer.push
        if rest:
            await self.push(user_id, rest, seed=seed)
        return answer

    async def send(self, recipient_id: str, replies: Sequence[Reply], *, language: str = "ja") -> None:
        """Push ``replies`` to one user (no reply token), e.g. a callback or an alert."""
        await self.push(recipient_id, self.render(replies, language), seed=str(uuid.uuid4()))

    async def push(self, user_id: str, messages: Sequence[TextMessage], *, seed: str) -> None:
        """Push rendered messages in requests of five, each with a retry key from ``seed``."""
        for index, chunk in enumerate(_chunks(messages)):
            key = derived_retry_key(seed, index)
            request = PushMessageRequest(to=user_id, messages=chunk)
            call = partial(self.api.push_message, request, x_line_retry_key=key, _request_timeout=_REQUEST_TIMEOUT)
            await self._accepted_once(call, "line.push", key)

    async def multicast(
        self, user_ids: Sequence[str], messages: Sequence[Reply], retry_key: str, *, language: str = "ja"
    ) -> None:
        """Send the same replies to up to 500 users in one request (alert fan-out).

        A retried call with the same ``retry_key`` is accepted by LINE at most once
        (a 409 for an already accepted key counts as success), so a worker that died
        mid-send can simply run again.

        Args:
            user_ids: LINE user ids, at most 500.
            messages: The replies to send, at most five.
            retry_key: A UUID string identifying this batch, e.g. from the outbox rows.
            language: Conversation language, for channel-owned labels.

        Raises:
            ValueError: Too many recipients or messages, or a retry key that is not a UUID.
            linebot.v3.messaging.ApiException: LINE refused the request.
        """
        if not user_ids or len(user_ids) > MAX_MULTICAST_RECIPIENTS:
            raise ValueError(f"multicast needs 1..{MAX_MULTICAST_RECIPIENTS} user ids, got {len(user_ids)}")
        if not messages or len(messages) > MAX_MESSAGES:
            raise ValueError(f"multicast sends 1..{MAX_MESSAGES} messages, got {len(messages)}")
        uuid.UUID(retry_key)
        request = MulticastRequest(to=list(user_ids), messages=self.render(messages, language))
        call = partial(self.api.multicast, request, x_line_retry_key=retry_key, _request_timeout=_REQUEST_TIMEOUT)
        await self._accepted_once(call, "line.multicast", retry_key)

    async def _accepted_once(self, call: Callable[[], Awaitable[object]], rule: str, retry_key: str) -> None:
        """Send a request carrying ``retry_key``; LINE's 409 means an earlier try got through."""
        try:
            await send_with_backoff(call, limiter=self.limiter, rules=[(rule, "")], retry_delay=_retry_delay)
        except ApiException as exc:
            if exc.status != 409:
                raise
            log.info("line: %s already accepted (retry key %s)", rule, retry_key)


def to_inbound(event: Event) -> InboundMessage | None:
    """The common message for a LINE webhook event, or None for events tsunagu ignores."""
    source = getattr(event, "source", None)
    if not isinstance(source, UserSource) or not source.user_id:
        return None
    common = {
        "channel": LineChannel.name(),
        "user_id": source.user_id,
        "event_id": event.webhook_event_id,
        "metadata": {"redelivery": bool(event.delivery_context and event.delivery_context.is_redelivery)},
    }
    if isinstance(event, MessageEvent):
        content = event.message
        if isinstance(content, TextMessageContent):
            return InboundMessage(text=content.text, **common)
        if isinstance(content, LocationMessageContent):
            return InboundMessage(
                latitude=content.latitude, longitude=content.longitude, address=content.address, **common
            )
        if isinstance(content, ImageMessageContent):
            return InboundMessage(media_ref=f"line:message:{content.id}", **common)
        common["metadata"]["kind"] = content.type
        return InboundMessage(**common)
    if isinstance(event, PostbackEvent):
        return InboundMessage(postback=event.postback.data, **common)
    if isinstance(event, FollowEvent):
        return InboundMessage(event="follow", **common)
    if isinstance(event, UnfollowEvent):
        return InboundMessage(event="unfollow", **common)
    return None


class LineChannel(DurableChannel):
    """The LINE webhook and its reply/push sender."""

    def __init__(self, channel_secret: str, access_token: str, api_host: str, handler: EngineHandler):
        super().__init__(handler)
        self.parser = WebhookParser(channel_secret)
        self.configuration = Configuration(host=api_host, access_token=access_token)
        self._client: AsyncApiClient | None = None
        self._output: LineOutput | None = None

    @classmethod
    def name(cls) -> str:
        return "line"

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        return bool(settings.line_channel_secret and settings.line_channel_access_token)

    @classmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        return cls(
            settings.line_channel_secret, settings.line_channel_access_token, settings.line_api_host, handler
        )

    @property
    def output(self) -> LineOutput:
        """The sender (available between :meth:`startup` and :meth:`shutdown`)."""
        if self._output is None:
            raise RuntimeError("LineChannel.startup() has not run")
        return self._output

    async def startup(self) -> None:
        self._client = AsyncApiClient(self.configuration)
        self._output = LineOutput(AsyncMessagingApi(self._client), rate_limiter())

    async def shutdown(self) -> None:
        await super().shutdown()
        if self._client is not None:
            await self._client.close()
            self._client = self._output = None

    def router(self) -> APIRouter:
        router = APIRouter()

        @router.post("", summary="LINE webhook")
        async def webhook(request: Request, x_line_signature: str | None = Header(default=None)) -> Response:
            if not x_line_signature:
                return Response("missing x-line-signature", status_code=400)
            try:
                body = (await request.body()).decode("utf-8")
                events = self.parser.parse(body, x_line_signature)
            except InvalidSignatureError:
                log.warning("line: invalid signature from %s", request.client.host if request.client else "?")
                return Response("invalid signature", status_code=401)
            except (UnicodeDecodeError, ValueError, KeyError, TypeError):
                return Response("malformed body", status_code=400)
            # The parser read the same list: the raw events line up with the parsed ones.
            raw_events = json.loads(body)["events"]
            stored = []
            for event, raw in zip(events, raw_events, strict=True):
                if getattr(event, "mode", None) is not None and event.mode.value == "standby":
                    continue
                message = to_inbound(event)
                if message is None or not message.event_id:
                    continue
                stored.append(NewEvent(event_id=message.event_id, resident=message.user_id, payload=raw))
            return await self.acknowledge(stored)

        return router

    def inbound(self, event: ClaimedEvent) -> InboundMessage | None:
        return to_inbound(Event.from_dict(event.payload))

    async def answer(self, event: ClaimedEvent, message: InboundMessage, result: TurnResult) -> Answer:
        reply_token = event.payload.get("replyToken")
        # A redelivered event's token may already be spent; an old one has expired.
        if (reply_token and not message.metadata.get("redelivery")
                and utcnow() - event.received_at < REPLY_TOKEN_USABLE):
            return await self.output.reply(reply_token, message.user_id, result.replies, language=result.language,
                                           seed=event.event_id, resumed=event.resumed)
        await self.output.push(message.user_id, self.output.render(result.replies, result.language),
                               seed=event.event_id)
        return Answer.push


async def fetch_content(data_host: str, access_token: str, message_id: str) -> tuple[bytes, str]:
    """What a user sent (an image) by its message id, and its content type, from LINE's data host.

    Only this channel's token can read it, so an alert's photo is copied from here before
    LINE cooperators get it at a public address (``alerts.media``).

    Raises:
        ApiException: when LINE refuses (the content expired, a wrong token).
    """
    async with AsyncApiClient(Configuration(host=data_host, access_token=access_token)) as client:
        response = await AsyncMessagingApiBlob(client).get_message_content_with_http_info(message_id)
    content_type = next((value for key, value in (response.headers or {}).items() if key.lower() == "content-type"),
                        "image/jpeg")
    return bytes(response.data), content_type.split(";")[0].strip()
