"""indexes for lookups that cost what is new: remedy by case, orders by date and customer, mentions
by lower-case handle and email, cases by customer and issue; name keys of customers and identity
keys of mentions in cases (filled here for the rows already stored)

Revision ID: 0010_indexes
Revises: 0009_web
Create Date: 2026-12-02 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010_indexes'
down_revision = '0009_web'
branch_labels = None
depends_on = None

INDEXES = [
    ('ix_remedy_case', 'remedy', ['case_id']),
    ('ix_order_placed', 'shop_order', ['placed_at']),
    ('ix_order_updated', 'shop_order', ['updated_at']),
    ('ix_order_customer', 'shop_order', ['customer_id']),
    ('ix_order_line_order', 'order_line', ['order_id']),
    ('ix_handle_customer', 'customer_handle', ['customer_id']),
    ('ix_case_customer_issue_created', 'recovery_case', ['customer_id', 'issue', 'created_at']),
    ('ix_case_order', 'recovery_case', ['order_id']),
]
BATCH = 2000


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_index('ix_mention_handle_lower', 'mention', [sa.text('lower(author_handle)')])
    op.create_index('ix_mention_email_lower', 'mention', [sa.text('lower(author_email)')])
    op.create_table(
        'customer_name_key',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('customer_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['customer_id'], ['customer.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', 'customer_id'),
    )
    op.create_index('ix_customer_name_key_customer_id', 'customer_name_key', ['customer_id'])
    op.create_table(
        'mention_key',
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('mention_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['mention_id'], ['mention.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('key', 'mention_id'),
    )
    op.create_index('ix_mention_key_mention_id', 'mention_key', ['mention_id'])
    _fill()


def _fill() -> None:
    """Keys for the rows already stored, with the code's key functions (batched, bounded memory):
    every customer's name; the mentions of cases that wait without an order."""
    from bot.match import mention_keys
    from bot.store.keys import customer_name_keys

    bind = op.get_bind()
    customers = sa.table('customer', sa.column('id'), sa.column('name'))
    name_key = sa.table('customer_name_key', sa.column('key'), sa.column('customer_id'))
    last = 0
    while True:
        rows = bind.execute(sa.select(customers.c.id, customers.c.name).where(customers.c.id > last)
                            .order_by(customers.c.id).limit(BATCH)).all()
        if not rows:
            break
        keys = [{"key": k, "customer_id": i} for i, name in rows for k in customer_name_keys(name)]
        if keys:
            bind.execute(sa.insert(name_key), keys)
        last = rows[-1][0]
    mention = sa.table('mention', sa.column('id'), sa.column('author_email'), sa.column('author_handle'),
                       sa.column('author_name'), sa.column('source_kind'), sa.column('raw', sa.JSON()))
    link = sa.table('case_mention', sa.column('mention_id'), sa.column('case_id'))
    case = sa.table('recovery_case', sa.column('id'), sa.column('order_id'))
    waiting = sa.select(link.c.mention_id).join(case, case.c.id == link.c.case_id).where(case.c.order_id.is_(None))
    mention_key = sa.table('mention_key', sa.column('key'), sa.column('mention_id'))
    last = 0
    while True:
        found = bind.execute(
            sa.select(mention.c.id, mention.c.author_email, mention.c.author_handle, mention.c.author_name,
                      mention.c.source_kind, mention.c.raw)
            .where(mention.c.id > last, mention.c.id.in_(waiting))
            .order_by(mention.c.id).limit(BATCH)
        ).all()
        if not found:
            break
        keys = [{"key": k, "mention_id": row[0]} for row in found
                for k in mention_keys(row[1], row[2], row[3], row[4], row[5]) or ["-"]]
        if keys:
            bind.execute(sa.insert(mention_key), keys)
        last = found[-1][0]


def downgrade() -> None:
    op.drop_index('ix_mention_key_mention_id', table_name='mention_key')
    op.drop_table('mention_key')
    op.drop_index('ix_customer_name_key_customer_id', table_name='customer_name_key')
    op.drop_table('customer_name_key')
    op.drop_index('ix_mention_email_lower', table_name='mention')
    op.drop_index('ix_mention_handle_lower', table_name='mention')
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
