"""the staff console: passwords, roles, audit log

Staff accounts get a role (the old ``can_approve_alerts`` flag becomes the alert desk role),
an argon2 password hash, a session epoch and the last login; console sessions and the audit
log get their tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.models

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('role', sa.Enum('counter', 'alert_desk', 'manager', 'admin', name='role',
                                                      native_enum=False, length=16),
                                      nullable=False, server_default='counter'))
        batch_op.add_column(sa.Column('password_hash', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('last_login_at', bot.models.UTCDateTime(timezone=True), nullable=True))
    # Those who could approve alerts are the alert desk now.
    op.execute(sa.text("UPDATE staff_users SET role = 'alert_desk' WHERE can_approve_alerts"))
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('can_approve_alerts')
        # The models give defaults in Python; the server defaults only filled existing rows.
        batch_op.alter_column('role', server_default=None)
        batch_op.alter_column('session_epoch', server_default=None)

    op.create_table('staff_sessions',
    sa.Column('id_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('created_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'],
                            name=op.f('fk_staff_sessions_staff_user_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id_hash', name=op.f('pk_staff_sessions'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_sessions_staff_user_id'), ['staff_user_id'], unique=False)

    op.create_table('audit_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', bot.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('staff_user_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['staff_user_id'], ['staff_users.id'],
                            name=op.f('fk_audit_entries_staff_user_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entries'))
    )
    with op.batch_alter_table('audit_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entries_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entries_staff_user_id'), ['staff_user_id'], unique=False)
        batch_op.create_index('ix_audit_entries_object', ['object_type', 'object_id'], unique=False)


def downgrade() -> None:
    op.drop_table('audit_entries')
    op.drop_table('staff_sessions')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('can_approve_alerts', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute(sa.text("UPDATE staff_users SET can_approve_alerts = (role = 'alert_desk')"))
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.alter_column('can_approve_alerts', server_default=None)
        batch_op.drop_column('last_login_at')
        batch_op.drop_column('session_epoch')
        batch_op.drop_column('password_hash')
        batch_op.drop_column('role')
