"""A fake SMTP server: aiosmtpd's protocol on the fakes' loopback stack, recording accepted mail.

It refuses recipients it does not know (``unknown``: 550, a permanent failure), can answer
451 (try later) to the next messages (``fail_next``), has an optional rate limit (``rate``:
451 beyond it) and ``stall_after(n)``: after ``n`` more, a message hangs *before* delivery
(or after it, with ``delivering=True``) until released, then the server answers 421. ``attempts`` counts every message offered and
``peers`` notes the connection (client address) each came on.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from typing import cast

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.server import LoopbackServer

__all__ = ["FakeSMTP"]


class FakeSMTP(LoopbackServer):
    """An SMTP server on 127.0.0.1; ``messages`` holds (recipient, subject, body) of each delivery."""

    def __init__(self, *, rate: float | None = None) -> None:
        super().__init__(rate=rate)
        self.unknown: set[str] = set()
        self.messages: list[tuple[str, str, str]] = []
        self.attempts = 0
        self.peers: list[tuple[str, int]] = []
        self._failures: list[str] = []
        self._server: asyncio.Server | None = None

    def fail_next(self, count: int = 1, reply: str = "451 4.7.0 Try again later") -> None:
        """Answer the next ``count`` messages with ``reply`` (a temporary failure by default)."""
        self._failures.extend([reply] * count)

    async def _start(self) -> int:
        loop = asyncio.get_running_loop()
        # The hostname given is the one the server greets with; the default would look up this machine's name.
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="smtp.fake.test", loop=loop), "127.0.0.1", 0
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    # aiosmtpd calls these hooks on the handler, here the fake itself.

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook names
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.unknown:
            return "550 5.1.1 User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        self.attempts += 1
        self.peers.append(session.peer)
        if self.over_limit():
            return "451 4.7.0 Too many messages, slow down"
        if self._failures:
            self.rate_limited += 1
            return self._failures.pop(0)
        if self.stall.should_stall():
            if self.stall.delivering:
                self._deliver(envelope)
            await self.stall.hold()
            return "421 4.3.0 Service shutting down"
        self._deliver(envelope)
        return "250 Message accepted"

    def _deliver(self, envelope: Envelope) -> None:
        raw = envelope.original_content or b""
        message = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
        self.delivered(*envelope.rcpt_tos)
        self.messages.extend((address, str(message["Subject"]), message.get_content())
                             for address in envelope.rcpt_tos)
