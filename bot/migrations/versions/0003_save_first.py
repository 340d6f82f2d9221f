"""reports saved from their first answer (a hang-up leaves a case)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema change lands
from alembic import op  # noqa: F401 - used once the schema change lands

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
