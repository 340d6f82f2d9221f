"""the durable inbox: webhook events committed before they are acknowledged

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema change lands
from alembic import op  # noqa: F401 - used once the schema change lands

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
