"""An alert's photo at a public address: copied from the platform it was sent on, served while
the alert runs, deleted when it ends.

A photo goes out only with the family's consent (``Alert.share_identity``). As kept, it is a
platform's reference — a LINE message id or a Telegram ``file_id`` — that only this
installation's token can read, while a LINE image message needs an ``https://`` address LINE
fetches itself (and Telegram can send a photo by address too). So the first fan-out pass of an
alert copies the photo (``alerts.fanout.photos``, which talks to the platforms) into
``alert_media`` under a random token; ``bot.media`` serves it at ``{public_base_url}/media/{token}`` while the alert is active; it is
deleted when the alert ends (:func:`discard_photo`) and by the purge. Nothing is copied when
the public address is not https (no platform could fetch it).
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.models import Alert, AlertMedia, AlertStatus
from bot.settings import Settings

__all__ = ["discard_photo", "photo_url", "served_photo"]


def photo_url(session: Session, alert: Alert, config: Settings) -> str | None:
    """The public address of the alert's copied photo, or None (no consent, not copied)."""
    if not alert.share_identity or not config.public_base_url.startswith("https://"):
        return None
    token = session.scalar(select(AlertMedia.token).where(AlertMedia.alert_id == alert.id))
    return f"{config.public_base_url.rstrip('/')}/media/{token}" if token else None


def served_photo(session: Session, token: str) -> AlertMedia | None:
    """The photo behind a public address, while its alert is active and shares it."""
    return session.scalar(
        select(AlertMedia).join(Alert, Alert.id == AlertMedia.alert_id)
        .where(AlertMedia.token == token, Alert.status == AlertStatus.active, Alert.share_identity.is_(True)))


def discard_photo(session: Session, alert_id: int) -> int:
    """Delete the alert's copied photo (the search is over); returns how many rows went."""
    return session.execute(delete(AlertMedia).where(AlertMedia.alert_id == alert_id)).rowcount
