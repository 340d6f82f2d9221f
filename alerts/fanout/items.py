"""The fan-out's vocabulary: channels, kinds of outbox rows, claimed items and send outcomes.

Every outbox row (``bot.models.OutboxItem``) is one message to one cooperator on one
channel. Its *kind* says what it carries: an alert (``alert``, ``update``), a closing
notice (``found``, ``cancelled``), the yearly re-confirmation request
(``reconfirm``, no alert), or a sighting the desk forwards to the family or the police
(``family:<sighting>``, ``police:<sighting>``: no cooperator). A worker claims rows as :class:`Item` s of a :class:`Batch`;
a sender says what happened to each as an :class:`Outcome`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from bot.settings import Settings, settings

__all__ = [
    "ALERT_KINDS",
    "CHANNELS",
    "FORWARD_TARGETS",
    "NOTICE_KINDS",
    "RECONFIRM_KIND",
    "SENT",
    "WITHDRAW_KIND",
    "Batch",
    "Item",
    "Outcome",
    "Status",
    "configured_channels",
    "forward_kind",
    "parse_forward_kind",
    "quiet_until",
]

CHANNELS = ("line", "telegram", "email", "sms")
"""Channels the fan-out can send on, each with a sender in ``alerts.fanout.senders``."""

ALERT_KINDS = ("alert", "update")
"""Kinds that carry the alert itself; a ``found``/``cancelled`` notice follows only these."""

NOTICE_KINDS = ("found", "cancelled")
"""Kinds that close an alert, sent only to cooperators whose alert was sent."""

RECONFIRM_KIND = "reconfirm"
"""The yearly re-confirmation request: a row of a cooperator, not of an alert."""

WITHDRAW_KIND = "withdraw"
"""After found or cancelled: delete the alert's messages where the platform allows it
(Telegram ``deleteMessage``); the closing notice is a row of its own."""

FORWARD_TARGETS = ("family", "police")
"""Whom the desk may forward a sighting to: the alert's family (their chat) or the police (e-mail)."""


def forward_kind(target: str, sighting_id: int) -> str:
    """The kind of a row forwarding one sighting: ``family:12`` or ``police:12``.

    The sighting is part of the kind because a pass renders one text per (alert, kind,
    language): two sightings forwarded at once must not share a text.
    """
    if target not in FORWARD_TARGETS:
        raise ValueError(f"a sighting is forwarded to {FORWARD_TARGETS}, not {target!r}")
    return f"{target}:{sighting_id}"


def parse_forward_kind(kind: str) -> tuple[str, int] | None:
    """``("family", 12)`` for ``family:12``; None for any other kind."""
    target, _, number = kind.partition(":")
    return (target, int(number)) if target in FORWARD_TARGETS and number.isdigit() else None


def configured_channels(config: Settings | None = None) -> tuple[str, ...]:
    """The channels whose credentials are set, in :data:`CHANNELS` order.

    E-mail needs only an SMTP host, which has a default; LINE, Telegram and SMS need
    their accounts. Rows are only queued for (and fall back to) these.
    """
    config = config or settings
    available = {
        "line": bool(config.line_channel_access_token),
        "telegram": bool(config.telegram_bot_token),
        "email": bool(config.smtp_host),
        "sms": bool(config.twilio_account_sid and config.twilio_auth_token and config.twilio_from_number),
    }
    return tuple(channel for channel in CHANNELS if available[channel])


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours) % 24, int(minutes))


def quiet_until(now: datetime, start: str | None, end: str | None, config: Settings | None = None) -> datetime | None:
    """When a cooperator's quiet hours end, if ``now`` falls inside them, else None.

    Args:
        now: the current time (aware).
        start: "22:00" (local time of ``settings.timezone``) or None.
        end: "07:00"; a window may cross midnight.
        config: settings (the time zone); the process's by default.

    Returns:
        The aware end of the current quiet window, or None.
    """
    if not start or not end or start == end:
        return None
    tz = (config or settings).tz
    local = now.astimezone(tz)
    begin, finish = _clock(start), _clock(end)
    today_end = datetime.combine(local.date(), finish, tz)
    moment = local.time()
    if begin < finish:
        return today_end if begin <= moment < finish else None
    if moment >= begin:  # late evening: the window ends tomorrow
        return today_end + timedelta(days=1)
    return today_end if moment < finish else None


class Status(str, enum.Enum):
    """What a send did to one row (see ``alerts.fanout.outbox``)."""

    sent = "sent"
    later = "later"
    retry = "retry"
    hold = "hold"
    gone = "gone"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    """The result of sending one row: a status, why (no message text), and a wait in seconds.

    A sent row may carry the platform's ids: ``request_id`` (LINE's ``x-line-request-id``
    of the accepted request) and ``message_id`` (Telegram's ``message_id``), stored on
    the row so that the message can be withdrawn.
    """

    status: Status
    reason: str | None = None
    after: float = 0.0
    request_id: str | None = None
    message_id: str | None = None


SENT = Outcome(Status.sent)


@dataclass(frozen=True)
class Item:
    """One claimed row, with what a sender needs to know about its cooperator."""

    id: int
    alert_id: int | None
    cooperator_id: int | None  # None: a forwarded sighting to the family or the police
    kind: str
    address: str
    distance_m: float
    fail_count: int
    language: str
    # LINE: the X-Line-Retry-Key of the multicast carrying the row, and whether this
    # claim made it (a key never sent before cannot have been accepted already).
    retry_key: str | None = None
    new_key: bool = False


@dataclass
class Batch:
    """Rows of one channel claimed together; ``lease`` is their shared ``claimed_at`` token."""

    channel: str
    lease: datetime
    items: list[Item] = field(default_factory=list)

    def groups(self) -> dict[tuple[int | None, str, str], list[Item]]:
        """Items that share one message text: by alert, kind and language, nearest first."""
        groups: dict[tuple[int | None, str, str], list[Item]] = {}
        for item in self.items:
            groups.setdefault((item.alert_id, item.kind, item.language), []).append(item)
        return groups
