"""install id: a per-database random id that makes idempotency keys unique across databases

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 10:00:00.000000

Remedy keys were ``rb-case{id}-{i}-{kind}``: a new database (a reset, a move to PostgreSQL)
starts case ids again at 1, so a csv file or webhook receiver deduplicating on the key would drop
a different customer's remedy. The install id, made once here, goes into every new key.
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    meta = op.create_table(
        'meta',
        sa.Column('key', sa.String(length=50), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    # 12 hex digits (48 bits): two installs writing to one receiver never share an id in practice.
    op.bulk_insert(meta, [{'key': 'install_id', 'value': secrets.token_hex(6)}])


def downgrade() -> None:
    op.drop_table('meta')
