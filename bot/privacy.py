"""Retention, disclosure and erasure: personal data is kept only as long as it is needed, a
resident can see what is kept about them (開示), and it can be erased on request.

Retention (:func:`purge_expired`, run every minute by housekeeping and by `tsunagu purge`):

* messages (what residents wrote, and the metadata of who wrote when) are deleted
  ``message_retention_days`` after they were sent; conversations untouched that long too, and
  webhook events of the inbox answered that long ago;
* closed cases keep their routing facts for statistics but lose their details and reporter
  link after ``closed_case_retention_days``; a case left open that long after its last report is
  closed ("retention") and anonymised the same way, so an abandoned case is not kept forever;
* contacts (a LINE or Telegram user id, a caller's number) are deleted once nothing refers to
  them any more — no message, conversation, case, cooperator registration or alert — and they
  have been quiet for ``message_retention_days``;
* ended missing-person alerts lose the person's description, photo, last-seen point and
  sightings ``missing_retention_days`` after they ended (``alerts.retention``).

Every step only touches rows that still hold something to erase, so a second run erases nothing.

Disclosure and erasure (:func:`resident_data`, :func:`erase_resident`; `tsunagu resident
export/erase`) work on one contact, found by channel and the channel's user id: the export
lists everything held about them; erasure deletes their messages, conversations and contact
(ending any cooperator registration on that contact) and removes their call-back details from
the cases they reported, whose content stays for the person it concerns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, Text, cast, delete, exists, or_, select, update
from sqlalchemy.orm import Session

from alerts.retention import purge_expired_alerts
from bot.models import (
    Base,
    Case,
    CaseEvent,
    CaseStatus,
    Contact,
    Conversation,
    InboxEvent,
    InboxState,
    Message,
    utcnow,
)
from bot.models.casework import CaseNote, StaffReply
from bot.settings import settings

__all__ = ["ResidentNotFound", "erase_resident", "purge_expired", "resident_data"]

RETENTION_CLOSE_REASON = "retention: no report for longer than the retention period"
# Case details that say how to reach the reporter (not what they reported).
REPORTER_DETAILS = ("callback_phone",)


class ResidentNotFound(LookupError):
    """No contact with that channel and user id."""


def _tables_referring_to_contacts() -> list[tuple[Table, Any]]:
    """Every (table, column) with a foreign key to contacts.id, whatever package added it."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if any(key.column.table.name == Contact.__tablename__ for key in column.foreign_keys):
                found.append((table, column))
    return found


def _anonymise_cases(session: Session, case_ids: list[int]) -> None:
    if case_ids:
        session.execute(update(Case).where(Case.id.in_(case_ids))
                        .values(details={}, reporter_contact_id=None, household_key=None))
        session.execute(update(CaseEvent).where(CaseEvent.case_id.in_(case_ids)).values(details={}))
        # Staff's own words about the person, and the link to whom they wrote.
        session.execute(delete(CaseNote).where(CaseNote.case_id.in_(case_ids)))
        session.execute(update(StaffReply).where(StaffReply.case_id.in_(case_ids)).values(contact_id=None))


