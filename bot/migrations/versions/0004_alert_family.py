"""the family linked to its alert; sightings pushed to the desk and family

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the schema change lands
from alembic import op  # noqa: F401 - used once the schema change lands

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
