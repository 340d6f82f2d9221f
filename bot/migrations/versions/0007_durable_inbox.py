"""the durable inbox: webhook events committed before they are acknowledged

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'inbox_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('event_id', sa.String(length=128), nullable=False),
        sa.Column('resident', sa.String(length=128), nullable=False),
        sa.Column('state', sa.Enum('pending', 'processing', 'done', 'failed', name='inboxstate',
                                   native_enum=False, length=16), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('received_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('claimed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('processed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_with', sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_events')),
        sa.UniqueConstraint('channel', 'event_id', name=op.f('uq_inbox_events_channel_event_id')),
    )
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_events_queue', ['channel', 'resident', 'state'], unique=False)
        batch_op.create_index('ix_inbox_events_state', ['state', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inbox_events', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_events_state')
        batch_op.drop_index('ix_inbox_events_queue')
    op.drop_table('inbox_events')
