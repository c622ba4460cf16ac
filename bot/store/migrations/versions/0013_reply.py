"""public_reply: a staff-requested public reply to a case's review, posted once

Revision ID: 0013_reply
Revises: 0008_alerts
Create Date: 2026-12-02 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013_reply'
down_revision = '0008_alerts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'public_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('mention_id', sa.Integer(), nullable=False),
        sa.Column('idempotency_key', sa.String(length=200), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('asked_by', sa.String(length=50), nullable=False),
        sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('reference', sa.Text(), nullable=True),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id']),
        sa.ForeignKeyConstraint(['mention_id'], ['mention.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('idempotency_key'),
    )
    op.create_index('ix_public_reply_status', 'public_reply', ['status'])
    op.create_index('ix_public_reply_case_id', 'public_reply', ['case_id'])


def downgrade() -> None:
    op.drop_index('ix_public_reply_case_id', table_name='public_reply')
    op.drop_index('ix_public_reply_status', table_name='public_reply')
    op.drop_table('public_reply')
