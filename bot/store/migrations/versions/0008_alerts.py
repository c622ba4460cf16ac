"""alert_sent: each instant alert once per target and event

Revision ID: 0008_alerts
Revises: 0004
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008_alerts'
down_revision = '0007_notice'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_sent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('target', sa.String(length=100), nullable=False),
        sa.Column('event', sa.String(length=300), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('target', 'event', name='uq_alert_target_event'),
    )
    op.create_index('ix_alert_target_attempt', 'alert_sent', ['target', 'last_attempt_at'])


def downgrade() -> None:
    op.drop_index('ix_alert_target_attempt', table_name='alert_sent')
    op.drop_table('alert_sent')
