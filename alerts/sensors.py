"""Sensors in registered households: the registry, the rules per device type and the 安否確認.

**Registry.** A household (``bot.models.sensors``) is registered with the consent of the
person or their family, its town and the family's contacts (LINE, Telegram, SMS,
e-mail); each device belongs to one household and has a type (:data:`RULES`) and,
optionally, its own threshold in hours.

**Device keys.** The endpoint verifies an HMAC-SHA256 signature, and to verify an HMAC the
server needs the key itself: a stored hash would not do. So no key is stored at all:
a device's key is derived, ``HMAC-SHA256(settings.sensor_secret, "tsunagu-sensor:<id>:<version>")``
(:func:`device_key`), shown once at registration for the vendor to provision, and
derived again on each request. A copy of the database reveals no key; rotating one
device's key is bumping its ``key_version`` (``tsunagu sensors rekey``); rotating the
secret re-keys every device. (An encrypted key column would need the same server
secret to decrypt, and could still leak with it.)

**Rules.** A smart meter reports ``no_power_use``, a motion sensor ``no_motion``, a call
button ``call_button``; every device may report ``offline``. Inactivity starts a check
only at or beyond the device's threshold (its own ``threshold_hours`` or the type's
default setting); a household with a check still open adds the event to it.

**The 安否確認 workflow** (:class:`~bot.models.sensors.SafetyCheck` keeps each time):

* ``call_button`` → at once an urgent worry case for the area's hub
  (``details["source"] = "sensor"``) and, to every family contact, 119 guidance;
* ``no_power_use`` / ``no_motion`` → the family is asked 「ご無事を確認できましたか？
  1 確認できた 2 連絡がつかない」 through the alert outbox (durable, rate-limited,
  retried); 「確認できた」 closes the check (``confirmed_at``), 「連絡がつかない」 escalates
  it to the hub as an urgent worry case at once, and housekeeping escalates it when
  nobody answered within ``settings.sensor_check_wait_minutes`` (:func:`escalate_overdue`);
  the family's answer is ``flows.safety_check``;
* ``offline`` → a non-urgent notice case for the hub (once until the device is heard again).

Every function takes ``now``: tests and the simulator move the clock, never the wall.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.fanout.items import configured_channels
from bot.db import session_factory
from bot.domain import Domain
from bot.messages import Choice, Effect, EffectKind
from bot.models import Case, CaseStatus, Contact, OutboxItem, OutboxState, RegisteredPerson, utcnow
from bot.models.cases import CaseKind
from bot.models.sensors import (
    CheckStatus,
    SafetyCheck,
    SensorDevice,
    SensorEvent,
    SensorFamilyContact,
    SensorHousehold,
)
from bot.settings import Settings, settings
from channels.sensors import SensorReport, Verdict
from routing.areas import resolve_town_id, town_name
from routing.cases import OPEN_STATUSES, add_details, case_facts, open_case
from routing.counters import choose_counter
from routing.snapshot import get_directory

__all__ = [
    "CHECK_KIND",
    "CONFIRMED",
    "DEVICE_TYPES",
    "FAMILY_CHANNELS",
    "RESPONSES",
    "RULES",
    "SOS_KIND",
    "UNREACHABLE",
    "Received",
    "active_device_key",
    "SensorDesk",
    "SensorError",
    "answer_check",
    "device_key",
    "escalate_overdue",
    "new_event_id",
    "open_check_for",
    "parse_check_kind",
    "purge_sensor_events",
    "receive",
    "register_device",
    "register_household",
    "render_check_message",
    "sensor_report",
]

INACTIVITY = "inactivity"
CALL = "call"
OFFLINE = "offline"
RULES: dict[str, dict[str, str]] = {
    "smart_meter": {"no_power_use": INACTIVITY, "offline": OFFLINE},
    "motion": {"no_motion": INACTIVITY, "offline": OFFLINE},
    "call_button": {"call_button": CALL, "offline": OFFLINE},
}
"""What each device type may report, and what each event starts."""
DEVICE_TYPES = tuple(RULES)
FAMILY_CHANNELS = ("line", "telegram", "sms", "email")
"""Where the family can be reached (the alert outbox's channels)."""

CHECK_KIND = "check"
"""Outbox kind prefix of the question to the family (``check:<id>``)."""
SOS_KIND = "sos"
"""Outbox kind prefix of the call-button message with 119 guidance (``sos:<id>``)."""
CONFIRMED = "confirmed"
UNREACHABLE = "unreachable"
EMERGENCY = "emergency"

_WHAT = {"no_power_use": "utter_sensor_what_no_power_use", "no_motion": "utter_sensor_what_no_motion"}
CHOICE_RESPONSES = {CONFIRMED: "utter_choice_check_confirmed", UNREACHABLE: "utter_choice_check_unreachable"}
RESPONSES: tuple[str, ...] = ("utter_sensor_check_question", "utter_sensor_call_button", *_WHAT.values(),
                              *CHOICE_RESPONSES.values())
"""Every response the workflow sends outside a conversation (checked at start-up)."""

# What the hub's case says, for staff (Japanese, as the counters work; no personal data).
_NOTES = {
    "no_power_use": "センサー：電気の使用が{hours}時間ありません（スマートメーター）",
    "no_motion": "センサー：{hours}時間、動きがありません（人感センサー）",
    "call_button": "センサー：緊急通報ボタンが押されました",
    "offline": "センサー：機器との通信が途絶えています（{device_type}）",
}
_ESCALATIONS = {
    "call_button": "緊急通報ボタン：家族に119番の案内を送りました",
    "no_answer": "家族から{minutes}分以内に安否確認の返事がありません",
    UNREACHABLE: "家族が「連絡がつかない」と答えました",
    EMERGENCY: "家族が緊急の状況を伝えました（119番の案内済み）",
    "offline": "通知のみ（緊急ではありません）",
}
# An open check still takes its household's events and its family's answers this long.
_CHECK_OPEN_DAYS = 3


class SensorError(ValueError):
    """A registration the registry refuses (unknown town, device type or channel, a duplicate id)."""


@dataclass
class Received:
    """What became of one event: the verdict for the endpoint, the effects to run once committed."""

    verdict: Verdict
    effects: list[Effect] = field(default_factory=list)
    check_id: int | None = None


# --------------------------------------------------------------------------- registry


def device_key(device_id: str, key_version: int, config: Settings | None = None) -> bytes:
    """A device's key, derived from ``settings.sensor_secret`` (never stored; see the module).

    Raises:
        SensorError: when no secret is configured.
    """
    secret = (config or settings).sensor_secret
    if not secret:
        raise SensorError("TSUNAGU_SENSOR_SECRET is not set: device keys cannot be derived")
    return hmac.new(secret.encode(), f"tsunagu-sensor:{device_id}:{key_version}".encode(), hashlib.sha256).digest()


def register_household(session: Session, *, reference: str, town_id: str, consent_by: str,
                       contacts: Sequence[tuple[str, str, str]], person_id: int | None = None,
                       now: datetime | None = None) -> SensorHousehold:
    """Register a household with its consent and its family's contacts.

    Args:
        session: the caller's session.
        reference: the city's own reference (a file number; never a name).
        town_id: the household's town (directory id).
        consent_by: ``person`` or ``family``: who consented to the sensors and the messages.
        contacts: ``(channel, address, language)`` of each family contact, first first.
        person_id: the person's pre-registration for missing-person alerts, if any.
        now: the time of consent (aware).

    Returns:
        The household.

    Raises:
        SensorError: for an unknown town, consent or channel, or no contact at all.
    """
    now = now or utcnow()
    if town_id not in get_directory(session).towns:
        raise SensorError(f"unknown town {town_id!r}")
    if consent_by not in ("person", "family"):
        raise SensorError("consent_by is 'person' or 'family'")
    if not contacts:
        raise SensorError("a household needs at least one family contact")
    if person_id is not None and session.get(RegisteredPerson, person_id) is None:
        raise SensorError(f"no pre-registered person {person_id}")
    household = SensorHousehold(reference=reference, town_id=town_id, consent_by=consent_by, consented_at=now,
                                person_id=person_id, created_at=now)
    for priority, (channel, address, language) in enumerate(contacts):
        if channel not in FAMILY_CHANNELS:
            raise SensorError(f"a family contact is on {', '.join(FAMILY_CHANNELS)}, not {channel!r}")
        household.contacts.append(SensorFamilyContact(channel=channel, address=address, priority=priority,
                                                      language=language if language in ("ja", "en") else "ja"))
    if session.scalar(select(SensorHousehold.id).where(SensorHousehold.reference == reference)) is not None:
        raise SensorError(f"household {reference!r} is registered already")
    session.add(household)
    session.flush()
    return household


def register_device(session: Session, household: SensorHousehold, *, device_id: str, device_type: str,
                    threshold_hours: int | None = None, now: datetime | None = None) -> tuple[SensorDevice, bytes]:
    """Register a device of a household.

    Returns:
        The device and its key (give it to the vendor once; it is derived again when needed).

    Raises:
        SensorError: for an unknown type, a bad id or a device registered already.
    """
    if device_type not in RULES:
        raise SensorError(f"a device type is one of {', '.join(DEVICE_TYPES)}")
    if not 0 < len(device_id) <= 64 or not device_id.isprintable() or " " in device_id:
        raise SensorError("a device id is 1 to 64 printable characters without spaces")
    if threshold_hours is not None and threshold_hours < 1:
        raise SensorError("a threshold is at least one hour")
    if session.scalar(select(SensorDevice.id).where(SensorDevice.device_id == device_id)) is not None:
        raise SensorError(f"device {device_id!r} is registered already")
    device = SensorDevice(device_id=device_id, device_type=device_type, threshold_hours=threshold_hours,
                          created_at=now or utcnow())
    household.devices.append(device)
    session.flush()
    return device, device_key(device_id, device.key_version)


def active_device_key(session: Session, device_id: str) -> bytes | None:
    """The key of an active device of an active household; None for any other id."""
    row = session.execute(
        select(SensorDevice.key_version).join(SensorHousehold)
        .where(SensorDevice.device_id == device_id, SensorDevice.active.is_(True), SensorHousehold.active.is_(True))
    ).first()
    return device_key(device_id, row[0]) if row is not None else None


# --------------------------------------------------------------------------- events


def _threshold(device: SensorDevice) -> int:
    if device.threshold_hours is not None:
        return device.threshold_hours
    return settings.sensor_no_power_hours if device.device_type == "smart_meter" else settings.sensor_no_motion_hours


def _lock_household(session: Session, household_id: int) -> None:
    """One event of a household at a time (two at once must not start two checks)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"sensor:{household_id}"})


def _open_check(session: Session, household_id: int, now: datetime) -> SafetyCheck | None:
    """The household's check still in progress: waiting for the family, or escalated and unconfirmed."""
    return session.scalars(
        select(SafetyCheck)
        .where(SafetyCheck.household_id == household_id,
               SafetyCheck.status.in_((CheckStatus.pending, CheckStatus.escalated)),
               SafetyCheck.confirmed_at.is_(None),
               SafetyCheck.started_at >= now - timedelta(days=_CHECK_OPEN_DAYS))
        .order_by(SafetyCheck.id.desc())
    ).first()


def _confirmed_since(session: Session, household_id: int, moment: datetime) -> SafetyCheck | None:
    """The household's latest check the family confirmed at or after ``moment``, if any."""
    return session.scalars(
        select(SafetyCheck)
        .where(SafetyCheck.household_id == household_id, SafetyCheck.status == CheckStatus.confirmed,
               SafetyCheck.confirmed_at >= moment)
        .order_by(SafetyCheck.id.desc())
    ).first()


def receive(session: Session, report: SensorReport) -> Received:
    """Record a verified event and start what its rule says (in the caller's transaction).

    The event's time for the workflow is ``report.received_at`` (the endpoint's clock).

    Args:
        session: a session; the caller commits, then runs ``Received.effects``.
        report: the endpoint's verified event.

    Returns:
        ``replay`` for a (device, event id) seen before (nothing written), ``rejected`` for
        an event this type of device does not report, else ``accepted``.
    """
    now = report.received_at
    device = session.scalar(select(SensorDevice).where(SensorDevice.device_id == report.device_id))
    if device is None or not device.active or not device.household.active:
        return Received(Verdict.rejected)
    action = RULES[device.device_type].get(report.event)
    if action is None:
        return Received(Verdict.rejected)
    seen = select(SensorEvent.id).where(SensorEvent.device_pk == device.id, SensorEvent.event_id == report.event_id)
    if session.scalar(seen) is not None:
        return Received(Verdict.replay)
    event = SensorEvent(device_pk=device.id, event_id=report.event_id, event=report.event,
                        observed_at=report.observed_at, received_at=now, details=_figures(report.details))
    session.add(event)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()  # the same event arrived twice at once: the other request has it
        return Received(Verdict.replay)
    device.last_event_at = now
    _lock_household(session, device.household_id)
    received = Received(Verdict.accepted)
    if action == CALL:
        _call_button(session, device, event, received, now)
    elif action == INACTIVITY:
        _inactivity(session, device, event, received, now)
    else:
        _offline(session, device, event, received, now)
    event.check_id = received.check_id
    session.flush()
    return received


def _figures(details: dict[str, Any]) -> dict[str, Any]:
    """The device's figures worth keeping: numbers and short words only (no free text)."""
    return {name[:32]: value for name, value in list(details.items())[:16]
            if isinstance(value, (int, float, bool)) or (isinstance(value, str) and len(value) <= 32)}


def _hours(event: SensorEvent) -> float | None:
    value = event.details.get("hours")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _inactivity(session: Session, device: SensorDevice, event: SensorEvent, received: Received, now: datetime) -> None:
    hours = _hours(event)
    if hours is not None and hours < _threshold(device):
        event.outcome = "below_threshold"
        return
    existing = _open_check(session, device.household_id, now)
    if existing is not None:
        event.outcome, received.check_id = "joined_check", existing.id
        return
    confirmed = _confirmed_since(session, device.household_id, event.observed_at - timedelta(hours=hours or 0))
    if confirmed is not None:
        # The same quiet spell the family already confirmed (a meter repeats it every hour): not asked again.
        event.outcome, received.check_id = "confirmed_already", confirmed.id
        return
    check = SafetyCheck(household_id=device.household_id, device_pk=device.id, trigger=event.event,
                        status=CheckStatus.pending, started_at=now,
                        escalate_at=now + timedelta(minutes=settings.sensor_check_wait_minutes),
                        note=_NOTES[event.event].format(hours=_hours_label(hours, device)))
    session.add(check)
    session.flush()
    event.outcome, received.check_id = "check_started", check.id
    if _queue_family(session, device.household, f"{CHECK_KIND}:{check.id}", now):
        received.effects.append(Effect(EffectKind.alert_queued))


def _hours_label(hours: float | None, device: SensorDevice) -> str:
    return f"{hours:g}" if hours is not None else f"{_threshold(device)}+"


def _call_button(session: Session, device: SensorDevice, event: SensorEvent, received: Received,
                 now: datetime) -> None:
    check = _open_check(session, device.household_id, now)
    if check is not None and check.status == CheckStatus.escalated and check.case_id is not None:
        # The hub has the household already: the button is news for that case, and urgent.
        case = session.get(Case, check.case_id)
        if case is not None and case.status in OPEN_STATUSES:
            case.urgent = True
            add_details(session, case, _NOTES["call_button"], source="sensor", now=now)
            received.effects.append(Effect(EffectKind.case_updated, case_facts(case)))
        event.outcome = "joined_check"
    else:
        if check is None:
            check = SafetyCheck(household_id=device.household_id, device_pk=device.id, trigger=event.event,
                                status=CheckStatus.pending, started_at=now, note=_NOTES["call_button"])
            session.add(check)
            session.flush()
        else:
            check.note = f"{check.note}\n{_NOTES['call_button']}"
        case = _escalate(session, check, "call_button", now)
        received.effects.append(Effect(EffectKind.case_created, case_facts(case)))
        event.outcome = "escalated"
    received.check_id = check.id
    if _queue_family(session, device.household, f"{SOS_KIND}:{check.id}", now):
        received.effects.append(Effect(EffectKind.alert_queued))


def _offline(session: Session, device: SensorDevice, event: SensorEvent, received: Received, now: datetime) -> None:
    earlier = session.scalars(
        select(SafetyCheck).join(Case, Case.id == SafetyCheck.case_id)
        .where(SafetyCheck.device_pk == device.id, SafetyCheck.status == CheckStatus.notice,
               Case.status.in_(OPEN_STATUSES))
    ).first()
    if earlier is not None:
        event.outcome, received.check_id = "joined_notice", earlier.id
        return
    check = SafetyCheck(household_id=device.household_id, device_pk=device.id, trigger=event.event,
                        status=CheckStatus.notice, started_at=now,
                        note=_NOTES["offline"].format(device_type=device.device_type))
    session.add(check)
    session.flush()
    case = _hub_case(session, check, "offline", urgent=False, now=now)
    check.case_id = case.id
    event.outcome, received.check_id = "notice", check.id
    received.effects.append(Effect(EffectKind.case_created, case_facts(case)))


# --------------------------------------------------------------------------- the family and the hub


def _queue_family(session: Session, household: SensorHousehold, kind: str, now: datetime) -> int:
    """Queue one message to each active family contact on a configured channel (the outbox sends it)."""
    channels = configured_channels()
    rows = []
    for contact in household.contacts:
        if not contact.active or contact.channel not in channels:
            continue
        rows.append(OutboxItem(alert_id=None, cooperator_id=None, contact_id=_chat_contact(session, contact),
                               kind=kind, channel=contact.channel, address=contact.address,
                               # Before any cooperator's message: a household may be in danger.
                               distance_m=-1.0, state=OutboxState.queued, fail_count=0, next_attempt_at=now))
    session.add_all(rows)
    session.flush()
    return len(rows)


def _chat_contact(session: Session, family: SensorFamilyContact) -> int | None:
    """The family member's contact on a chat channel (their answer comes from it, and the outbox
    writes in its language); created on first need. SMS and e-mail have no chat contact."""
    if family.channel not in ("line", "telegram"):
        return None
    contact = session.scalar(select(Contact).where(Contact.channel == family.channel,
                                                   Contact.channel_user_id == family.address))
    if contact is None:
        contact = Contact(channel=family.channel, channel_user_id=family.address, language=family.language)
        session.add(contact)
        session.flush()
    return contact.id


def _hub_case(session: Session, check: SafetyCheck, reason: str, *, urgent: bool, now: datetime) -> Case:
    """A worry case for the hub of the household's area, marked as a sensor's."""
    household = session.get(SensorHousehold, check.household_id)
    assert household is not None, "a check belongs to a household"
    area = resolve_town_id(session, household.town_id)
    choice = choose_counter(session, intent="report_worry", topic=None, area=area, now=now)
    device = session.get(SensorDevice, check.device_pk) if check.device_pk is not None else None
    details = {
        "source": "sensor",
        "noticed": check.note,
        "since_when": check.started_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M"),
        "sensor": {"check_id": check.id, "trigger": check.trigger, "household": household.reference,
                   "device_type": device.device_type if device else None, "escalation": reason},
        "escalation": _ESCALATIONS[reason].format(minutes=settings.sensor_check_wait_minutes),
    }
    case, _ = open_case(session, kind=CaseKind.worry, topic="watch",
                        counter_id=choice.counter.id if choice.counter else "", area=area, details=details,
                        reason=choice.reason, channel="sensor", language="ja", urgent=urgent, now=now)
    return case


def _escalate(session: Session, check: SafetyCheck, reason: str, now: datetime) -> Case:
    case = _hub_case(session, check, reason, urgent=True, now=now)
    check.status, check.escalated_at, check.escalation, check.case_id = CheckStatus.escalated, now, reason, case.id
    session.flush()
    return case


def escalate_overdue(session: Session, now: datetime) -> list[Case]:
    """Escalate every check the family left unanswered past its wait (housekeeping, every minute).

    Args:
        session: the caller's session.
        now: the current time (aware).

    Returns:
        The hub cases opened.
    """
    due = session.scalars(
        select(SafetyCheck).where(SafetyCheck.status == CheckStatus.pending, SafetyCheck.escalate_at <= now)
        .order_by(SafetyCheck.escalate_at).with_for_update(skip_locked=True)
    ).all()
    return [_escalate(session, check, "no_answer", now) for check in due]


def purge_sensor_events(session: Session, now: datetime) -> int:
    """Delete the events older than ``settings.message_retention_days`` (housekeeping).

    An event says when a household was inactive: personal, kept no longer than messages.
    The replay guard needs only ``sensor_max_skew_seconds`` of them; the checks, which the
    figures are made of, stay.

    Returns:
        How many were deleted.
    """
    cutoff = now - timedelta(days=settings.message_retention_days)
    return session.execute(delete(SensorEvent).where(SensorEvent.received_at < cutoff)).rowcount or 0


def open_check_for(session: Session, channel: str, address: str, now: datetime) -> SafetyCheck | None:
    """The open check of a household this chat is a family contact of (the newest), if any."""
    return session.scalars(
        select(SafetyCheck).join(SensorFamilyContact, SensorFamilyContact.household_id == SafetyCheck.household_id)
        .where(SensorFamilyContact.channel == channel, SensorFamilyContact.address == address,
               SensorFamilyContact.active.is_(True),
               SafetyCheck.status.in_((CheckStatus.pending, CheckStatus.escalated)),
               SafetyCheck.confirmed_at.is_(None),
               SafetyCheck.started_at >= now - timedelta(days=_CHECK_OPEN_DAYS))
        .order_by(SafetyCheck.id.desc())
    ).first()


def answer_check(session: Session, check: SafetyCheck, answer: str, *, contact_id: int | None,
                 now: datetime) -> tuple[Case | None, list[Effect]]:
    """The family's answer: ``confirmed`` closes the check; ``unreachable`` or ``emergency``
    escalates it to the hub at once (a check escalated already keeps its case, which is told).

    Args:
        session: the caller's session.
        check: an open check (:func:`open_check_for`).
        answer: ``confirmed``, ``unreachable`` or ``emergency``.
        contact_id: who answered.
        now: the current time (aware).

    Returns:
        The hub's case (None when the family confirmed before any escalation) and the effects.
    """
    if answer not in (CONFIRMED, UNREACHABLE, EMERGENCY):
        raise ValueError(f"unknown answer {answer!r}")
    check.answered_at, check.answer, check.answered_by = now, answer, contact_id
    case = session.get(Case, check.case_id) if check.case_id is not None else None
    effects: list[Effect] = []
    if answer == CONFIRMED:
        check.status, check.confirmed_at = CheckStatus.confirmed, now
        if case is not None and case.status in OPEN_STATUSES:
            add_details(session, case, "家族が本人の無事を確認しました", source="sensor", now=now)
            effects.append(Effect(EffectKind.case_updated, case_facts(case)))
    elif case is None or case.status not in OPEN_STATUSES:
        case = _escalate(session, check, answer, now)
        effects.append(Effect(EffectKind.case_created, case_facts(case)))
    else:
        case.urgent = True
        add_details(session, case, _ESCALATIONS[answer], source="sensor", now=now)
        effects.append(Effect(EffectKind.case_updated, case_facts(case)))
    session.flush()
    return case, effects


# --------------------------------------------------------------------------- the messages


def parse_check_kind(kind: str) -> tuple[str, int] | None:
    """``("check", 12)`` for an outbox kind ``check:12``, ``("sos", 12)`` for ``sos:12``; else None."""
    prefix, _, number = kind.partition(":")
    return (prefix, int(number)) if prefix in (CHECK_KIND, SOS_KIND) and number.isdigit() else None


def render_check_message(session: Session, domain: Domain, kind: str, check_id: int,
                         language: str) -> tuple[str, tuple[Choice, ...]]:
    """The text and buttons of a message to the family (``alerts.texts.render_outbox_message``).

    Raises:
        LookupError: when the check no longer exists.
    """
    check = session.get(SafetyCheck, check_id)
    if check is None:
        raise LookupError(f"safety check {check_id} no longer exists")
    household = session.get(SensorHousehold, check.household_id)
    record = get_directory(session).towns.get(household.town_id) if household is not None else None
    town = town_name(session, record.option, language) if record is not None else ""
    choices = tuple(Choice(domain.text(response, language), f"{CHECK_KIND}:{answer}:{check.id}", str(digit))
                    for digit, (answer, response) in enumerate(CHOICE_RESPONSES.items(), start=1))
    if kind == SOS_KIND:
        return domain.text("utter_sensor_call_button", language, town=town, case_id=check.case_id or "-"), choices[:1]
    device = session.get(SensorDevice, check.device_pk) if check.device_pk is not None else None
    what = domain.text(_WHAT.get(check.trigger, "utter_sensor_what_no_motion"), language,
                       hours=_threshold(device) if device is not None else settings.sensor_no_motion_hours)
    return (domain.text("utter_sensor_check_question", language, town=town, what=what,
                        minutes=settings.sensor_check_wait_minutes), choices)


# --------------------------------------------------------------------------- figures


def sensor_report(session: Session, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """The workflow's figures: how many 安否確認 ended confirmed, and how fast.

    A check *ends confirmed* when the family confirmed, or the hub made first contact on
    its case (contacted, or closed). Offline notices are counted apart: nobody is asked.

    Returns:
        Counts by trigger and outcome, the confirmation rate, time to confirmation
        (family) and to the hub's first contact (median and 90th percentile, minutes),
        and the share confirmed within 24 hours.
    """
    query = select(SafetyCheck, Case).outerjoin(Case, Case.id == SafetyCheck.case_id)
    if since is not None:
        query = query.where(SafetyCheck.started_at >= since)
    if until is not None:
        query = query.where(SafetyCheck.started_at < until)
    checks = session.execute(query).all()
    by_trigger: dict[str, int] = {}
    family_minutes: list[float] = []
    hub_minutes: list[float] = []
    ended: list[float] = []
    asked = escalated = notices = pending = 0
    for check, case in checks:
        by_trigger[check.trigger] = by_trigger.get(check.trigger, 0) + 1
        if check.status == CheckStatus.notice:
            notices += 1
            continue
        asked += 1
        escalated += check.escalated_at is not None
        pending += check.status == CheckStatus.pending
        first = None
        if check.confirmed_at is not None:
            family_minutes.append(_minutes(check.confirmed_at - check.started_at))
            first = family_minutes[-1]
        contacted = None
        if case is not None:
            contacted = case.contacted_at or (case.closed_at if case.status == CaseStatus.closed else None)
        if contacted is not None:
            hub_minutes.append(_minutes(contacted - check.started_at))
            first = hub_minutes[-1] if first is None else min(first, hub_minutes[-1])
        if first is not None:
            ended.append(first)
    return {
        "checks": asked,
        "by_trigger": by_trigger,
        "offline_notices": notices,
        "still_waiting_for_family": pending,
        "escalated_to_hub": escalated,
        "confirmed_by_family": len(family_minutes),
        "first_contact_by_hub": len(hub_minutes),
        "confirmed": len(ended),
        "confirmation_rate": round(len(ended) / asked, 4) if asked else None,
        "confirmed_within_24h": sum(minutes <= 24 * 60 for minutes in ended),
        "minutes_to_family_confirmation": _spread(family_minutes),
        "minutes_to_hub_first_contact": _spread(hub_minutes),
    }


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


def _spread(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]}


# --------------------------------------------------------------------------- wiring


class SensorDesk:
    """What ``bot.app`` hands the endpoint: the key lookup, and the handler that records an event,
    commits it, then starts what it calls for (``after_commit``: ``bot.effects.run_effects``)."""

    def __init__(self, url: str, after_commit: Callable[[Sequence[Effect]], None]) -> None:
        self._sessions = session_factory(url)
        self._after_commit = after_commit

    def key_for(self, device_id: str) -> bytes | None:
        with self._sessions() as session:
            return active_device_key(session, device_id)

    def receive(self, report: SensorReport) -> Verdict:
        with self._sessions() as session:
            received = receive(session, report)
            session.commit()
        if received.effects:
            self._after_commit(received.effects)
        return received.verdict


def new_event_id() -> str:
    """A random event id, as a device (or the simulator) makes one per event."""
    return secrets.token_hex(16)

