"""web_link_use: each signed link of the web inbox (one-click action, sign-in) works once

Revision ID: 0009_web
Revises: 0013_reply
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009_web'
down_revision = '0013_reply'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'web_link_use',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('action', sa.String(length=20), nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=200), nullable=False),
        sa.Column('used_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('digest'),
    )


def downgrade() -> None:
    op.drop_table('web_link_use')
