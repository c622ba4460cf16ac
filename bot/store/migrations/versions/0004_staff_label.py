"""staff_label: a person's approve / reject kept as a label on the mention

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 13:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'staff_label',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('mention_id', sa.Integer(), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=50), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('unhappy', sa.Boolean(), nullable=False),
        sa.Column('issue', sa.String(length=40), nullable=False),
        sa.Column('remedy_worthy', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['recovery_case.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_staff_label_mention_id', 'staff_label', ['mention_id'])


def downgrade() -> None:
    op.drop_index('ix_staff_label_mention_id', table_name='staff_label')
    op.drop_table('staff_label')
