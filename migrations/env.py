"""Alembic environment: the target metadata is the backend's ORM models.

The dependency points one way only: the migrations import `backend`, and `backend.db` finds this folder by its
path without importing it.
"""

from alembic import context

from backend.db import compared_in_schema, make_engine
from backend.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        _migrate(engine)
    finally:
        engine.dispose()


def _migrate(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            include_object=compared_in_schema(connection.dialect.name),
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
