"""the family linked to its alert; sightings pushed to the desk and family

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alert_family',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('added_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_family_alert_id_alerts'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_alert_family_contact_id_contacts'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_family')),
    sa.UniqueConstraint('alert_id', 'contact_id', name=op.f('uq_alert_family_alert_id_contact_id'))
    )
    with op.batch_alter_table('alert_family', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_family_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_family_contact_id'), ['contact_id'], unique=False)

    with op.batch_alter_table('cooperators', schema=None) as batch_op:
        # Everyone registered so far gets missing-person alerts at night, as the new default says.
        batch_op.add_column(sa.Column('night_alerts', sa.Boolean(), nullable=False, server_default=sa.true()))

    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirmed_at', bot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('forwarded_family_at', bot.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('forwarded_police_at', bot.models.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.alter_column('cooperator_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('contact_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('sighting_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outbox_contact_id_contacts'), 'contacts', ['contact_id'], ['id'],
                                    ondelete='CASCADE')
        batch_op.create_foreign_key(batch_op.f('fk_outbox_sighting_id_sightings'), 'sightings', ['sighting_id'],
                                    ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.execute("DELETE FROM outbox WHERE cooperator_id IS NULL")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_sighting_id_sightings'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_outbox_contact_id_contacts'), type_='foreignkey')
        batch_op.drop_column('sighting_id')
        batch_op.drop_column('contact_id')
        batch_op.alter_column('cooperator_id', existing_type=sa.Integer(), nullable=False)

    with op.batch_alter_table('sightings', schema=None) as batch_op:
        batch_op.drop_column('forwarded_police_at')
        batch_op.drop_column('forwarded_family_at')
        batch_op.drop_column('confirmed_by')
        batch_op.drop_column('confirmed_at')

    with op.batch_alter_table('cooperators', schema=None) as batch_op:
        batch_op.drop_column('night_alerts')

    with op.batch_alter_table('alert_family', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_family_contact_id'))
        batch_op.drop_index(batch_op.f('ix_alert_family_alert_id'))

    op.drop_table('alert_family')
