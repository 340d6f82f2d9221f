"""Console channel: `tsunagu chat` — talk to the engine in a terminal, or replay a script.

Interactive mode uses rich for a readable screen; ``--script FILE`` reads one message
per line (non-interactive, for demos and tests) and prints the replies. Buttons are
shown as numbered lines; typing the number (or the words) answers them, as on LINE.
A line ``@35.0,135.5`` sends a location, as a LINE location message would; a line
``---`` ends a conversation, and the next line is a new resident. With ``--jsonl``
each turn is printed as one JSON object instead (docs/conversation-contract.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import count

from rich.console import Console

from bot.messages import InboundMessage, Reply, TurnResult, turn_record
from channels.base import EngineHandler, numbered_text

__all__ = ["SEPARATOR", "ConsoleChannel", "script_conversations", "turn_record"]

_LOCATION_LINE = re.compile(r"^@\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_QUIT = {"/quit", "/exit", ":q"}
# A script line that ends a conversation: the next line comes from a new resident.
SEPARATOR = "---"


def script_conversations(lines: Iterable[str]) -> Iterator[list[str]]:
    """The resident messages of a script, one list per conversation; comments and blank lines skipped."""
    conversation: list[str] = []
    for raw in lines:
        line = raw.strip()
        if line == SEPARATOR:
            if conversation:
                yield conversation
            conversation = []
        elif line and not line.startswith("#"):
            conversation.append(line)
    if conversation:
        yield conversation


class ConsoleChannel:
    """Feeds lines to the engine as one console user and renders what it says."""

    @staticmethod
    def name() -> str:
        return "console"

    def __init__(self, handle: EngineHandler, console: Console, *, user_id: str = "console-user",
                 language: str = "ja") -> None:
        self.handle = handle
        self.console = console
        self.user_id = user_id
        self._first_user_id = user_id
        # The channel's language is only the default: English typed is answered in English.
        self.language = language
        self.prompt_language = language
        self._event_ids = count(1)

    def inbound(self, line: str) -> InboundMessage:
        location = _LOCATION_LINE.match(line)
        event_id = f"{self.user_id}:{next(self._event_ids)}"
        if location:
            return InboundMessage(channel="console", user_id=self.user_id, event_id=event_id,
                                  latitude=float(location.group(1)), longitude=float(location.group(2)),
                                  language=self.language)
        return InboundMessage(channel="console", user_id=self.user_id, text=line, event_id=event_id,
                              language=self.language)

    def render(self, result: TurnResult) -> None:
        # The engine reads each message's language: the prompt follows the conversation's.
        self.prompt_language = result.language
        for reply in result.replies:
            self._print(reply, result.language)

    def _print(self, reply: Reply, language: str) -> None:
        style = "bold red" if reply.urgent else "cyan"
        self.console.print(numbered_text(reply), style=style, highlight=False, markup=False)
        if reply.request_location:
            hint = "（@緯度,経度 と入力すると位置情報を送れます）" if language == "ja" else "(type @lat,lon to send a location)"
            self.console.print(f"[{reply.location_label}] {hint}", style="dim", highlight=False, markup=False)

    def open(self) -> None:
        """Start as LINE's follow event does: greeting and menu."""
        self.render(self.handle(InboundMessage(channel="console", user_id=self.user_id, event="follow",
                                               event_id=f"{self.user_id}:0", language=self.language)))

    def new_resident(self, conversation: int) -> None:
        """Speak as another resident from now on: a new contact, so a fresh conversation."""
        self.user_id = self._first_user_id if conversation == 1 else f"{self._first_user_id}-{conversation}"

    def run_script(self, lines: Iterable[str], echo: Callable[[str], None] | None = None) -> None:
        for number, conversation in enumerate(script_conversations(lines), start=1):
            self.new_resident(number)
            if echo and number > 1:
                echo(SEPARATOR)
            for line in conversation:
                if echo:
                    echo(line)
                self.render(self.handle(self.inbound(line)))

    def run_script_jsonl(self, lines: Iterable[str], write: Callable[[str], None]) -> None:
        """Replay a script and write one JSON line per resident message (the conversation contract)."""
        for number, conversation in enumerate(script_conversations(lines), start=1):
            self.new_resident(number)
            for turn, line in enumerate(conversation, start=1):
                record = turn_record(number, turn, line, self.handle(self.inbound(line)))
                write(json.dumps(record, ensure_ascii=False))

    def run_interactive(self) -> None:
        while True:
            prompt = "あなた> " if self.prompt_language == "ja" else "you> "
            try:
                line = self.console.input(f"[bold green]{prompt}[/]").strip()
            except (EOFError, KeyboardInterrupt):
                self.console.print()
                return
            if line in _QUIT:
                return
            if line:
                self.render(self.handle(self.inbound(line)))
