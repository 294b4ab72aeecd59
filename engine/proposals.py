"""Packs proposed by users, waiting for an admin's approval."""

from sqlalchemy import delete, select

from engine.errors import InvalidInputError
from engine.library import PACK_SOURCES, validate_pack_name, validate_user
from engine.schema import PackProposal
from engine.storage import Database
from engine.types import ProposalInfo


def propose_pack(db: Database, source: str, name: str, user: str) -> bool:
    """Record a proposal; False when the same pack is already waiting."""
    if source not in PACK_SOURCES:
        raise InvalidInputError(f"unknown pack source {source!r}")
    name = validate_pack_name(name)
    with db.session() as s:
        query = select(PackProposal.id).where(
            PackProposal.source == source, PackProposal.name == name
        )
        if s.scalar(query) is not None:
            return False
        s.add(PackProposal(source=source, name=name, proposed_by=validate_user(user)))
        return True


def pending_proposals(db: Database) -> list[ProposalInfo]:
    """Waiting proposals, oldest first."""
    with db.session() as s:
        rows = s.scalars(select(PackProposal).order_by(PackProposal.id))
        return [
            ProposalInfo(p.source, p.name, p.proposed_by, p.proposed_at.isoformat("T", "seconds"))
            for p in rows
        ]


def resolve_proposal(db: Database, source: str, name: str) -> bool:
    """Delete a proposal once handled; True if one was waiting."""
    with db.session() as s:
        result = s.execute(
            delete(PackProposal).where(PackProposal.source == source, PackProposal.name == name)
        )
        return bool(getattr(result, "rowcount", 0))
