"""``GET /media/{token}``: an active alert's photo, for the platforms that fetch it by address.

LINE fetches an image message's ``originalContentUrl`` itself, so the address must be public;
the token (32 random bytes) is the only key, the photo is served only while its alert is active
and shares it (``alerts.media``), and nothing is cached on the way.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status

from alerts.media import served_photo
from bot.db import session_scope

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/media/{token}")
def alert_photo(token: str) -> Response:
    """The photo's bytes, or 404 for an unknown token or an alert that has ended."""
    with session_scope() as session:
        photo = served_photo(session, token)
        if photo is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such photo")
        return Response(photo.data, media_type=photo.content_type,
                        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
