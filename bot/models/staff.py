"""Staff accounts of the staff API, scoped to their counters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, utcnow


class StaffUser(Base):
    """A counter's staff member; sees only the cases of the counters listed in counter_ids."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    counter_ids: Mapped[list[Any]] = mapped_column(default=list)
    can_approve_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
