"""The library's style embeddings, and the spaces personalization compares them in.

Spaces: `centred` is each raw vector minus the library mean (what every sticker shares);
`content` also subtracts what other packs' stickers with the same emoji share (the drawing, not
the artist). Rows are computed when asked for, from the raw vectors and a few
group statistics (per (emoji, pack) group and per emoji) that a change updates at the cost of
what changed. So a style batch, a new sticker or a moved one costs its own rows, not the library:
a materialized space moved with the library mean on every change (0.9 s at 100k stickers). New
and changed rows sit in a small delta beside the immutable base, which is rebuilt once the delta
outgrows a share of it.
"""

import copy
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from engine.imaging import unit_rows
from engine.settings import PersonalizationSettings

Matrix = npt.NDArray[np.float32]
Stored = npt.NDArray[np.float16]
# Raw rows are kept in half precision: 1M rows of 256 are 0.5 GB, not 1 GB. Style vectors are
# L2-normalised (engine.understanding.style), far inside its range. Rows are rounded once, on
# entry, and every product and sum over them runs in float32 or float64, so a change and a
# rebuild agree; centred rows move by about 2e-4 (tests/unit/test_style_scores.py).
STORED = np.float16
Ints = npt.NDArray[np.int64]
Label = tuple[str, str]  # (emoji, pack) of a styled sticker
MERGE_MIN = 4096  # delta rows (and dead base rows) tolerated before the base is rebuilt
MERGE_SHARE = 1 / 16  # ... or this share of the base, whichever is more
CHUNK = 65_536  # rows per float64 product when statistics are summed from scratch
PACK_BITS = 32  # a group key is emoji code << PACK_BITS | pack code
PACK_MASK = (1 << PACK_BITS) - 1


def emoji_key(emoji: str) -> str:
    """A sticker's emoji as a content group: variation selectors do not change what is drawn."""
    return emoji.replace("\ufe0f", "").replace("\ufe0e", "")


class _Codes:
    """Append-only codes of emoji and pack labels, shared by every version of a matrix.

    Codes never change meaning, so versions may share one table: an older version never looks
    up a label that only a newer one has seen.
    """

    def __init__(self) -> None:
        self.emoji: dict[str, int] = {"": 0}
        self.packs: dict[str, int] = {}
        self._lock = threading.Lock()

    def key(self, label: Label) -> int:
        """The group key of an (emoji, pack) label."""
        emoji, pack = emoji_key(label[0]), label[1]
        e, p = self.emoji.get(emoji), self.packs.get(pack)
        if e is None or p is None:
            with self._lock:
                e = self.emoji.setdefault(emoji, len(self.emoji))
                p = self.packs.setdefault(pack, len(self.packs))
        return (e << PACK_BITS) | p

    def keys(self, emoji: Sequence[str], packs: Sequence[str]) -> Ints:
        """The group keys of many rows: one normalisation per distinct label, not per row."""
        e_seen: dict[str, int] = {}
        p_seen: dict[str, int] = {}
        out = np.empty(len(emoji), dtype=np.int64)
        for n, (e, p) in enumerate(zip(emoji, packs, strict=True)):
            code = e_seen.get(e)
            if code is None:
                code = e_seen[e] = self.key((e, "")) >> PACK_BITS
            pack = p_seen.get(p)
            if pack is None:
                pack = p_seen[p] = self.key(("", p)) & PACK_MASK
            out[n] = (code << PACK_BITS) | pack
        return out


@dataclass(frozen=True)
class _Base:
    """Immutable rows in id order: raw vectors, their group keys and squared norms."""

    ids: Ints
    raw: Stored
    keys: Ints
    sq: npt.NDArray[np.float64]

    def position(self, sticker_id: int) -> int:
        """The row of an id, or -1."""
        return _find(self.ids, sticker_id)


def _find(ordered: Ints, value: int) -> int:
    """The position of `value` in a sorted array, or -1."""
    n = int(np.searchsorted(ordered, value))
    return n if n < len(ordered) and int(ordered[n]) == value else -1


