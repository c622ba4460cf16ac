"""pair keys of customer names (first and last word) so a common first name is not a lookup of
every customer who has it, and the identity keys of waiting mentions written anew (a name of two
words or more is kept by its pair keys); indexes for the lookups of a cycle that still read whole tables: a
customer by lower-case email, handles by when they were linked, unhappy assessments (partial)

Revision ID: 0014_proc
Revises: 0010_indexes
Create Date: 2026-12-02 18:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014_proc'
down_revision = '0010_indexes'
branch_labels = None
depends_on = None

BATCH = 2000


def upgrade() -> None:
    op.create_index('ix_customer_email_lower', 'customer', [sa.text('lower(email)')])
    op.create_index('ix_handle_created', 'customer_handle', ['created_at'])
    op.create_index('ix_assessment_pending', 'assessment', ['mention_id'],
                    sqlite_where=sa.text('unhappy IS 1 AND scored IS 1'),
                    postgresql_where=sa.text('unhappy IS true AND scored IS true'))
    _fill()


def _fill() -> None:
    """Pair keys for every stored customer, with the code's key function (batched, bounded memory).
    Pair keys already there (0010 fills with the code of its day, which may be this one) go first."""
    from bot.store.keys import customer_pair_keys

    bind = op.get_bind()
    customers = sa.table('customer', sa.column('id'), sa.column('name'))
    name_key = sa.table('customer_name_key', sa.column('key'), sa.column('customer_id'))
    bind.execute(sa.delete(name_key).where(name_key.c.key.like('p:%')))
    last = 0
    while True:
        rows = bind.execute(sa.select(customers.c.id, customers.c.name).where(customers.c.id > last)
                            .order_by(customers.c.id).limit(BATCH)).all()
        if not rows:
            break
        keys = [{"key": k, "customer_id": i} for i, name in rows for k in customer_pair_keys(name)]
        if keys:
            bind.execute(sa.insert(name_key), keys)
        last = rows[-1][0]
    # The mentions that have keys (those of waiting cases): their keys anew, by the code's function.
    from bot.match import mention_keys

    mention = sa.table('mention', sa.column('id'), sa.column('author_email'), sa.column('author_handle'),
                       sa.column('author_name'), sa.column('source_kind'), sa.column('raw', sa.JSON()))
    mention_key = sa.table('mention_key', sa.column('key'), sa.column('mention_id'))
    last = 0
    while True:
        ids = list(bind.scalars(sa.select(mention_key.c.mention_id).where(mention_key.c.mention_id > last)
                                .group_by(mention_key.c.mention_id).order_by(mention_key.c.mention_id).limit(BATCH)))
        if not ids:
            break
        found = bind.execute(sa.select(mention.c.id, mention.c.author_email, mention.c.author_handle,
                                       mention.c.author_name, mention.c.source_kind, mention.c.raw)
                             .where(mention.c.id.in_(ids))).all()
        bind.execute(sa.delete(mention_key).where(mention_key.c.mention_id.in_(ids)))
        keys = [{"key": k, "mention_id": row[0]} for row in found
                for k in mention_keys(row[1], row[2], row[3], row[4], row[5]) or ["-"]]
        if keys:
            bind.execute(sa.insert(mention_key), keys)
        last = ids[-1]


def downgrade() -> None:
    name_key = sa.table('customer_name_key', sa.column('key'))
    op.get_bind().execute(sa.delete(name_key).where(name_key.c.key.like('p:%')))
    op.drop_index('ix_assessment_pending', table_name='assessment')
    op.drop_index('ix_handle_created', table_name='customer_handle')
    op.drop_index('ix_customer_email_lower', table_name='customer')
