"""Copying an alert's consented photo from the platform it was sent on to ``alert_media``, the
first time a fan-out pass renders the alert (``alerts.media`` serves and deletes it).

Part of the fan-out, not of ``alerts.media``: fetching talks to the platforms' SDKs, which the
conversation side (flows render alert texts) must not load.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.models import Alert, AlertMedia, AlertStatus
from bot.settings import Settings
from channels import line, telegram

__all__ = ["MAX_PHOTO_BYTES", "publish_photo"]

log = logging.getLogger(__name__)

# LINE's limit for a preview image, which is the same address as the photo (no image library
# here to make a smaller one); a larger photo goes out on no channel by address.
MAX_PHOTO_BYTES = 1_000_000
# The image formats a LINE image message accepts.
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
LINE_IMAGE = "line:message:"
TELEGRAM_PHOTO = "telegram:photo:"


def _needs_copy(config: Settings, alert: Alert | None) -> bool:
    return (alert is not None and alert.share_identity and bool(alert.photo_ref)
            and not alert.photo_ref.startswith("https://") and config.public_base_url.startswith("https://"))


def _photo_to_copy(sessions: sessionmaker[Session], alert_id: int, config: Settings) -> str | None:
    with sessions() as session:
        alert = session.get(Alert, alert_id)
        if not _needs_copy(config, alert) or alert.status != AlertStatus.active:
            return None
        if session.scalar(select(AlertMedia.id).where(AlertMedia.alert_id == alert_id)) is not None:
            return None
        return alert.photo_ref


async def _fetch(ref: str, config: Settings) -> tuple[bytes, str] | None:
    if ref.startswith(LINE_IMAGE) and config.line_channel_access_token:
        return await line.fetch_content(config.line_api_data_host, config.line_channel_access_token,
                                        ref.removeprefix(LINE_IMAGE))
    if ref.startswith(TELEGRAM_PHOTO) and config.telegram_bot_token:
        return await telegram.fetch_file(config.telegram_base_url, config.telegram_file_base_url,
                                         config.telegram_bot_token, ref.removeprefix(TELEGRAM_PHOTO))
    return None


def _store(sessions: sessionmaker[Session], alert_id: int, data: bytes, content_type: str) -> None:
    with sessions() as session:
        session.add(AlertMedia(alert_id=alert_id, token=secrets.token_urlsafe(32), content_type=content_type,
                               data=data))
        try:
            session.commit()
        except IntegrityError:  # another worker's pass copied it first: theirs is served
            session.rollback()


async def publish_photo(sessions: sessionmaker[Session], alert_id: int, config: Settings) -> None:
    """Copy an active alert's consented photo to ``alert_media`` unless it is there already.

    A photo that cannot be fetched, is not JPEG/PNG or is too large is left out (logged
    without the reference, which may hold a token): the alert goes out as text.
    """
    ref = await asyncio.to_thread(_photo_to_copy, sessions, alert_id, config)
    if ref is None:
        return
    try:
        fetched = await _fetch(ref, config)
    except Exception as exc:  # noqa: BLE001 - the platform's error: the alert goes out without its photo
        log.warning("alert %s: its photo could not be fetched (%s)", alert_id, type(exc).__name__)
        return
    if fetched is None:
        log.warning("alert %s: its photo came from a channel that is not configured", alert_id)
        return
    data, content_type = fetched
    if content_type not in PHOTO_TYPES or len(data) > MAX_PHOTO_BYTES:
        log.warning("alert %s: its photo is left out (%s, %d bytes)", alert_id, content_type, len(data))
        return
    await asyncio.to_thread(_store, sessions, alert_id, data, content_type)