class _Counts:
    """Rows per group: an array over the base's groups, and a dict for groups new since."""

    def __init__(self, keys: Ints, counts: Ints) -> None:
        self.keys = keys  # sorted, shared by every version of one base
        self.base = counts
        self.extra: dict[int, int] = {}

    def copy(self) -> "_Counts":
        """A copy whose changes leave this one alone."""
        other = copy.copy(self)
        other.base, other.extra = self.base.copy(), dict(self.extra)
        return other

    def slot(self, key: int) -> int:
        """The base position of a group, or -1."""
        return _find(self.keys, key)

    def get(self, key: int) -> int:
        """Rows of a group (0 when it has none)."""
        if key in self.extra:
            return self.extra[key]
        n = self.slot(key)
        return int(self.base[n]) if n >= 0 else 0

    def set(self, key: int, count: int) -> None:
        """Set the rows of a group."""
        n = self.slot(key)
        if n >= 0:
            self.base[n] = count
        else:
            self.extra[key] = count

    def many(self, keys: Ints) -> Ints:
        """Rows of each group of `keys`."""
        at = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        hit = self.keys[at] == keys if len(self.keys) else np.zeros(len(keys), dtype=bool)
        out = np.where(hit, self.base[at] if len(self.keys) else 0, 0).astype(np.int64)
        if self.extra:
            for n, k in enumerate(keys.tolist()):
                if k in self.extra:
                    out[n] = self.extra[k]
        return out


