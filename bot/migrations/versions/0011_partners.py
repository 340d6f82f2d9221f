"""partner businesses under a 見守り協定 and their reporters

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.Enum('newspaper', 'milk', 'gas', 'water', 'electricity', 'bank', 'parcel',
                              'convenience_store', 'other', name='partnertype', native_enum=False, length=32),
              nullable=False),
    sa.Column('wards', sa.JSON(), nullable=False),
    sa.Column('contact', sa.Text(), nullable=False),
    sa.Column('agreement_date', sa.Date(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partners'))
    )
    op.create_table('partner_invitations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('expires_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'],
                            name=op.f('fk_partner_invitations_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_invitations')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_partner_invitations_code_hash'))
    )
    with op.batch_alter_table('partner_invitations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_invitations_partner_id'), ['partner_id'], unique=False)

    op.create_table('partner_reporters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('invitation_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('consented_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('reconfirm_due', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reconfirm_requested_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('left_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'],
                            name=op.f('fk_partner_reporters_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['invitation_id'], ['partner_invitations.id'],
                            name=op.f('fk_partner_reporters_invitation_id_partner_invitations'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'],
                            name=op.f('fk_partner_reporters_partner_id_partners'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_reporters')),
    sa.UniqueConstraint('contact_id', name=op.f('uq_partner_reporters_contact_id'))
    )
    with op.batch_alter_table('partner_reporters', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_reporters_partner_id'), ['partner_id'], unique=False)

    op.create_table('partner_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('reporter_id', sa.Integer(), nullable=True),
    sa.Column('ward', sa.String(length=64), nullable=True),
    sa.Column('what_seen', sa.String(length=32), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('notified_at', bot.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'],
                            name=op.f('fk_partner_reports_case_id_cases'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['partner_id'], ['partners.id'],
                            name=op.f('fk_partner_reports_partner_id_partners'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['reporter_id'], ['partner_reporters.id'],
                            name=op.f('fk_partner_reports_reporter_id_partner_reporters'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_reports'))
    )
    with op.batch_alter_table('partner_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_reports_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_partner_reports_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_partner_reports_partner_id'), ['partner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('partner_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_reports_partner_id'))
        batch_op.drop_index(batch_op.f('ix_partner_reports_created_at'))
        batch_op.drop_index(batch_op.f('ix_partner_reports_case_id'))
    op.drop_table('partner_reports')
    with op.batch_alter_table('partner_reporters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_reporters_partner_id'))
    op.drop_table('partner_reporters')
    with op.batch_alter_table('partner_invitations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_invitations_partner_id'))
    op.drop_table('partner_invitations')
    op.drop_table('partners')
