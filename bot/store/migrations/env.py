"""Alembic environment: runs on the connection (or engine) the store hands over, never a URL from a file."""

from __future__ import annotations

from alembic import context

from bot.store import Base

given = context.config.attributes.get("connection")
if given is not None:
    # bot.store.migrate: a connection already in its transaction, holding the migration lock;
    # the caller commits.
    context.configure(
        connection=given,
        target_metadata=Base.metadata,
        render_as_batch=given.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = context.config.attributes["engine"]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
