"""Outbound e-mail through the SMTP server of the settings: cases to counters, alerts to cooperators.

There is no inbound e-mail channel: this module only sends plain-text messages. One
:class:`EmailSender` holds one SMTP connection, opened with the first message and
reused for every following one until :meth:`EmailSender.close`, so a batch of
deliveries or alert messages costs one connection, not one per message. Both case
delivery (``routing.methods``) and the alert fan-out (``alerts.fanout.senders``) send
through it; what to do with a refusal is theirs.

The calls block: async callers run them in a worker thread, one call at a time.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from types import TracebackType
from typing import Self

from bot.settings import Settings

__all__ = ["TIMEOUT_SECONDS", "EmailSender"]

TIMEOUT_SECONDS = 10.0


class EmailSender:
    """Sends plain-text e-mail from one address through one SMTP server, on one connection."""

    def __init__(self, host: str, port: int, from_address: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.host = host
        self.port = port
        self.from_address = from_address
        self.timeout = timeout
        self._smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """A sender for ``settings.smtp_host:smtp_port`` from ``settings.smtp_from``."""
        return cls(settings.smtp_host, settings.smtp_port, settings.smtp_from)

    def compose(self, *, to: str, subject: str, body: str, idstring: str | None = None) -> EmailMessage:
        """A plain-text message from this sender.

        Args:
            to: the recipient's address.
            subject: the subject line.
            body: the text (personal data: never logged).
            idstring: a word to put in the Message-ID (e.g. the delivery it carries).

        Returns:
            The message, with From, To, Subject, Date and Message-ID set.
        """
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(idstring=idstring, domain=self.from_address.rpartition("@")[2] or None)
        message.set_content(body)
        return message

    def send(self, message: EmailMessage) -> None:
        """Send one message, connecting first if this sender has no open connection.

        Raises:
            smtplib.SMTPRecipientsRefused: the server refused the recipient (codes per address).
            smtplib.SMTPResponseException: the server answered with an error code; the
                connection stays open for the next message.
            smtplib.SMTPException, OSError: the connection failed; it is dropped and the
                next message opens a new one.
        """
        if self._smtp is None:
            self._smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            self._smtp.send_message(message)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPResponseException):
            raise  # the server answered: the connection is still good
        except (smtplib.SMTPException, OSError):
            self._drop()
            raise

    def close(self) -> None:
        """Say goodbye to the server and close the connection, if one is open."""
        if self._smtp is None:
            return
        smtp, self._smtp = self._smtp, None
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _drop(self) -> None:
        if self._smtp is not None:
            smtp, self._smtp = self._smtp, None
            smtp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
