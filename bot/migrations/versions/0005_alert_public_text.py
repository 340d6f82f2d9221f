"""structured public alert fields and the family's consent to share name, diagnosis and photo

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing rows: no structured features yet, nothing shared (the default is no).
    with op.batch_alter_table('registered_persons', schema=None) as batch_op:
        batch_op.add_column(sa.Column('features', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('share_identity', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_fields', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.add_column(sa.Column('share_identity', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('share_identity')
        batch_op.drop_column('public_fields')
    with op.batch_alter_table('registered_persons', schema=None) as batch_op:
        batch_op.drop_column('share_identity')
        batch_op.drop_column('features')
