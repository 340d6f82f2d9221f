"""The small interface every channel implements, and the fallbacks they share.

An *input channel* turns a platform's webhook into :class:`~bot.messages.InboundMessage`
objects: it has a :meth:`InputChannel.name`, a :meth:`InputChannel.from_settings`
constructor and a FastAPI :meth:`InputChannel.router` that ``bot.app`` mounts at
``/webhooks/<name>``. It verifies the platform's signature or secret before it looks at
anything else, hands each message to the engine handler it was built with (synchronous,
so it runs in a worker thread) and sends the engine's replies back through an *output
channel*. Channels never import the engine: ``bot.app`` passes its handler in.

An *output channel* renders :class:`~bot.messages.Reply` objects in the platform's form.
Where a platform cannot show something, the shared fallbacks here apply: choices become
numbered lines ("1. …") in text, and are spoken with their key digits on the phone.
:class:`CollectingOutput` keeps replies instead of sending them, for request/response
channels (web chat JSON, TwiML) and tests.

The only words a channel owns are these fallback formats, the phone's short "press * to
hear this again" after a question (:func:`repeat_hint`) and the label of a "send my
location" button; everything said comes from the engine. On the phone, numbers are spelt
digit by digit (:func:`spoken_digits`).
"""

from __future__ import annotations

import asyncio
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from typing import Any, Self

import anyio
from fastapi import APIRouter

from bot.messages import Choice, InboundMessage, Reply, TurnResult
from bot.settings import Settings

__all__ = [
    "WEBHOOK_PREFIX",
    "CollectingOutput",
    "EngineHandler",
    "InputChannel",
    "OutputChannel",
    "SerialTasks",
    "choice_digits",
    "numbered_text",
    "repeat_hint",
    "spoken_choices",
    "spoken_digits",
]

log = logging.getLogger(__name__)

WEBHOOK_PREFIX = "/webhooks"
"""Every input channel's routes live under ``/webhooks/<name>``."""

EngineHandler = Callable[[InboundMessage], TurnResult]
"""The engine's entry point, as ``bot.app`` wires it (``ConversationEngine.handle``), or a test double."""

ENGINE_THREADS = 1
"""Worker threads per channel running engine turns. One: a turn is a few milliseconds of
CPU under the GIL, and every extra thread takes the GIL from the event loop that must
acknowledge webhooks quickly (measured with benchmarks/webhook_load.py). Scale out with
more processes instead."""

def choice_digits(choices: Sequence[Choice]) -> list[str]:
    """The key of each choice: its own ``digit``, else its position counted from 1."""
    return [choice.digit or str(index) for index, choice in enumerate(choices, start=1)]


def numbered_text(reply: Reply) -> str:
    """The reply's text followed by its choices as numbered lines ("1. …")."""
    if not reply.choices:
        return reply.text
    lines = [f"{digit}. {choice.title}" for digit, choice in zip(choice_digits(reply.choices), reply.choices)]
    return "\n".join([reply.text, *lines])


def spoken_choices(choices: Sequence[Choice], language: str) -> list[str]:
    """Each choice as a short spoken sentence naming its key ("1番、相談先を知りたい。")."""
    digits = choice_digits(choices)
    if language == "en":
        return [f"Press {digit} for {choice.title}." for digit, choice in zip(digits, choices)]
    return [f"{digit}番、{choice.title}。" for digit, choice in zip(digits, choices)]


# A phone number in a text ("06-0000-1002", "0120 279 338", "09012345678"): said digit by digit.
_PHONE_NUMBER = re.compile(r"(?<![\d０-９:.])0\d{1,4}(?:[-‐‑–−ー－\s]?\d{1,4}){1,2}(?![\d０-９:])")
_PHONE_DIGITS = 9  # fewer digits are a time or a count, not a phone number (0120-279-338 has 10)
_GROUP_SEPARATOR = {"ja": "、", "en": ", "}
# The phone's repeat key, said after a question that does not name it itself.
_REPEAT_HINT = {"ja": "もう一度聞くときは、米印を押してください。", "en": "To hear this again, press star."}
_REPEAT_WORD = {"ja": "米印", "en": "star"}


def spoken_digits(text: str, language: str) -> str:
    """``text`` with each phone number in it spelt out digit by digit, its groups apart
    ("06-0000-1002" → "0 6、0 0 0 0、1 0 0 2"), so a voice reads it as a caller writes it down."""
    separator = _GROUP_SEPARATOR.get(language, _GROUP_SEPARATOR["en"])

    def spell(number: re.Match[str]) -> str:
        groups = [group for group in re.split(r"[^\d]+", number.group()) if group]
        if sum(len(group) for group in groups) < _PHONE_DIGITS:
            return number.group()
        return separator.join(" ".join(group) for group in groups)

    return _PHONE_NUMBER.sub(spell, text)


