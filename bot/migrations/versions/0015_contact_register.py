"""a resident's register: やさしい日本語 kept once they write in it or ask for it

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 08:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.add_column(sa.Column('register', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('contacts') as batch:
        batch.drop_column('register')
