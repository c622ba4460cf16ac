"""assessment: what the learned scorer said (remedy and issue probabilities, sure, scored, language)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 12:00:00.000000

The scorer now decides with a model trained on real buyer texts and is automatic only when it is
sure. Rows scored before this revision keep NULL probabilities and count as sure (their cases were
decided by the old rules, as before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assessment') as batch:
        batch.add_column(sa.Column('p_remedy', sa.Float(), nullable=True))
        batch.add_column(sa.Column('p_issue', sa.Float(), nullable=True))
        batch.add_column(sa.Column('remedy_worthy', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('sure', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('scored', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column('language', sa.String(length=12), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('assessment') as batch:
        for name in ('language', 'scored', 'sure', 'remedy_worthy', 'p_issue', 'p_remedy'):
            batch.drop_column(name)
