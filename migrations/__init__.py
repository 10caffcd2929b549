"""Alembic migrations (linear history); run them with `xclab db upgrade`."""
