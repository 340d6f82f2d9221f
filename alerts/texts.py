"""The texts the alert network sends outside a conversation, from domain.yml.

Every outbox message is rendered here in the cooperator's language: the alert itself
and its widening (who, clothing, where and when last seen), the closing notices, and
the yearly re-confirmation request. :data:`RESPONSES` lists every response these use,
so start-up can check that domain.yml has each of them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, object_session

from alerts.fanout.items import RECONFIRM_KIND
from bot.domain import Domain
from bot.models import Alert, Case
from bot.settings import settings
from routing.snapshot import get_directory

__all__ = ["KIND_RESPONSES", "RESPONSES", "last_seen_label", "render_alert_message", "render_message"]

KIND_RESPONSES: dict[str, str] = {
    "alert": "utter_alert_broadcast",
    "update": "utter_alert_update",
    "found": "utter_alert_found",
    "cancelled": "utter_alert_cancelled",
    RECONFIRM_KIND: "utter_helper_reconfirm_request",
}
"""The response each outbox message kind is rendered from."""

RESPONSES: tuple[str, ...] = (*KIND_RESPONSES.values(), "utter_unknown_label")
"""Every response the alert network can send outside a conversation (checked at start-up)."""


def last_seen_label(session: Session | None, alert: Alert) -> str:
    """"北区 柳町": the alert's last-seen place at town precision (or ward), "" when unknown."""
    if session is not None and alert.town_id:
        record = get_directory(session).towns.get(alert.town_id)
        if record is not None:
            return f"{record.option.ward} {record.option.town}"
    if session is not None and alert.ward:
        return get_directory(session).wards.get(alert.ward, alert.ward)
    return ""


def _format_time(moment: datetime, language: str) -> str:
    local = moment.astimezone(settings.tz)
    if language == "en":
        return local.strftime("%d %b %H:%M")
    return f"{local.month}月{local.day}日 {local.hour}時{local.minute:02d}分"


def render_alert_message(domain: Domain, alert: Alert, kind: str, language: str) -> str:
    """The text of one outbox message, from domain.yml in the cooperator's language.

    Args:
        domain: the loaded domain.
        alert: the alert (attached to a session, so the case's words can be read).
        kind: ``alert``, ``update``, ``found`` or ``cancelled``.
        language: ``ja`` or ``en``.

    Returns:
        The message text.

    Raises:
        KeyError: for an unknown kind.
    """
    response = KIND_RESPONSES[kind]
    if kind in ("found", "cancelled"):
        return domain.text(response, language, alert_id=alert.id)
    session = object_session(alert)
    case = session.get(Case, alert.case_id) if session is not None and alert.case_id else None
    details = case.details if case is not None else {}
    unknown = domain.text("utter_unknown_label", language)
    seen_at = _format_time(alert.last_seen_at, language) if alert.last_seen_at else unknown
    when = details.get("last_seen_when") or seen_at
    return domain.text(
        response,
        language,
        alert_id=alert.id,
        description=alert.description or unknown,
        clothing=alert.clothing or unknown,
        last_seen_where=details.get("last_seen_where") or last_seen_label(session, alert) or unknown,
        last_seen_when=when,
    )


def render_message(session: Session, domain: Domain, alert_id: int | None, kind: str, language: str) -> str:
    """The text of one outbox message: an alert's message, or the re-confirmation request.

    Args:
        session: a session to read the alert (and its case) with.
        domain: the loaded domain.
        alert_id: the alert, for every kind but ``reconfirm``.
        kind: the outbox row's kind.
        language: ``ja`` or ``en``.

    Returns:
        The message text.

    Raises:
        LookupError: when the alert no longer exists.
    """
    if kind == RECONFIRM_KIND:
        return domain.text(KIND_RESPONSES[kind], language, days=settings.cooperator_reconfirm_grace_days)
    alert = session.get(Alert, alert_id) if alert_id is not None else None
    if alert is None:
        raise LookupError(f"alert {alert_id} no longer exists")
    return render_alert_message(domain, alert, kind, language)
