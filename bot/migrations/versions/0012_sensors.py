"""sensors in registered households and the 安否確認 they start

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sensor_households',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('town_id', sa.String(length=64), nullable=False),
        sa.Column('consent_by', sa.String(length=16), nullable=False),
        sa.Column('consented_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['registered_persons.id'],
                                name=op.f('fk_sensor_households_person_id_registered_persons'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensor_households')),
        sa.UniqueConstraint('reference', name=op.f('uq_sensor_households_reference')),
    )
    op.create_index(op.f('ix_sensor_households_town_id'), 'sensor_households', ['town_id'], unique=False)
    op.create_table(
        'sensor_family_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('address', sa.String(length=255), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['household_id'], ['sensor_households.id'],
                                name=op.f('fk_sensor_family_contacts_household_id_sensor_households'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensor_family_contacts')),
        sa.UniqueConstraint('household_id', 'channel', 'address',
                            name=op.f('uq_sensor_family_contacts_household_id_channel_address')),
    )
    op.create_index(op.f('ix_sensor_family_contacts_household_id'), 'sensor_family_contacts', ['household_id'],
                    unique=False)
    op.create_index('ix_sensor_family_contacts_reach', 'sensor_family_contacts', ['channel', 'address'], unique=False)
    op.create_table(
        'sensor_devices',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('device_type', sa.String(length=16), nullable=False),
        sa.Column('key_version', sa.Integer(), nullable=False),
        sa.Column('threshold_hours', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_event_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['household_id'], ['sensor_households.id'],
                                name=op.f('fk_sensor_devices_household_id_sensor_households'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensor_devices')),
        sa.UniqueConstraint('device_id', name=op.f('uq_sensor_devices_device_id')),
    )
    op.create_index(op.f('ix_sensor_devices_household_id'), 'sensor_devices', ['household_id'], unique=False)
    op.create_table(
        'safety_checks',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('household_id', sa.Integer(), nullable=False),
        sa.Column('device_pk', sa.Integer(), nullable=True),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('status', sa.Enum('pending', 'confirmed', 'escalated', 'notice', name='checkstatus',
                                    native_enum=False, length=16), nullable=False),
        sa.Column('started_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('escalate_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answered_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('answer', sa.String(length=16), nullable=True),
        sa.Column('answered_by', sa.Integer(), nullable=True),
        sa.Column('escalated_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('escalation', sa.String(length=16), nullable=True),
        sa.Column('confirmed_at', bot.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['answered_by'], ['contacts.id'], name=op.f('fk_safety_checks_answered_by_contacts'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_safety_checks_case_id_cases'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['device_pk'], ['sensor_devices.id'],
                                name=op.f('fk_safety_checks_device_pk_sensor_devices'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['household_id'], ['sensor_households.id'],
                                name=op.f('fk_safety_checks_household_id_sensor_households'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_safety_checks')),
    )
    op.create_index(op.f('ix_safety_checks_household_id'), 'safety_checks', ['household_id'], unique=False)
    op.create_index(op.f('ix_safety_checks_status'), 'safety_checks', ['status'], unique=False)
    op.create_index('ix_safety_checks_due', 'safety_checks', ['status', 'escalate_at'], unique=False)
    op.create_table(
        'sensor_events',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_pk', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=64), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('observed_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('received_at', bot.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('outcome', sa.String(length=32), nullable=False),
        sa.Column('check_id', sa.Integer(), nullable=True),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['check_id'], ['safety_checks.id'], name=op.f('fk_sensor_events_check_id_safety_checks'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['device_pk'], ['sensor_devices.id'],
                                name=op.f('fk_sensor_events_device_pk_sensor_devices'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sensor_events')),
        sa.UniqueConstraint('device_pk', 'event_id', name=op.f('uq_sensor_events_device_pk_event_id')),
    )
    op.create_index(op.f('ix_sensor_events_device_pk'), 'sensor_events', ['device_pk'], unique=False)
    op.create_index(op.f('ix_sensor_events_received_at'), 'sensor_events', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_sensor_events_received_at'), table_name='sensor_events')
    op.drop_index(op.f('ix_sensor_events_device_pk'), table_name='sensor_events')
    op.drop_table('sensor_events')
    op.drop_index('ix_safety_checks_due', table_name='safety_checks')
    op.drop_index(op.f('ix_safety_checks_status'), table_name='safety_checks')
    op.drop_index(op.f('ix_safety_checks_household_id'), table_name='safety_checks')
    op.drop_table('safety_checks')
    op.drop_index(op.f('ix_sensor_devices_household_id'), table_name='sensor_devices')
    op.drop_table('sensor_devices')
    op.drop_index('ix_sensor_family_contacts_reach', table_name='sensor_family_contacts')
    op.drop_index(op.f('ix_sensor_family_contacts_household_id'), table_name='sensor_family_contacts')
    op.drop_table('sensor_family_contacts')
    op.drop_index(op.f('ix_sensor_households_town_id'), table_name='sensor_households')
    op.drop_table('sensor_households')
