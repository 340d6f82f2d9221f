"""structured public alert fields, sharing consent, sent message ids

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema change lands
from alembic import op  # noqa: F401 - used once the schema change lands

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
