"""Change markers for incremental snapshots: what changed at which revision, and tombstones.

NULL markers mean "older than any snapshot", so no backfill is needed: the first start after the
upgrade builds the snapshot in full once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:24:59.254251

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the change markers and the removed_stickers tombstones."""
    op.create_table(
        "removed_stickers",
        sa.Column(
            "sticker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sticker_id"),
    )
    with op.batch_alter_table("removed_stickers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_removed_stickers_revision"), ["revision"], unique=False
        )

    with op.batch_alter_table("library_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("utility_revision", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("rebuild_revision", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("stickers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text_revision", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("meta_revision", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("style_revision", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_stickers_meta_revision"), ["meta_revision"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stickers_style_revision"), ["style_revision"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stickers_text_revision"), ["text_revision"], unique=False
        )


def downgrade() -> None:
    """Drop the change markers and the tombstones."""
    with op.batch_alter_table("stickers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stickers_text_revision"))
        batch_op.drop_index(batch_op.f("ix_stickers_style_revision"))
        batch_op.drop_index(batch_op.f("ix_stickers_meta_revision"))
        batch_op.drop_column("style_revision")
        batch_op.drop_column("meta_revision")
        batch_op.drop_column("text_revision")

    with op.batch_alter_table("library_state", schema=None) as batch_op:
        batch_op.drop_column("rebuild_revision")
        batch_op.drop_column("utility_revision")

    with op.batch_alter_table("removed_stickers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_removed_stickers_revision"))
    op.drop_table("removed_stickers")
