"""The peer baseline: tag search in PostgreSQL with pg_trgm, as the best-known open sticker bots do.

A table of distinct tags with a GIN trigram index, a sticker-tag table, packs (sets) with name
and title, and each sticker's OCR text. A query's words score a sticker +1 per exact tag match,
+0.75 when its set's name or title contains one of them, +0.4 when its OCR text does; only when
that finds fewer than a page (50) does a trigram fallback add stickers with a tag of similarity
>= 0.3 to a query word. The tags are the same CLDR keywords our documents get (the words of
every keyword in every search locale), so both systems see the same corpus.
"""

from collections.abc import Sequence
from typing import Any

from engine.benchmark.corpus import Corpus
from engine.lexicon import Lexicon
from engine.text import normalize

PAGE = 50
SIMILARITY = 0.3
SCHEMA = """
DROP TABLE IF EXISTS peer_sticker_tag, peer_tag, peer_sticker, peer_set;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE TABLE peer_set (id integer PRIMARY KEY, name text NOT NULL, title text NOT NULL);
CREATE TABLE peer_sticker (id integer PRIMARY KEY, set_id integer NOT NULL, ocr text NOT NULL);
CREATE TABLE peer_tag (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE peer_sticker_tag (tag_id integer NOT NULL, sticker_id integer NOT NULL);
"""
INDEXES = """
CREATE INDEX peer_tag_trgm ON peer_tag USING gin (name gin_trgm_ops);
CREATE INDEX peer_set_title_trgm ON peer_set USING gin (title gin_trgm_ops);
CREATE INDEX peer_set_name_trgm ON peer_set USING gin (name gin_trgm_ops);
CREATE INDEX peer_sticker_ocr_trgm ON peer_sticker USING gin (ocr gin_trgm_ops);
CREATE INDEX peer_sticker_set ON peer_sticker (set_id);
CREATE INDEX peer_sticker_tag_tag ON peer_sticker_tag (tag_id, sticker_id);
ANALYZE;
"""


def conninfo(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (`postgresql+psycopg://` -> `postgresql://`)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+')[0]}://{rest}"


def tag_words(keywords: Sequence[str]) -> list[str]:
    """The tags a sticker gets: every word of its keywords, lower-cased, each once."""
    return list(dict.fromkeys(w for k in keywords for w in normalize(k).split()))


def _like(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class PeerIndex:
    """The peer's tables in one PostgreSQL database."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn: Any = psycopg.connect(conninfo(url), autocommit=True)
        self._conn.execute(f"SET pg_trgm.similarity_threshold = {SIMILARITY}")

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def load(self, corpus: Corpus) -> int:
        """Replace the tables with the corpus; return how many sticker-tag rows there are."""
        lexicon = Lexicon(corpus.locales)
        tags: dict[str, int] = {}
        per_emoji = {
            e: [tags.setdefault(w, len(tags) + 1) for w in tag_words(lexicon.keywords(e))]
            for e in corpus.by_emoji
        }
        rows = 0
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.execute(SCHEMA)
            self._copy(
                cur, "peer_set (id, name, title)", ((p.id, p.name, p.title) for p in corpus.packs)
            )
            stickers = ((st.id, st.pack, st.ocr) for st in corpus.stickers)
            self._copy(cur, "peer_sticker (id, set_id, ocr)", stickers)
            self._copy(cur, "peer_tag (id, name)", ((i, w) for w, i in tags.items()))
            with cur.copy("COPY peer_sticker_tag (tag_id, sticker_id) FROM STDIN") as copy:
                for st in corpus.stickers:
                    for tag in per_emoji[st.emoji]:
                        copy.write_row((tag, st.id))
                        rows += 1
            cur.execute(INDEXES)
        return rows

    @staticmethod
    def _copy(cur: Any, target: str, rows: Any) -> None:
        with cur.copy(f"COPY {target} FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def search(self, query: str, limit: int = PAGE) -> list[int]:
        """Sticker ids, best first: scored matches, then the trigram fallback if too few."""
        words = normalize(query).split()
        if not words:
            return []
        found = self._scored(words, limit)
        if len(found) < limit:
            seen = set(found)
            found += [i for i in self._similar(words, limit) if i not in seen][: limit - len(found)]
        return found

    def _scored(self, words: list[str], limit: int) -> list[int]:
        likes = [_like(w) for w in words]
        title = " OR ".join(["p.title ILIKE %s OR p.name ILIKE %s"] * len(words))
        ocr = " OR ".join(["s.ocr ILIKE %s"] * len(words))
        sql = f"""
            SELECT sticker_id FROM (
                SELECT st.sticker_id, 1.0 AS score FROM peer_tag t
                    JOIN peer_sticker_tag st ON st.tag_id = t.id WHERE t.name = ANY(%s)
                UNION ALL
                SELECT s.id, 0.75 FROM peer_set p JOIN peer_sticker s ON s.set_id = p.id
                    WHERE {title}
                UNION ALL
                SELECT s.id, 0.4 FROM peer_sticker s WHERE {ocr}
            ) hits GROUP BY sticker_id ORDER BY sum(score) DESC, sticker_id LIMIT %s
        """
        params = [words, *[x for w in likes for x in (w, w)], *likes, limit]
        return [int(r[0]) for r in self._conn.execute(sql, params)]

    def _similar(self, words: list[str], limit: int) -> list[int]:
        near = " OR ".join(["t.name %% %s"] * len(words))
        best = ", ".join(["similarity(t.name, %s)"] * len(words))
        best = f"GREATEST({best})" if len(words) > 1 else best
        sql = f"""
            SELECT st.sticker_id FROM peer_tag t JOIN peer_sticker_tag st ON st.tag_id = t.id
            WHERE {near} GROUP BY st.sticker_id ORDER BY max({best}) DESC, st.sticker_id
            LIMIT %s
        """
        return [int(r[0]) for r in self._conn.execute(sql, [*words, *words, limit])]
