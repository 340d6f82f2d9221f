"""CAP messages stored as sent; the missing case's own lifecycle

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each CAP message of an alert as it was issued (alerts/cap.py); alerts approved before
    # this revision have none and export what they issue from now on.
    op.create_table('cap_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('identifier', sa.String(length=255), nullable=False),
    sa.Column('msg_type', sa.String(length=16), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('sent', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('xml', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_cap_messages_alert_id_alerts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cap_messages')),
    sa.UniqueConstraint('identifier', name=op.f('uq_cap_messages_identifier'))
    )
    with op.batch_alter_table('cap_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cap_messages_alert_id'), ['alert_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cap_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cap_messages_alert_id'))
    op.drop_table('cap_messages')
