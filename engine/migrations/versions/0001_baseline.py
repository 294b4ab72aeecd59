"""Baseline: the schema that `create_all` made before the library had migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-03

"""

from collections.abc import Sequence

from alembic import op

from engine.migrations.baseline import baseline_metadata

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the baseline tables."""
    baseline_metadata().create_all(op.get_bind())


def downgrade() -> None:
    """Drop them."""
    baseline_metadata().drop_all(op.get_bind())
