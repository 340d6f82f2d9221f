"""community places and the isolation risk map's town statistics

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('town_stats',
    sa.Column('town_id', sa.String(length=64), nullable=False),
    sa.Column('population', sa.Integer(), nullable=False),
    sa.Column('aged_65_plus', sa.Integer(), nullable=False),
    sa.Column('single_elderly_households', sa.Integer(), nullable=False),
    sa.Column('care_certifications', sa.Integer(), nullable=False),
    sa.Column('lone_deaths', sa.Integer(), nullable=False),
    sa.Column('imported_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('town_id', name=op.f('pk_town_stats'))
    )
    op.create_table('risk_computations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('computed_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_days', sa.Integer(), nullable=False),
    sa.Column('weights', sa.JSON(), nullable=False),
    sa.Column('k_threshold', sa.Integer(), nullable=False),
    sa.Column('stats_imported_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_computations'))
    )
    with op.batch_alter_table('risk_computations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_computations_computed_at'), ['computed_at'], unique=False)
    op.create_table('town_risk_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('computation_id', sa.Integer(), nullable=False),
    sa.Column('town_id', sa.String(length=64), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['computation_id'], ['risk_computations.id'],
                            name=op.f('fk_town_risk_scores_computation_id_risk_computations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_town_risk_scores'))
    )
    with op.batch_alter_table('town_risk_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_town_risk_scores_computation_id'), ['computation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('town_risk_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_town_risk_scores_computation_id'))
    op.drop_table('town_risk_scores')
    with op.batch_alter_table('risk_computations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_computations_computed_at'))
    op.drop_table('risk_computations')
    op.drop_table('town_stats')
