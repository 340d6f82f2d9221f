"""channels.email.EmailSender against the fake SMTP server: one connection for many messages, the
server's refusals raised with the connection kept, a broken connection replaced on the next send."""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator

import pytest

from channels.email import EmailSender
from tests.fakes.smtp import FakeSMTP


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


def _sender(server: FakeSMTP) -> EmailSender:
    return EmailSender("127.0.0.1", server.port, "tsunagu@city.example.jp")


def test_messages_share_one_connection_until_closed(smtp: FakeSMTP) -> None:
    with _sender(smtp) as sender:
        for number in range(3):
            sender.send(sender.compose(to=f"helper{number}@example.jp", subject=f"件名 {number}", body="本文\n"))
    with _sender(smtp) as sender:
        sender.send(sender.compose(to="next@example.jp", subject="next", body="next\n"))

    assert [(to, subject) for to, subject, _ in smtp.messages] == [
        ("helper0@example.jp", "件名 0"), ("helper1@example.jp", "件名 1"), ("helper2@example.jp", "件名 2"),
        ("next@example.jp", "next"),
    ]
    assert len(set(smtp.peers[:3])) == 1, "one connection for the first sender's messages"
    assert smtp.peers[3] != smtp.peers[0], "a new sender opens its own"


def test_a_composed_message_has_the_headers_mail_needs() -> None:
    message = EmailSender("127.0.0.1", 25, "alerts@aoba.example.jp").compose(
        to="helper@example.jp", subject="行方不明", body="本文\n", idstring="tsunagu-delivery-7")
    assert message["From"] == "alerts@aoba.example.jp" and message["To"] == "helper@example.jp"
    assert message["Subject"] == "行方不明" and message["Date"]
    assert "tsunagu-delivery-7" in message["Message-ID"] and message["Message-ID"].endswith("@aoba.example.jp>")


def test_refusals_keep_the_connection(smtp: FakeSMTP) -> None:
    smtp.unknown.add("gone@example.jp")
    smtp.fail_next(1)
    with _sender(smtp) as sender:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            sender.send(sender.compose(to="gone@example.jp", subject="a", body="a\n"))
        assert {code for code, _ in refused.value.recipients.values()} == {550}
        with pytest.raises(smtplib.SMTPDataError) as busy:
            sender.send(sender.compose(to="busy@example.jp", subject="b", body="b\n"))
        assert busy.value.smtp_code == 451
        sender.send(sender.compose(to="fine@example.jp", subject="c", body="c\n"))
    assert [to for to, _, _ in smtp.messages] == ["fine@example.jp"]
    assert len(set(smtp.peers)) == 1


def test_a_broken_connection_is_replaced_on_the_next_send(smtp: FakeSMTP) -> None:
    with _sender(smtp) as sender:
        sender.send(sender.compose(to="first@example.jp", subject="1", body="1\n"))
        assert sender._smtp is not None
        sender._smtp.sock.shutdown(socket.SHUT_RDWR)  # the connection breaks mid-session
        with pytest.raises((smtplib.SMTPException, OSError)):
            sender.send(sender.compose(to="lost@example.jp", subject="2", body="2\n"))
        sender.send(sender.compose(to="second@example.jp", subject="3", body="3\n"))
    assert [to for to, _, _ in smtp.messages] == ["first@example.jp", "second@example.jp"]
    assert smtp.peers[0] != smtp.peers[-1]
