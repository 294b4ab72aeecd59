"""Crowd signals from interactions: utility metrics (PerSRV 2.4) and learned history queries."""

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from engine.changes import Change, record
from engine.schema import Annotation, Interaction, Utility, utcnow
from engine.settings import CrowdSettings
from engine.storage import Database
from engine.text import normalize
from engine.types import StickerUtility

HISTORY_SOURCE = "history"


@dataclass(frozen=True)
class StickerCrowd:
    """Aggregated choices of one sticker."""

    clicks: int
    unique_users: int
    queries: dict[str, int]  # normalised query -> distinct users who chose the sticker for it

    def versatility(self, min_users: int) -> int:
        """Distinct queries the sticker was chosen for by enough users."""
        return sum(1 for n in self.queries.values() if n >= min_users)


def aggregate(db: Database) -> dict[int, StickerCrowd]:
    """Per sticker: chosen count, distinct users, and users per (normalised) query."""
    clicks: dict[int, int] = defaultdict(int)
    users: dict[int, set[str]] = defaultdict(set)
    query_users: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    with db.session() as s:
        rows = s.execute(
            select(Interaction.sticker_id, Interaction.user_key, Interaction.query).where(
                Interaction.kind == "chosen"
            )
        )
        for sticker_id, user, query in rows:
            clicks[sticker_id] += 1
            users[sticker_id].add(user)
            text = normalize(query or "")
            if text:
                query_users[sticker_id][text].add(user)
    return {
        i: StickerCrowd(clicks[i], len(users[i]), {q: len(u) for q, u in query_users[i].items()})
        for i in clicks
    }


def recompute_utility(db: Database, crowd: dict[int, StickerCrowd], cfg: CrowdSettings) -> int:
    """Replace the utility table; return how many stickers have utility."""
    with db.session() as s:
        s.execute(delete(Utility))
        for sticker_id, c in crowd.items():
            s.add(
                Utility(
                    sticker_id=sticker_id,
                    clicks=c.clicks,
                    unique_users=c.unique_users,
                    versatility=c.versatility(cfg.min_users),
                    updated_at=utcnow(),
                )
            )
        record(s, Change(utility=True))  # priors only: no text index is rebuilt
    return len(crowd)


def recompute_history_queries(
    db: Database, crowd: dict[int, StickerCrowd], cfg: CrowdSettings
) -> int:
    """Store each sticker's learned queries as its `history_queries` field; return the count."""
    learned = {
        i: sorted(
            (q for q, n in c.queries.items() if n >= cfg.min_users), key=lambda q: -c.queries[q]
        )
        for i, c in crowd.items()
    }
    learned = {i: qs[: cfg.max_history_queries] for i, qs in learned.items() if qs}
    with db.session() as s:
        before = _stored_history(s)
        s.execute(delete(Annotation).where(Annotation.source == HISTORY_SOURCE))
        for sticker_id, queries in learned.items():
            s.add(
                Annotation(
                    sticker_id=sticker_id,
                    source=HISTORY_SOURCE,
                    model="crowd",
                    version=f"min_users={cfg.min_users}",
                    fields={"history_queries": queries},
                )
            )
        changed = {i for i in before.keys() | learned.keys() if before.get(i) != learned.get(i)}
        record(s, Change(text=changed))
    return len(learned)


def _stored_history(s: Session) -> dict[int, list[str]]:
    rows = select(Annotation.sticker_id, Annotation.fields).where(
        Annotation.source == HISTORY_SOURCE
    )
    return {int(i): list((f or {}).get("history_queries", [])) for i, f in s.execute(rows)}


def utility_value(row: Utility, cfg: CrowdSettings) -> float:
    """The prior added to a sticker's recall score: weight * sqrt(scale * metric)."""
    metric = {
        "versatility": row.versatility,
        "clicks": row.clicks,
        "unique_users": row.unique_users,
    }
    return cfg.utility_weight * math.sqrt(cfg.utility_scale * metric[cfg.utility_metric])


def load_utility(db: Database) -> dict[int, StickerUtility]:
    """Crowd metrics of every sticker that has any."""
    with db.session() as s:
        return {
            u.sticker_id: StickerUtility(u.clicks, u.unique_users, u.versatility)
            for u in s.scalars(select(Utility))
        }


def load_priors(db: Database, cfg: CrowdSettings) -> dict[int, float]:
    """Utility prior per sticker with any utility."""
    with db.session() as s:
        return {u.sticker_id: utility_value(u, cfg) for u in s.scalars(select(Utility))}