def repeat_hint(texts: Sequence[str], language: str) -> str | None:
    """The phone's short "press * to hear this again", unless one of ``texts`` says it already."""
    word = _REPEAT_WORD.get(language, _REPEAT_WORD["en"])
    if any(word in text for text in texts):
        return None
    return _REPEAT_HINT.get(language, _REPEAT_HINT["en"])


class OutputChannel(ABC):
    """Sends the engine's replies to one recipient in the platform's form."""

    @abstractmethod
    async def send(self, recipient_id: str, replies: Sequence[Reply], *, language: str = "ja") -> None:
        """Send ``replies`` to ``recipient_id``, in order.

        Args:
            recipient_id: The platform's id of the chat or person.
            replies: What the engine said, in order.
            language: The conversation language ("ja" or "en"), for channel-owned labels.
        """


class CollectingOutput(OutputChannel):
    """Keeps the replies instead of sending them (web chat responses, TwiML, tests)."""

    def __init__(self) -> None:
        self.sent: list[Reply] = []

    async def send(self, recipient_id: str, replies: Sequence[Reply], *, language: str = "ja") -> None:
        self.sent.extend(replies)

    def as_json(self) -> list[dict[str, Any]]:
        """The collected replies as JSON-ready dicts (choices as lists, handoff a dict or null)."""
        return [asdict(reply) for reply in self.sent]


class SerialTasks:
    """Background work, one task at a time per key (per resident), in arrival order.

    Webhooks answer at once and process in the background; a resident's messages must
    still reach the engine in the order they were sent.
    """

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Task[None]] = {}
        self._running: set[asyncio.Task[None]] = set()

    def submit(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` after every earlier piece of work submitted with the same ``key``."""
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(previous, work))
        self._tails[key] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))

    def _forget(self, key: str, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]

    @staticmethod
    async def _run(previous: asyncio.Task[None] | None, work: Coroutine[Any, Any, None]) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            await work
        except Exception:
            log.exception("background processing failed")

    async def drain(self) -> None:
        """Wait until all submitted work, including work submitted meanwhile, is done."""
        while self._running:
            await asyncio.wait(list(self._running))


class InputChannel(ABC):
    """A platform's webhook: verifies, converts to ``InboundMessage``, replies.

    Subclasses implement :meth:`name`, :meth:`from_settings` and :meth:`router`, and
    override :meth:`is_configured`, :meth:`startup` and :meth:`shutdown` when needed.
    """

    def __init__(self, handler: EngineHandler) -> None:
        self._handler = handler
        self.tasks = SerialTasks()
        self._engine_threads = anyio.CapacityLimiter(ENGINE_THREADS)

    @classmethod
    @abstractmethod
    def name(cls) -> str:
        """The channel's name: its registry key, URL segment and ``InboundMessage.channel``."""

    @classmethod
    def is_configured(cls, settings: Settings) -> bool:
        """Whether ``settings`` hold what the channel needs to verify its webhooks.

        An unconfigured channel is not mounted: with an empty secret anybody could forge.
        """
        return True

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings, handler: EngineHandler) -> Self:
        """Build the channel from settings.

        Args:
            settings: Secrets and API base URLs.
            handler: The engine entry point each message is handed to.
        """

    @classmethod
    def path(cls) -> str:
        """Where the app mounts the channel's router: ``/webhooks/<name>``."""
        return f"{WEBHOOK_PREFIX}/{cls.name()}"

    @abstractmethod
    def router(self) -> APIRouter:
        """The FastAPI routes of this channel, relative to ``/webhooks/<name>``."""

    async def startup(self) -> None:
        """Open the channel's HTTP client(s); called once from the app's lifespan."""

    async def shutdown(self) -> None:
        """Finish background work and close clients; called once from the app's lifespan."""
        await self.tasks.drain()

    async def handle(self, message: InboundMessage) -> TurnResult:
        """Give one message to the engine (in a worker thread) and return its result."""
        # Not the user id: on the phone it is the caller's number.
        log.debug("%s: %s event %s", message.channel, message.event, message.event_id)
        return await anyio.to_thread.run_sync(self._handler, message, limiter=self._engine_threads)
