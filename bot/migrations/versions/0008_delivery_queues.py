"""per-claim leases, retry keys per installation, failed deliveries

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema change lands
from alembic import op  # noqa: F401 - used once the schema change lands

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
