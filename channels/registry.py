"""The webhook channels by name: ``bot.app`` mounts each configured one at ``/webhooks/<name>``.

Importing this module loads every platform SDK (LINE, Telegram, Twilio); only the web
app needs them all. (The console channel is not here: it has no webhook.)
"""

from __future__ import annotations

from channels.base import InputChannel
from channels.line import LineChannel
from channels.telegram import TelegramChannel
from channels.voice import VoiceChannel
from channels.webchat import WebChatChannel

__all__ = ["CHANNELS"]

CHANNELS: dict[str, type[InputChannel]] = {
    channel.name(): channel for channel in (LineChannel, TelegramChannel, VoiceChannel, WebChatChannel)
}
