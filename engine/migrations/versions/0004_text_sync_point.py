"""The revision up to which every document's vector is known current, kept across restarts.

NULL means "never recorded": the next refresh checks every document once, as before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 22:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add library_state.text_synced_revision."""
    with op.batch_alter_table("library_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_synced_revision", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop library_state.text_synced_revision."""
    with op.batch_alter_table("library_state", schema=None) as batch_op:
        batch_op.drop_column("text_synced_revision")
