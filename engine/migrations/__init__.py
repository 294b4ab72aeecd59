"""Alembic migrations of the library database: env.py, the frozen baseline and versions/."""
