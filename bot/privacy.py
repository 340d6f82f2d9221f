"""Retention: personal data is kept only as long as it is needed, then erased.

Message texts (a worry report is sensitive personal data) are erased after
``message_retention_days``; closed cases keep their routing facts for statistics but
lose their details and reporter link after ``closed_case_retention_days``; ended
missing-person alerts lose the person's description, photo, last-seen point and
sightings ``missing_retention_days`` after they ended (``alerts.retention``). Run it
daily (`tsunagu purge`, cron or the worker).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Text, cast, update
from sqlalchemy.orm import Session

from alerts.retention import purge_expired_alerts
from bot.models import Case, CaseEvent, CaseStatus, Conversation, Message, utcnow
from bot.settings import settings

__all__ = ["purge_expired"]


def purge_expired(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Erase what is past retention; returns how many rows of each kind were erased."""
    now = now or utcnow()
    message_cutoff = now - timedelta(days=settings.message_retention_days)
    case_cutoff = now - timedelta(days=settings.closed_case_retention_days)
    messages = session.execute(
        update(Message)
        .where(Message.created_at < message_cutoff, (Message.text.is_not(None)) | (Message.payload.is_not(None)))
        .values(text=None, payload=None)
    ).rowcount
    conversations = session.execute(
        update(Conversation)
        .where(Conversation.updated_at < message_cutoff, cast(Conversation.slots, Text) != "{}")
        .values(slots={}, active=False)
    ).rowcount
    closed = session.execute(
        update(Case)
        .where(Case.status == CaseStatus.closed, Case.closed_at < case_cutoff, cast(Case.details, Text) != "{}")
        .values(details={}, reporter_contact_id=None, household_key=None)
        .returning(Case.id)
    ).scalars().all()
    if closed:
        session.execute(update(CaseEvent).where(CaseEvent.case_id.in_(closed)).values(details={}))
    alerts = purge_expired_alerts(session, now)
    return {"message texts erased": messages, "conversations cleared": conversations,
            "closed cases anonymised": len(closed), "ended alerts purged": alerts}
