"""an alert's photo at a public address while the alert runs

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 06:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_media',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('alert_id', sa.Integer(), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=False),
        sa.Column('content_type', sa.String(length=32), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_media_alert_id_alerts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_media')),
        sa.UniqueConstraint('alert_id', name=op.f('uq_alert_media_alert_id')),
        sa.UniqueConstraint('token', name=op.f('uq_alert_media_token')),
    )


def downgrade() -> None:
    op.drop_table('alert_media')
