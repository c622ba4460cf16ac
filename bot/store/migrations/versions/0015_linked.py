"""assessment.linked: set when the mention joins a case, so the lookup of mentions not yet in a
case reads a partial index of what is new (ix_assessment_unlinked) instead of every unhappy
assessment ever stored (ix_assessment_pending, dropped); mentions indexed by fingerprint and id, so
the copies of a text nearest a case are read without reading every copy; orders by customer and
date, so whether a customer ordered recently is read from the index alone

Revision ID: 0015_linked
Revises: 0014_proc
Create Date: 2026-12-03 13:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015_linked'
down_revision = '0014_proc'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('assessment', sa.Column('linked', sa.Boolean(), nullable=False, server_default=sa.false()))
    # Every mention already in a case; before the index exists, so it is written once.
    op.execute("UPDATE assessment SET linked = true WHERE mention_id IN (SELECT mention_id FROM case_mention)")
    op.drop_index('ix_assessment_pending', table_name='assessment')
    op.create_index('ix_assessment_unlinked', 'assessment', ['mention_id'],
                    sqlite_where=sa.text('unhappy IS 1 AND scored IS 1 AND linked IS 0'),
                    postgresql_where=sa.text('unhappy IS true AND scored IS true AND linked IS false'))
    op.create_index('ix_mention_fingerprint_id', 'mention', ['fingerprint', 'id'])
    op.drop_index('ix_mention_fingerprint', table_name='mention')
    op.create_index('ix_order_customer_placed', 'shop_order', ['customer_id', 'placed_at'])
    op.drop_index('ix_order_customer', table_name='shop_order')


def downgrade() -> None:
    op.create_index('ix_order_customer', 'shop_order', ['customer_id'])
    op.drop_index('ix_order_customer_placed', table_name='shop_order')
    op.create_index('ix_mention_fingerprint', 'mention', ['fingerprint'])
    op.drop_index('ix_mention_fingerprint_id', table_name='mention')
    op.drop_index('ix_assessment_unlinked', table_name='assessment')
    op.create_index('ix_assessment_pending', 'assessment', ['mention_id'],
                    sqlite_where=sa.text('unhappy IS 1 AND scored IS 1'),
                    postgresql_where=sa.text('unhappy IS true AND scored IS true'))
    with op.batch_alter_table('assessment') as batch:
        batch.drop_column('linked')
