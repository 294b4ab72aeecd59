"""Rankings kept for paging: the first pages rank a shallow dense recall, later pages a deep one.

Asking the vector index for two pages of neighbours instead of five saved 1.1-1.4 ms of a
17 ms search at 100k stickers (per-stage timers on the bench's library), and most searches
never reach a third page. A page that reaches past the shallow recall ranks again with the
whole dense pool; the candidates before it keep their places, so paging neither repeats nor
skips a sticker.
"""

from dataclasses import dataclass

from engine.recall import Candidate

DENSE_WIDENING = 4  # dense recall widens for hidden stickers up to this many pools
SHALLOW_PAGES = 2  # pages of dense neighbours a first search asks the vector index for
DEEP = 1 << 62  # a page end past any shallow recall


@dataclass(frozen=True, slots=True)
class Ranking:
    """Ranked candidates; `depth` > 0 when dense recall stopped at that many neighbours."""

    candidates: list[Candidate]
    depth: int = 0  # 0: nothing more to recall

    def too_shallow_for(self, end: int) -> bool:
        """Whether a page ending at `end` needs more than this ranking recalled.

        True past the recalled neighbours, and at the end of the list: the page must know
        whether another one follows.
        """
        return self.depth > 0 and (end > self.depth or end >= len(self.candidates))


def deepened(shallow: Ranking, deep: Ranking, kept: int) -> Ranking:
    """`deep`'s order after the first `kept` candidates of `shallow`, which stay where they are."""
    first = shallow.candidates[:kept]
    seen = {c.sticker_id for c in first}
    return Ranking(first + [c for c in deep.candidates if c.sticker_id not in seen])


def dense_pool(pool: int, base: int) -> int:
    """The most neighbours dense recall asks for, out of a pool widened for hidden stickers."""
    # Widened like BM25's pool, but at most DENSE_WIDENING pools: a k of the whole library
    # cost 5x a search (scripts/bench_discord.py). BM25 scores every sticker anyway, so
    # lexical recall keeps the whole widening.
    return min(pool, DENSE_WIDENING * base)


def dense_k(pool: int, base: int, page_size: int, end: int) -> tuple[int, int]:
    """Neighbours to ask for when a page ends at `end`, and the most there could be."""
    most = dense_pool(pool, base)
    shallow = min(most, pool - base + SHALLOW_PAGES * page_size)
    return (most if end > shallow else shallow), most