class _Stats:
    """Sums the spaces need: all rows, each group's rows, each emoji's group means.

    Invariant: a group with two or more rows has its sum in `sums`; a group of one row without
    an entry is a base group whose single row is its first base row, unchanged.
    """

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.total = np.zeros(dim, dtype=np.float64)
        self.counts = _Counts(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
        # float32: 86k groups at 1M stickers took 178 MB in float64, against rows kept in
        # float16; each new sum is computed in float64 and rounded once.
        self.sums: dict[int, npt.NDArray[np.float32]] = {}
        self.first = np.zeros(0, dtype=np.int64)  # per base group: its first base row
        self.emoji_sum = np.zeros((1, dim), dtype=np.float64)  # per emoji: sum of group means
        self.emoji_groups = np.zeros(1, dtype=np.int64)  # per emoji: groups with rows

    def copy(self) -> "_Stats":
        """A copy whose changes leave this one alone (`first` and the sums' arrays are shared:
        nothing changes them in place)."""
        other = copy.copy(self)
        other.counts, other.sums = self.counts.copy(), dict(self.sums)
        other.total = self.total.copy()
        other.emoji_sum, other.emoji_groups = self.emoji_sum.copy(), self.emoji_groups.copy()
        return other

    def mean_of(self, key: int, base: _Base) -> npt.NDArray[np.float64]:
        """A group's mean raw vector (the group has rows)."""
        found = self.sums.get(key)
        if found is not None:
            return np.asarray(found, dtype=np.float64) / self.counts.get(key)
        return np.asarray(base.raw[self.first[self.counts.slot(key)]], dtype=np.float64)

    def _grow_emoji(self, code: int) -> None:
        if code >= len(self.emoji_groups):
            extra = code + 1 - len(self.emoji_groups)
            self.emoji_groups = np.concatenate([self.emoji_groups, np.zeros(extra, np.int64)])
            pad = np.zeros((extra, self.emoji_sum.shape[1]), dtype=np.float64)
            self.emoji_sum = np.concatenate([self.emoji_sum, pad])

    def add(self, key: int, vector: npt.NDArray[np.float64], base: _Base) -> None:
        """Count one more row of `key`."""
        e = key >> PACK_BITS
        self._grow_emoji(e)
        c = self.counts.get(key)
        if c == 0:
            self.sums[key] = vector.astype(np.float32)
            self.emoji_groups[e] += 1
            self.emoji_sum[e] += vector
        else:
            old = self.mean_of(key, base)
            self.sums[key] = (old * c + vector).astype(np.float32)
            self.emoji_sum[e] += self.sums[key] / (c + 1) - old
        self.counts.set(key, c + 1)
        self.n += 1
        self.total += vector

    def remove(self, key: int, vector: npt.NDArray[np.float64], base: _Base) -> None:
        """Count one row of `key` fewer."""
        e = key >> PACK_BITS
        c = self.counts.get(key)
        old = self.mean_of(key, base)
        self.counts.set(key, c - 1)
        if c == 1:
            self.sums.pop(key, None)
            self.emoji_groups[e] -= 1
            self.emoji_sum[e] -= old
        else:
            self.sums[key] = (old * c - vector).astype(np.float32)
            self.emoji_sum[e] += self.sums[key] / (c - 1) - old
        self.n -= 1
        self.total -= vector


def stored_rows(vectors: npt.ArrayLike) -> Stored:
    """Vectors as the matrix keeps them (float32 first, so every path rounds alike)."""
    arr = np.asarray(vectors)
    return arr if arr.dtype == STORED else np.asarray(arr, dtype=np.float32).astype(STORED)


def _base(ids: Ints, raw: npt.ArrayLike, keys: Ints) -> _Base:
    rows = stored_rows(raw)
    if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        order = np.argsort(ids, kind="stable")
        ids, rows, keys = ids[order], rows[order], keys[order]
    rows = np.ascontiguousarray(rows)
    sq = np.zeros(rows.shape[0], dtype=np.float64)
    for start in range(0, rows.shape[0], CHUNK):
        part = rows[start : start + CHUNK].astype(np.float64)
        sq[start : start + CHUNK] = np.einsum("ij,ij->i", part, part)
    return _Base(ids, rows, keys, sq)


def _products(rows: Stored, right: Matrix) -> npt.NDArray[np.float64]:
    """rows @ right in float32, a chunk at a time: no float32 copy of a million rows."""
    out = np.zeros((rows.shape[0], right.shape[1]), dtype=np.float64)
    for start in range(0, rows.shape[0], CHUNK):
        out[start : start + CHUNK] = rows[start : start + CHUNK].astype(np.float32) @ right
    return out


def _summed(weights: sp.csr_array, raw: Stored) -> npt.NDArray[np.float64]:
    # float64 sums in chunks: a whole float64 copy of a million rows would be 2 GB.
    out = np.zeros((weights.shape[0], raw.shape[1]), dtype=np.float64)
    for start in range(0, raw.shape[0], CHUNK):
        part = raw[start : start + CHUNK].astype(np.float64)
        out += weights[:, start : start + CHUNK] @ part
    return out


def _stats(base: _Base) -> _Stats:
    """The statistics of a base from scratch, as grouped sums (sparse products)."""
    n, dim = base.raw.shape
    stats = _Stats(dim)
    if n == 0:
        return stats
    keys, first, group, counts = np.unique(
        base.keys, return_index=True, return_inverse=True, return_counts=True
    )
    stats.n = n
    stats.total = base.raw.sum(axis=0, dtype=np.float64)
    stats.counts = _Counts(keys, counts.astype(np.int64))
    stats.first = first.astype(np.int64)
    multi = np.flatnonzero(counts >= 2)
    slot = np.full(len(keys), -1, dtype=np.int64)
    slot[multi] = np.arange(len(multi))
    rows = np.flatnonzero(slot[group] >= 0)
    emoji = base.keys >> PACK_BITS
    size = int(emoji.max()) + 1
    # One pass over the rows for both: the rows of each multi-row group, and per emoji the sum
    # of its group means (its rows, each over its group's size).
    weights = sp.csr_array(
        (
            np.concatenate([np.ones(len(rows)), 1.0 / counts[group]]),
            (np.concatenate([slot[group[rows]], len(multi) + emoji]), np.r_[rows, np.arange(n)]),
        ),
        shape=(len(multi) + size, n),
    )
    sums = _summed(weights, base.raw)
    groups = sums[: len(multi)].astype(np.float32)  # one array: the dict holds views of it
    stats.sums = {int(keys[g]): groups[s] for s, g in enumerate(multi)}
    stats.emoji_sum = sums[len(multi) :]
    stats.emoji_groups = np.bincount(keys >> PACK_BITS, minlength=size).astype(np.int64)
    return stats


class StyleMatrix:
    """Style embeddings of the library by sticker id, and the pack of every sticker.

    `emoji` (one per vector) and the packs label each row for the content space; `packs`
    (sticker id -> pack, vectors or not) also feeds pack affinity. Without `emoji` the content
    space is the centred one. With `centre=False` every space is the raw vectors (for tests and
    measurements of raw features).
    """

    def __init__(
        self,
        ids: Sequence[int],
        vectors: Matrix,
        centre: bool = True,
        emoji: Sequence[str] | None = None,
        packs: Mapping[int, str] | None = None,
    ) -> None:
        self.packs: Mapping[int, str] = packs or {}
        self._centre = centre
        self._labelled = emoji is not None and len(ids) > 0
        self._codes = _Codes()
        id_array = np.asarray(list(ids), dtype=np.int64)
        raw = stored_rows(vectors)
        raw = raw.reshape(len(id_array), -1) if raw.size else raw.reshape(0, raw.shape[-1])
        labels = emoji if emoji is not None else [""] * len(id_array)
        pack_of = [self.packs.get(i, "") for i in id_array.tolist()]
        self._set_base(_base(id_array, raw, self._codes.keys(labels, pack_of)))

    def _set_base(self, base: _Base) -> None:
        self._b = base
        self._stats = _stats(base)
        self._delta: dict[int, tuple[Stored, int]] = {}  # id -> (raw vector, group key)
        self._dead: frozenset[int] = frozenset()  # base ids gone or moved into the delta
        self._fresh()

    def _fresh(self) -> None:
        self._spaces: dict[tuple[str, float], Matrix] = {}
        self._terms: dict[float, tuple[Matrix, Matrix]] = {}
        self._sorted: Ints | None = None
        self._lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._stats.n

    def __contains__(self, sticker_id: object) -> bool:
        if not isinstance(sticker_id, int | np.integer):
            return False
        i = int(sticker_id)
        return i in self._delta or (i not in self._dead and self._b.position(i) >= 0)

    @property
    def dim(self) -> int:
        """Length of a style vector."""
        return int(self._b.raw.shape[1])

    @property
    def ids(self) -> list[int]:
        """Every styled sticker, in id order."""
        ids: list[int] = self._id_array().tolist()
        return ids

    def _id_array(self) -> Ints:
        if self._sorted is None:
            if self._delta or self._dead:
                alive = self._b.ids[self._alive()]
                extra = np.fromiter(self._delta, dtype=np.int64, count=len(self._delta))
                self._sorted = np.sort(np.concatenate([alive, extra]))
            else:
                self._sorted = self._b.ids
        return self._sorted

    def _alive(self) -> npt.NDArray[np.bool_]:
        """Which base rows are neither removed nor moved into the delta."""
        dead = np.fromiter(self._dead, dtype=np.int64, count=len(self._dead))
        return ~np.isin(self._b.ids, dead)

    def _locate(self, ids: Sequence[int]) -> tuple[list[int], list[int]]:
        """The ids that have a row, each with its base row (-1: in the delta)."""
        asked = np.asarray(ids, dtype=np.int64)
        at = np.searchsorted(self._b.ids, asked)
        inside = at < len(self._b.ids)
        hit = np.zeros(len(asked), dtype=bool)
        hit[inside] = self._b.ids[at[inside]] == asked[inside]
        if not (self._delta or self._dead):
            found_ids: list[int] = asked[hit].tolist()
            found_rows: list[int] = at[hit].tolist()
            return found_ids, found_rows
        found: list[int] = []
        rows: list[int] = []
        for i, n, h in zip(asked.tolist(), at.tolist(), hit.tolist(), strict=True):
            if i in self._delta:
                found.append(i)
                rows.append(-1)
            elif h and i not in self._dead:
                found.append(i)
                rows.append(n)
        return found, rows

    @property
    def raw(self) -> Matrix:
        """The stored vectors, rows in the order of `ids`."""
        return self._all_rows()[1].astype(np.float32)

    @property
    def stored(self) -> Stored:
        """The stored vectors as kept (half precision), rows in the order of `ids`."""
        return self._all_rows()[1]

    @property
    def mean(self) -> Matrix:
        """The library mean of the raw vectors (zeros when not centred)."""
        if not self._centring:
            return np.zeros(self.dim, dtype=np.float32)
        return (self._stats.total / self._stats.n).astype(np.float32)

    @property
    def _centring(self) -> bool:
        return self._centre and self._stats.n > 1

    @property
    def vectors(self) -> Matrix:
        """The library-mean-centred unit vectors, in the order of `ids`."""
        return self.space("centred", 0.0)

    def project(self, vector: Matrix) -> Matrix:
        """A raw style vector in the centred space: centred like the library, unit length."""
        return unit_rows(np.asarray(vector, dtype=np.float32) - self.mean)

    def space(self, name: str, prior: float) -> Matrix:
        """Every row of the named space ("centred" or "content"), in the order of `ids`.

        Computed once per space and kept: for evaluations that compare whole spaces; searches
        ask for their candidates' rows only (`rows`).
        """
        key = (name, prior) if name == "content" and self._labelled else ("centred", 0.0)
        with self._lock:
            if key not in self._spaces:
                _, raw, keys = self._all_rows()
                self._spaces[key] = self._computed(raw, keys, *key)
            return self._spaces[key]

    def rows(
        self, ids: Sequence[int], cfg: PersonalizationSettings | None = None
    ) -> tuple[list[int], Matrix]:
        """The ids that have an embedding, and their vectors in the configured space."""
        name, prior = (cfg.style_space, cfg.content_prior) if cfg else ("centred", 0.0)
        key = (name, prior) if name == "content" and self._labelled else ("centred", 0.0)
        found, rows = self._locate(ids)
        kept = self._spaces.get(key)
        if kept is not None:
            return found, kept[np.searchsorted(self._id_array(), found)]
        raw, keys = self._raw_rows(found, rows)
        return found, self._computed(raw, keys, *key)

    def _raw_rows(self, ids: Sequence[int], rows: Sequence[int]) -> tuple[Matrix, Ints]:
        at = np.asarray(rows, dtype=np.int64)
        raw = self._b.raw[np.maximum(at, 0)].astype(np.float32)
        keys = self._b.keys[np.maximum(at, 0)] if len(at) else np.zeros(0, np.int64)
        for n in np.flatnonzero(at < 0).tolist():
            raw[n], keys[n] = self._delta[ids[n]]
        return raw, keys

    def _delta_rows(self) -> tuple[Ints, Stored, Ints]:
        """The delta's ids, raw vectors and group keys."""
        moved = list(self._delta.items())
        ids = np.asarray([i for i, _ in moved], dtype=np.int64)
        raw = np.asarray([r for _, (r, _) in moved], STORED).reshape(-1, self.dim)
        return ids, raw, np.asarray([k for _, (_, k) in moved], dtype=np.int64)

    def _all_rows(self) -> tuple[Ints, Stored, Ints]:
        """Every live row in id order: ids, raw vectors, group keys."""
        if not (self._delta or self._dead):
            return self._b.ids, self._b.raw, self._b.keys
        alive, (extra, added, moved_keys) = self._alive(), self._delta_rows()
        ids = np.concatenate([self._b.ids[alive], extra])
        order = np.argsort(ids, kind="stable")
        raw = np.concatenate([self._b.raw[alive], added])[order]
        return ids[order], raw, np.concatenate([self._b.keys[alive], moved_keys])[order]

    def _computed(self, raw: Matrix | Stored, keys: Ints, name: str, prior: float) -> Matrix:
        if not self._centring:
            return unit_rows(raw)
        x = np.subtract(raw, self.mean, dtype=np.float32)  # one float32 copy, not two
        if name == "content":
            x -= self._others(raw, keys, prior)
        return unit_rows(x)

    def _others(self, raw: Matrix | Stored, keys: Ints, prior: float) -> Matrix:
        """Per row, the mean over the other packs with its emoji of each pack's mean (centred)."""
        stats = self._stats
        emoji = keys >> PACK_BITS
        shared, share = self._emoji_terms(prior)
        own = raw.astype(np.float32)  # a lone sticker of its pack is its pack's mean
        counts = stats.counts.many(keys)
        grouped = np.flatnonzero(counts > 1)
        if len(grouped):
            sums = np.stack([stats.sums[k] for k in keys[grouped].tolist()])
            own[grouped] = sums / counts[grouped, None]
        return np.asarray(shared[emoji] - own * share[emoji, None])

    def _emoji_terms(self, prior: float) -> tuple[Matrix, Matrix]:
        """Per emoji, the part of its rows' content means that all its packs share, and 1/divisor.

        A row's is (sum of its emoji's pack means - own pack's mean - (packs - 1) x library
        mean) / (packs - 1 + prior); everything but the own pack's mean is per emoji, computed
        once per version of the matrix (emoji are far fewer than stickers).
        """
        terms = self._terms.get(prior)
        if terms is None:
            stats = self._stats
            codes = np.arange(len(stats.emoji_groups))
            packs = stats.emoji_groups
            valid = (packs >= 2) & (codes != 0)
            share = np.where(valid, 1.0 / np.where(valid, packs - 1 + prior, 1.0), 0.0)
            mean = stats.total / stats.n
            shared = (stats.emoji_sum - (packs - 1)[:, None] * mean) * share[:, None]
            terms = (shared.astype(np.float32), share.astype(np.float32))
            self._terms[prior] = terms
        return terms

    def similarities(self, vector: Matrix) -> tuple[Ints, npt.NDArray[np.float64]]:
        """Every styled sticker and its cosine to a centred unit vector, in the centred space."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        both = np.stack([v, self.mean]).T
        # The base's products first, then its live rows: no copy of a million raw rows.
        ids, dots, sq = self._b.ids, _products(self._b.raw, both), self._b.sq
        if self._delta or self._dead:
            alive, (extra, moved, _) = self._alive(), self._delta_rows()
            ids = np.concatenate([ids[alive], extra])
            dots = np.concatenate([dots[alive], _products(moved, both)])
            wide = moved.astype(np.float64)
            sq = np.concatenate([sq[alive], np.einsum("ij,ij->i", wide, wide)])
            order = np.argsort(ids, kind="stable")
            ids, dots, sq = ids[order], dots[order], sq[order]
        mean64 = self.mean.astype(np.float64)
        # |raw - mean|^2 = |raw|^2 - 2 raw.mean + |mean|^2: no centred copy of the rows.
        norms = np.sqrt(np.maximum(sq - 2 * dots[:, 1] + mean64 @ mean64, 0.0))
        centred = dots[:, 0] - float(v.astype(np.float64) @ mean64)
        return ids, centred / np.maximum(norms, 1e-12)

    # --- changing --------------------------------------------------------------------------

    def with_packs(self, packs: Mapping[int, str]) -> "StyleMatrix":
        """The same vectors and spaces, with another pack lookup (the same packs for its rows)."""
        other = copy.copy(self)
        other.packs = packs
        other._spaces = dict(self._spaces)
        other._lock = threading.Lock()
        return other

    def changed(
        self,
        vectors: Mapping[int, Matrix],
        removed: Collection[int],
        labels: Mapping[int, Label],
        packs: Mapping[int, str],
    ) -> "StyleMatrix":
        """These embeddings with `vectors` set, `removed` dropped and rows moved to `labels`.

        `labels` gives the (emoji, pack) of each id in `vectors` and of every styled sticker
        whose emoji or pack changed; `packs` is the library's pack lookup as it is now.
        """
        other = copy.copy(self)
        other.packs = packs
        other._labelled = self._labelled or bool(vectors)
        other._fresh()
        if not len(self._b.ids):  # nothing to keep, and maybe no vector length yet
            other._rebuilt(dict(self._delta), vectors, removed, labels)
            return other
        other._stats = self._stats.copy()
        other._delta = dict(self._delta)
        dead = set(self._dead)
        for i in sorted({*vectors, *removed, *labels}):
            other._move(i, vectors.get(i), i in removed, labels.get(i), dead)
        other._dead = frozenset(dead)
        if len(other._delta) + len(dead) > max(MERGE_MIN, MERGE_SHARE * len(self._b.ids)):
            other._set_base(_base(*other._all_rows()))
        return other

    def _rebuilt(
        self,
        rows: dict[int, tuple[Stored, int]],
        vectors: Mapping[int, Matrix],
        removed: Collection[int],
        labels: Mapping[int, Label],
    ) -> None:
        for i, v in vectors.items():
            label = labels.get(i)
            key = self._codes.key(label) if label else rows.get(i, (v, 0))[1]
            rows[i] = (stored_rows(v), key)
        for i in removed:
            rows.pop(i, None)
        ids = sorted(rows)
        dim = len(rows[ids[0]][0]) if ids else self.dim
        raw = np.asarray([rows[i][0] for i in ids], STORED).reshape(len(ids), dim)
        keys = np.asarray([rows[i][1] for i in ids], dtype=np.int64)
        self._set_base(_base(np.asarray(ids, dtype=np.int64), raw, keys))

    def _move(
        self, i: int, vector: Matrix | None, gone: bool, label: Label | None, dead: set[int]
    ) -> None:
        old: tuple[Stored, int] | None = None
        if i in self._delta:
            old = self._delta.pop(i)
        elif i not in dead and (at := self._b.position(i)) >= 0:
            old = (self._b.raw[at], int(self._b.keys[at]))
            dead.add(i)
        if old is not None:
            self._stats.remove(old[1], old[0].astype(np.float64), self._b)
        if gone:
            return
        if vector is not None:
            raw = stored_rows(vector)
        elif old is not None:
            raw = old[0]
        else:
            return  # a label for a sticker without a style vector
        key = self._codes.key(label or ("", "")) if label or not old else old[1]
        self._delta[i] = (raw, key)
        self._stats.add(key, raw.astype(np.float64), self._b)
