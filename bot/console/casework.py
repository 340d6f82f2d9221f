"""Case work behind the console's case pages: the inbox query, one case with its thread, and the actions.

What a staff member sees is always limited to ``counters``, the counters whose cases they
see (``bot.staff_api.case_counters``: a manager's are all, and the pages let them change
nothing). Every function runs in the caller's transaction and does not commit; after a
commit that queued something, the caller runs :func:`bot.console.replies.schedule_replies` (staff replies) or
``routing.delivery.schedule_delivery`` (a transfer's delivery to the new counter).

The actions:

* acknowledged / contacted / closed with a reason: ``routing.cases.transition`` (contacted
  records ``contacted_at``, the time of first contact — the figure the city is judged by);
* transfer to another counter: the case changes counter, a ``transferred`` event records
  from where, to where and why, and that event is delivered to the new counter's targets
  (its console inbox, e-mail, webhook) the way a new case is;
* an internal note (:class:`bot.models.casework.CaseNote`), never shown to the resident;
* a reply to the resident on their own channel (:func:`reply`): only when the case keeps
  the reporter's contact (they agreed to be contacted). The words become an outbound
  message of the resident's and a :class:`~bot.models.casework.StaffReply` row, sent after
  the commit; on a chat channel (LINE, Telegram, web chat) staff then *hold* the chat
  (``Contact.held_case_id``): the engine stays quiet but for the safety layer and puts the
  resident's words on this case, until staff hand back (:func:`hand_back`), which tells the
  resident politely that the bot answers again. A caller reached by phone gets an SMS at the
  mobile number they gave; nothing comes back that way, so nothing is held.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case as when, func, or_, select
from sqlalchemy.orm import Session

from alerts.cooperators import parse_mobile
from bot.domain import Domain
from bot.models import Case, CaseEvent, CaseStatus, Contact, Delivery, DeliveryTarget, Message, MessageDirection, utcnow
from bot.models.casework import CaseNote, ReplyKind, ReplyState, StaffReply
from bot.models.conversations import STAFF_MESSAGE_KIND
from bot.settings import settings
from flows.handoff import STAFF_HANDBACK_RESPONSE, STAFF_REPLY_RESPONSE
from routing.cases import OPEN_STATUSES, TRANSITIONS, transition
from routing.snapshot import get_directory
from routing.targets import ensure_console_target

__all__ = [
    "AMBER_HOURS",
    "CHAT_CHANNELS",
    "OPEN",
    "PAGE_SIZE",
    "STAFF_STEPS",
    "CaseActionError",
    "CaseFilter",
    "Deadline",
    "InboxPage",
    "ThreadEntry",
    "add_note",
    "allowed_statuses",
    "deadline",
    "find_case",
    "hand_back",
    "held_here",
    "inbox",
    "notes",
    "related_cases",
    "reply",
    "reply_channel",
    "set_status",
    "thread",
    "transfer",
    "transfer_counters",
]

PAGE_SIZE = 25
# Less time than this left to the first-contact deadline is shown amber (overdue is red).
AMBER_HOURS = 4
# Chats the resident writes back on: a reply there makes staff hold the chat.
CHAT_CHANNELS = ("line", "telegram", "webchat")
# The status filter's value for every status that still needs work.
OPEN = "open"
ALL = "all"
# The steps of a case staff take on its page.
STAFF_STEPS = frozenset({CaseStatus.acknowledged, CaseStatus.contacted, CaseStatus.closed})
# Before its first contact a case can be overdue; after it, never.
_AWAITING_CONTACT = (CaseStatus.new, CaseStatus.acknowledged)
# What a case event of the thread is, by kind.
_THREAD_KINDS = ("resident_message", "staff_reply", "bot_reply")
# The area of the national hotlines in the directory (they take calls, not cases).
NATIONWIDE = "japan"
NOTE_MAX = 4000
REPLY_MAX = 2000


class CaseActionError(ValueError):
    """An action the case's state (or what it keeps) does not allow; the message says why, and
    ``code`` which of the reasons it is (the page words it in the staff member's language)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- the inbox


@dataclass(frozen=True)
class CaseFilter:
    """The inbox's filters, as the GET form sends them: a status (``open``, ``all`` or one
    status), a topic, a town, a page (from 1)."""

    status: str = OPEN
    topic: str = ""
    town: str = ""
    page: int = 1

    def statuses(self) -> tuple[CaseStatus, ...] | None:
        """The statuses to list; None for all."""
        if self.status == ALL:
            return None
        if self.status in CaseStatus.__members__:
            return (CaseStatus(self.status),)
        return OPEN_STATUSES


@dataclass(frozen=True)
class InboxPage:
    """One page of the inbox."""

    cases: list[Case]
    total: int
    page: int
    pages: int


def inbox(session: Session, counters: Collection[str], filters: CaseFilter, *,
          now: datetime | None = None, page_size: int = PAGE_SIZE) -> InboxPage:
    """The cases of ``counters`` that pass ``filters``: overdue first (most overdue first),
    then urgent, then the newest.

    Args:
        session: a session.
        counters: the counters whose cases the staff member sees.
        filters: status, topic, town and page.
        now: the current time (aware); defaults to now.
        page_size: cases per page.

    Returns:
        The page (a page past the last one is the last one).
    """
    now = now or utcnow()
    if not counters:
        return InboxPage([], 0, 1, 1)
    conditions = [Case.counter_id.in_(list(counters))]
    statuses = filters.statuses()
    if statuses is not None:
        conditions.append(Case.status.in_(statuses))
    if filters.topic:
        conditions.append(Case.topic == filters.topic)
    if filters.town:
        conditions.append(Case.town_id == filters.town)
    total = session.scalar(select(func.count()).select_from(Case).where(*conditions)) or 0
    pages = max(1, math.ceil(total / page_size))
    page = min(max(1, filters.page), pages)
    overdue = and_(Case.status.in_(_AWAITING_CONTACT), Case.first_contact_due < now)
    order = (when((overdue, 0), else_=1), when((overdue, Case.first_contact_due), else_=None),
             Case.urgent.desc(), Case.created_at.desc(), Case.id.desc())
    cases = session.scalars(select(Case).where(*conditions).order_by(*order)
                            .limit(page_size).offset((page - 1) * page_size))
    return InboxPage(list(cases), total, page, pages)


@dataclass(frozen=True)
class Deadline:
    """The first-contact deadline as staff see it: ``level`` (``overdue``, ``soon``, ``ok``,
    ``done`` once contacted or ended, ``none`` without a deadline) and the minutes left, or
    past the deadline when overdue (the page writes them out: never the colour alone)."""

    level: str
    minutes: int


def deadline(case: Case, now: datetime | None = None) -> Deadline:
    """How the case stands against its first-contact deadline."""
    now = now or utcnow()
    if case.status not in _AWAITING_CONTACT:
        return Deadline("done", 0)
    if case.first_contact_due is None:
        return Deadline("none", 0)
    left = case.first_contact_due - now
    minutes = int(left.total_seconds() // 60)
    if left <= timedelta(0):
        return Deadline("overdue", -minutes)
    return Deadline("soon" if left < timedelta(hours=AMBER_HOURS) else "ok", minutes)


def find_case(session: Session, case_id: int, counters: Collection[str]) -> Case | None:
    """The case, only if it belongs to one of ``counters``; None otherwise (another counter's
    case looks like a missing one, so ids cannot be probed)."""
    case = session.get(Case, case_id)
    return case if case is not None and case.counter_id in set(counters) else None


# --------------------------------------------------------------------------- one case


def related_cases(session: Session, case: Case, counters: Collection[str]) -> list[Case]:
    """Other cases that may be about the same person: the same household, or marked possibly
    related when reported nearby — only those the staff member may see, newest first."""
    marked = [event.details.get("case_id") for event in case.events if event.kind == "possibly_related"]
    same_place = Case.household_key == case.household_key if case.household_key else None
    conditions = [Case.id.in_([number for number in marked if isinstance(number, int)])]
    if same_place is not None:
        conditions.append(same_place)
    query = select(Case).where(or_(*conditions), Case.id != case.id, Case.counter_id.in_(list(counters)))
    return list(session.scalars(query.order_by(Case.id.desc()).limit(20)))


@dataclass(frozen=True)
class ThreadEntry:
    """One message between the resident and staff (or the safety layer while staff held the chat).

    ``who`` is ``resident``, ``staff`` or ``bot``; ``text`` is None once retention or an
    erasure removed the words; ``state`` is a staff reply's sending state.
    """

    who: str
    at: datetime
    text: str | None
    author: str | None = None
    state: str | None = None
    kind: str | None = None


def thread(session: Session, case: Case) -> list[ThreadEntry]:
    """The case's conversation with the resident, oldest first: what the resident wrote while
    staff held the chat, staff's replies (with how their sending went), the safety layer's words."""
    events = [event for event in case.events if event.kind in _THREAD_KINDS]
    message_ids = [event.details.get("message_id") for event in events]
    texts = {row.id: row.text for row in session.execute(select(Message.id, Message.text).where(
        Message.id.in_([number for number in message_ids if isinstance(number, int)])))}
    replies = {reply.id: reply for reply in session.scalars(select(StaffReply).where(StaffReply.case_id == case.id))}
    entries = []
    for event in events:
        text = texts.get(event.details.get("message_id"))
        if event.kind == "resident_message":
            entries.append(ThreadEntry("resident", event.created_at, text))
        elif event.kind == "bot_reply":
            entries.append(ThreadEntry("bot", event.created_at, text))
        else:
            sent = replies.get(event.details.get("reply_id"))
            entries.append(ThreadEntry("staff", event.created_at, text, author=event.actor,
                                       state=sent.state.value if sent else None,
                                       kind=sent.kind.value if sent else None))
    return entries


def notes(session: Session, case: Case) -> list[CaseNote]:
    """The case's internal notes, oldest first."""
    return list(session.scalars(select(CaseNote).where(CaseNote.case_id == case.id).order_by(CaseNote.id)))


def held_here(session: Session, case: Case) -> bool:
    """Whether staff of this case hold the reporter's chat now."""
    contact = session.get(Contact, case.reporter_contact_id) if case.reporter_contact_id else None
    return contact is not None and contact.held_case_id == case.id


# --------------------------------------------------------------------------- status, transfer, notes


def allowed_statuses(case: Case) -> frozenset[CaseStatus]:
    """The statuses staff may move the case to now. Found and cancelled are not among them: a
    missing-person search ends with its alert (``alerts.lifecycle``), on the alert desk."""
    return TRANSITIONS.get(case.status, frozenset()) & STAFF_STEPS


def set_status(session: Session, case: Case, status: CaseStatus, *, actor: str, reason: str | None = None,
               domain: Domain, now: datetime | None = None) -> StaffReply | None:
    """Acknowledge, mark contacted (first contact: ``contacted_at``) or close (with a reason).

    Closing a case whose staff hold the resident's chat hands it back first.

    Returns:
        The hand-back notice queued for the resident, if closing queued one.

    Raises:
        CaseActionError: for a step the lifecycle does not allow, or a close without a reason.
    """
    if status not in allowed_statuses(case):
        raise CaseActionError("bad_step", f"case {case.id}: cannot go from {case.status.value} to {status.value}")
    if status == CaseStatus.closed and not (reason and reason.strip()):
        raise CaseActionError("needs_reason", f"case {case.id}: closing needs a reason")
    notice = hand_back(session, case, actor=actor, domain=domain, now=now) if (
        status == CaseStatus.closed and held_here(session, case)) else None
    transition(session, case, status, actor=actor, reason=reason, now=now)
    return notice


def transfer_counters(session: Session, case: Case) -> list[tuple[str, str]]:
    """The counters a case may be handed to, as (id, name) by name: the city's counters that take
    cases — not a national hotline (「119」「#8008」), not a community place, not its own."""
    directory = get_directory(session)
    counters = [(service.id, service.name) for service in directory.services.values()
                if service.id != case.counter_id and NATIONWIDE not in service.area_codes
                and any(":" not in topic for topic in service.topics)]
    return sorted(counters, key=lambda counter: counter[1])


def transfer(session: Session, case: Case, counter_id: str, *, actor: str, reason: str,
             now: datetime | None = None) -> CaseEvent:
    """Hand the case to another counter: recorded, and delivered to the new counter's targets.

    The first-contact deadline stays: the resident has been waiting since the report.

    Raises:
        CaseActionError: for a counter not in :func:`transfer_counters`, the case's own counter, an
            ended case or no reason.
    """
    now = now or utcnow()
    if counter_id == case.counter_id:
        raise CaseActionError("same_counter", f"case {case.id} is already with {counter_id}")
    if counter_id not in dict(transfer_counters(session, case)):
        raise CaseActionError("not_a_counter", f"'{counter_id}' is not a counter that takes cases")
    if case.status not in OPEN_STATUSES:
        raise CaseActionError("ended", f"case {case.id} is {case.status.value}: it cannot be transferred")
    if not reason.strip():
        raise CaseActionError("needs_reason", "a transfer needs a reason")
    event = CaseEvent(case_id=case.id, kind="transferred", actor=actor, created_at=now,
                      details={"from": case.counter_id, "to": counter_id, "reason": reason.strip()})
    case.counter_id = counter_id
    session.add(event)
    session.flush()
    ensure_console_target(session, counter_id)
    targets = session.scalars(select(DeliveryTarget).where(DeliveryTarget.counter_id == counter_id,
                                                           DeliveryTarget.active))
    session.add_all(Delivery(case_id=case.id, case_event_id=event.id, target_id=target.id) for target in targets)
    session.flush()
    return event


def add_note(session: Session, case: Case, text: str, *, author: str, now: datetime | None = None) -> CaseNote:
    """Keep an internal note on the case.

    Raises:
        CaseActionError: for an empty or overlong note.
    """
    text = text.strip()
    if not text or len(text) > NOTE_MAX:
        raise CaseActionError("length", f"a note has 1 to {NOTE_MAX} characters")
    note = CaseNote(case_id=case.id, author=author, text=text, created_at=now or utcnow())
    session.add(note)
    session.flush()
    return note


# --------------------------------------------------------------------------- replies to the resident


def reply_channel(session: Session, case: Case) -> str | None:
    """Where a reply to the case's reporter goes: their chat (``line``, ``telegram``,
    ``webchat``), ``sms`` to the mobile number a caller gave, or None when the case keeps no
    way to reach them (no consent, the details were erased, or they blocked or left the chat)."""
    if not case.callback_consent or case.reporter_contact_id is None:
        return None
    contact = session.get(Contact, case.reporter_contact_id)
    if contact is None or (contact.channel in CHAT_CHANNELS and not contact.active):
        return None
    if contact.channel in CHAT_CHANNELS:
        return contact.channel
    sms_configured = bool(settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_from_number)
    if sms_configured and parse_mobile(str(case.details.get("callback_phone") or "")):
        return "sms"
    return None


def _queue(session: Session, case: Case, contact: Contact, channel: str, text: str, *, kind: ReplyKind,
           author: str, now: datetime) -> StaffReply:
    """Store the words as the resident's outbound message and queue them; web chat needs no
    sending (the page fetches them), the other channels are sent after the commit."""
    message = Message(contact_id=contact.id, direction=MessageDirection.outbound, channel=contact.channel,
                      kind=STAFF_MESSAGE_KIND, text=text, created_at=now)
    session.add(message)
    session.flush()
    webchat = channel == "webchat"
    row = StaffReply(case_id=case.id, contact_id=contact.id, message_id=message.id, kind=kind, channel=channel,
                     author=author, created_at=now, state=ReplyState.sent if webchat else ReplyState.unprocessed,
                     sent_at=now if webchat else None)
    session.add(row)
    session.flush()
    session.add(CaseEvent(case_id=case.id, kind="staff_reply", actor=author, created_at=now,
                          details={"reply_id": row.id, "message_id": message.id, "channel": channel,
                                   "handback": kind == ReplyKind.handback}))
    session.flush()
    return row


def reply(session: Session, case: Case, text: str, *, author: str, domain: Domain,
          now: datetime | None = None) -> StaffReply:
    """Send staff's words to the case's reporter on their own channel; on a chat, hold it.

    The resident reads them under the counter's name (``utter_staff_reply``), in the case's language.

    Raises:
        CaseActionError: for empty or overlong words, an ended case, or a case that keeps no
            way to reach the reporter.
    """
    now = now or utcnow()
    text = text.strip()
    if not text or len(text) > REPLY_MAX:
        raise CaseActionError("length", f"a reply has 1 to {REPLY_MAX} characters")
    if case.status not in OPEN_STATUSES:
        raise CaseActionError("ended", f"case {case.id} is {case.status.value}: reopen a new case to write to the resident")
    channel = reply_channel(session, case)
    contact = session.get(Contact, case.reporter_contact_id) if case.reporter_contact_id else None
    if channel is None or contact is None:
        raise CaseActionError("no_contact", f"case {case.id} keeps no way to reach the reporter (no consent to be contacted)")
    service = get_directory(session).services.get(case.counter_id)
    words = domain.text(STAFF_REPLY_RESPONSE, case.language, None,
                        counter=service.name if service else case.counter_id, text=text)
    row = _queue(session, case, contact, channel, words, kind=ReplyKind.reply, author=author, now=now)
    if channel in CHAT_CHANNELS:
        contact.held_case_id = case.id
    return row


def hand_back(session: Session, case: Case, *, actor: str, domain: Domain,
              now: datetime | None = None) -> StaffReply:
    """Give the resident's chat back to the bot and tell them so, politely.

    Raises:
        CaseActionError: when staff of this case do not hold the chat.
    """
    now = now or utcnow()
    contact = session.get(Contact, case.reporter_contact_id) if case.reporter_contact_id else None
    if contact is None or contact.held_case_id != case.id:
        raise CaseActionError("not_held", f"staff of case {case.id} do not hold the resident's chat")
    contact.held_case_id = None
    session.add(CaseEvent(case_id=case.id, kind="handed_back", actor=actor, created_at=now, details={}))
    words = domain.text(STAFF_HANDBACK_RESPONSE, case.language, None)
    return _queue(session, case, contact, contact.channel, words, kind=ReplyKind.handback, author=actor, now=now)