def purge_expired(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Erase what is past retention; returns how many rows of each kind were erased."""
    now = now or utcnow()
    message_cutoff = now - timedelta(days=settings.message_retention_days)
    case_cutoff = now - timedelta(days=settings.closed_case_retention_days)
    messages = session.execute(delete(Message).where(Message.created_at < message_cutoff)).rowcount
    # Webhook events answered long ago (their payload went when they were processed).
    inbox = session.execute(delete(InboxEvent).where(InboxEvent.state.in_((InboxState.done, InboxState.failed)),
                                                     InboxEvent.received_at < message_cutoff)).rowcount
    conversations = session.execute(delete(Conversation).where(Conversation.updated_at < message_cutoff)).rowcount
    noted = exists().where(CaseNote.case_id == Case.id)
    closed = list(session.scalars(
        select(Case.id).where(Case.status == CaseStatus.closed, Case.closed_at < case_cutoff,
                              or_(cast(Case.details, Text) != "{}", noted))
    ))
    _anonymise_cases(session, closed)
    abandoned = list(session.scalars(
        select(Case.id).where(Case.status != CaseStatus.closed, Case.last_report_at < case_cutoff)
    ))
    if abandoned:
        session.execute(update(Case).where(Case.id.in_(abandoned))
                        .values(status=CaseStatus.closed, closed_at=now, close_reason=RETENTION_CLOSE_REASON))
        _anonymise_cases(session, abandoned)
    alerts = purge_expired_alerts(session, now)
    unreferenced = [~exists().where(column == Contact.id) for _, column in _tables_referring_to_contacts()]
    contacts = session.execute(
        delete(Contact).where(Contact.created_at < message_cutoff, *unreferenced)
    ).rowcount
    return {"messages deleted": messages, "inbox events deleted": inbox, "conversations deleted": conversations,
            "closed cases anonymised": len(closed), "abandoned cases closed and anonymised": len(abandoned),
            "ended alerts purged": alerts, "contacts deleted": contacts}


def _contact(session: Session, channel: str, user_id: str) -> Contact:
    contact = session.scalar(select(Contact).where(Contact.channel == channel, Contact.channel_user_id == user_id))
    if contact is None:
        raise ResidentNotFound(f"no contact {user_id!r} on channel {channel!r}")
    return contact


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def resident_data(session: Session, channel: str, user_id: str) -> dict[str, Any]:
    """Everything held about one contact, for a disclosure request (開示).

    Raises:
        ResidentNotFound: when no such contact is kept (never was, or already erased).
    """
    contact = _contact(session, channel, user_id)
    messages = session.scalars(select(Message).where(Message.contact_id == contact.id).order_by(Message.id))
    conversations = session.scalars(select(Conversation).where(Conversation.contact_id == contact.id))
    cases = session.scalars(select(Case).where(Case.reporter_contact_id == contact.id).order_by(Case.id))
    others = {}
    for table, column in _tables_referring_to_contacts():
        if table.name in (Message.__tablename__, Conversation.__tablename__, Case.__tablename__):
            continue
        rows = session.execute(select(table).where(column == contact.id)).mappings().all()
        if rows:
            others[table.name] = [{key: _when(value) if isinstance(value, datetime) else value
                                   for key, value in row.items()} for row in rows]
    return {
        "contact": {"channel": contact.channel, "user_id": contact.channel_user_id, "language": contact.language,
                    "active": contact.active, "created_at": _when(contact.created_at)},
        "messages": [{"direction": m.direction.value, "kind": m.kind, "text": m.text, "sent_at": _when(m.created_at)}
                     for m in messages],
        "conversations": [{"flow": c.flow, "answers": c.slots, "updated_at": _when(c.updated_at)}
                          for c in conversations],
        "cases_reported": [{"case": c.id, "kind": c.kind.value, "topic": c.topic, "status": c.status.value,
                            "counter": c.counter_id, "details": c.details, "created_at": _when(c.created_at)}
                           for c in cases],
        "other_records": others,
    }


def erase_resident(session: Session, channel: str, user_id: str) -> dict[str, int]:
    """Erase one contact on request: messages, conversations, the contact itself (ending a
    cooperator registration on it), and the call-back details of the cases they reported.

    Raises:
        ResidentNotFound: when no such contact is kept.
    """
    contact = _contact(session, channel, user_id)
    reported = list(session.scalars(select(Case).where(Case.reporter_contact_id == contact.id)))
    for case in reported:
        case.details = {key: value for key, value in case.details.items() if key not in REPORTER_DETAILS}
        case.callback_consent = False
        case.reporter_contact_id = None
    messages = session.execute(delete(Message).where(Message.contact_id == contact.id)).rowcount
    conversations = session.execute(delete(Conversation).where(Conversation.contact_id == contact.id)).rowcount
    session.delete(contact)
    session.flush()
    return {"messages deleted": messages, "conversations deleted": conversations,
            "cases without the reporter's details": len(reported), "contacts deleted": 1}
