"""Alembic environment: run on the connection handed over by openidds.db.engine.migrate()."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from openidds.db.models import Base

config = context.config
target_metadata = Base.metadata

connection = config.attributes.get("connection")
if connection is not None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:  # `alembic` from the command line with sqlalchemy.url set
    connectable = engine_from_config(config.get_section(config.config_ini_section) or {}, poolclass=pool.NullPool)
    with connectable.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
