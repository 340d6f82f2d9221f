"""Channels: platform events in, engine replies out, one module per platform."""

from __future__ import annotations

from channels.base import InputChannel
from channels.line import LineChannel
from channels.telegram import TelegramChannel
from channels.voice import VoiceChannel
from channels.webchat import WebChatChannel

__all__ = ["CHANNELS", "InputChannel"]

# Name -> input channel class; bot.app mounts each configured one at /webhooks/<name>.
# (The console channel is not here: it has no webhook.)
CHANNELS: dict[str, type[InputChannel]] = {
    channel.name(): channel for channel in (LineChannel, TelegramChannel, VoiceChannel, WebChatChannel)
}
