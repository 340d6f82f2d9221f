"""Staff accounts (the staff API's tokens, the console's passwords) and what each role may do.

The permission table lives here, below both the staff API and the console, so the two ask
one question (``user.may(Permission.x)``) and get one answer.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Enum, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.models.base import Base, utcnow

__all__ = ["ROLE_PERMISSIONS", "Permission", "Role", "StaffUser"]


class Role(str, enum.Enum):
    """What a staff member does: their counters' cases, the alert desk, oversight, or administration."""

    counter = "counter"
    alert_desk = "alert_desk"
    manager = "manager"
    admin = "admin"


class Permission(str, enum.Enum):
    """One thing a role may do; pages and API endpoints each require one."""

    view_cases = "view_cases"  # the cases of one's counters
    work_cases = "work_cases"  # acknowledge, contact, close, transfer, reply, notes
    all_counters = "all_counters"  # read every counter's cases (oversight)
    work_alerts = "work_alerts"  # the alerts of one's counters: widen, found, cancel, sightings
    approve_alerts = "approve_alerts"  # send a missing-person alert out
    alert_desk = "alert_desk"  # the desk's pages: pending alerts, registered persons, cooperators
    dashboard = "dashboard"
    risk_map = "risk_map"  # the isolation risk map: where outreach knocks first (towns only)
    directory = "directory"
    users = "users"
    audit = "audit"


# Counter staff keep what the staff API always let them do with their own counters' alerts
# (widen, mark found, confirm a sighting); approving is the desk's decision.
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.counter: frozenset({Permission.view_cases, Permission.work_cases, Permission.work_alerts}),
    Role.alert_desk: frozenset({Permission.view_cases, Permission.work_cases, Permission.work_alerts,
                                Permission.approve_alerts, Permission.alert_desk, Permission.risk_map}),
    Role.manager: frozenset({Permission.view_cases, Permission.all_counters, Permission.dashboard,
                             Permission.risk_map}),
    Role.admin: frozenset({Permission.dashboard, Permission.risk_map, Permission.directory, Permission.users,
                           Permission.audit}),
}


class StaffUser(Base):
    """A staff member: a role, the counters whose cases they see, an API token and a console password."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    counter_ids: Mapped[list[Any]] = mapped_column(default=list)
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=16), default=Role.counter)
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    # argon2id (bot.console.auth); None: an API-only account that cannot log in to the console.
    password_hash: Mapped[str | None] = mapped_column(String(255), default=None)
    # Raised by a password change or reset: every console session issued before it ends.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)

    def may(self, permission: Permission) -> bool:
        """Whether this staff member's role allows ``permission`` (a disabled account may nothing)."""
        return self.active and permission in ROLE_PERMISSIONS[self.role]

    @property
    def can_approve_alerts(self) -> bool:
        """The staff API's old flag, now the alert desk's right."""
        return self.may(Permission.approve_alerts)
