"""Segmented BM25 scores exactly as bm25s did, and an updated corpus as one built afresh."""

import random
from collections import Counter

import bm25s
import numpy as np
import pytest

from engine.corpus import Corpus
from engine.documents import SHARED_FIELDS, StickerDocument, build_document
from engine.lexicon import Lexicon
from engine.recall import FieldBM25, index_keys
from engine.settings import SearchSettings
from engine.text import phrase_token, phrase_tokens, tokenize

EMOJI = ["😀", "😂", "😢", "😡", "🐱", "🐶", "❤️", "👍", "🎉", "☕"]
WORDS = ["happy", "sad", "cat", "dog", "love", "angry", "wow", "hello", "bye", "ok", "yes"]
QUERIES = ["cat", "happy dog", "smiling face", "😀", "love", "hap", "partyy", "wo", "gri", "cofe"]
CFG = SearchSettings()


def documents(n: int, seed: int = 0, start: int = 1) -> list[StickerDocument]:
    rng = random.Random(seed)
    lexicon = Lexicon(CFG.locales)
    docs = []
    for i in range(n):
        ocr = [{"ocr": " ".join(rng.choices(WORDS, k=rng.randint(0, 4)))}]
        name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}.png"
        title = rng.choice(["Cats", "Dogs", ""])
        emoji = rng.choice(EMOJI)
        docs.append(build_document(start + 3 * i, emoji, title, ocr, lexicon, file_name=name))
    return docs


def bm25s_scores(docs: list[StickerDocument], text: str) -> dict[int, float]:
    """Exact-token scores as recall computed them on bm25s indexes, one per field."""
    total = np.zeros(len(docs))
    exact = Counter(tokenize(text))
    exact[phrase_token(text)] += 1
    for (name, phrase), weight in index_keys(CFG.field_weights, CFG.phrase_weight):
        split = phrase_tokens if phrase else tokenize
        corpus = [split(d.fields.get(name, "")) for d in docs]
        if not any(corpus):
            continue
        index = bm25s.BM25()
        index.index(corpus, show_progress=False)
        indptr, rows, data = (index.scores[k] for k in ("indptr", "indices", "data"))
        for term, n in exact.items():
            col = index.vocab_dict.get(term)
            if col is not None and col < len(indptr) - 1:
                lo, hi = indptr[col], indptr[col + 1]
                total[rows[lo:hi]] += (weight * n) * data[lo:hi]
    return dict(zip((d.sticker_id for d in docs), total.tolist(), strict=True))


def test_scores_equal_bm25s_to_the_bit() -> None:
    docs = documents(400)
    bm25 = FieldBM25(docs, CFG.field_weights, CFG.phrase_weight)
    for text in ["cat", "happy dog", "smiling face", "😀", "love"]:
        mine = dict(zip(bm25.ids.tolist(), bm25.scores(text).tolist(), strict=True))
        assert mine == bm25s_scores(docs, text), text


def _final(changes: list[tuple[list[StickerDocument], list[int]]]) -> list[StickerDocument]:
    live: dict[int, StickerDocument] = {}
    for docs, removed in changes:
        live.update((d.sticker_id, d) for d in docs)
        for i in removed:
            live.pop(i, None)
    return list(live.values())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_updated_corpus_ranks_as_one_built_afresh(seed: int) -> None:
    rng = random.Random(seed)
    base = documents(300, seed)
    changes: list[tuple[list[StickerDocument], list[int]]] = [(base, [])]
    bm25 = FieldBM25(base, CFG.field_weights, CFG.phrase_weight, CFG.typing)
    for step in range(6):
        live = [d.sticker_id for d in _final(changes)]
        added = documents(rng.randint(0, 40), seed * 10 + step, start=10_000 + 1000 * step)
        edited = [
            StickerDocument(i, {"ocr": " ".join(rng.choices(WORDS, k=3)), "emoji": "🐱"})
            for i in rng.sample(live, 20)
        ]
        removed = rng.sample(live, 5)
        changes.append((added + edited, removed))
        bm25 = bm25.changed(added + edited, removed)
    fresh = FieldBM25(_final(changes), CFG.field_weights, CFG.phrase_weight, CFG.typing)
    for variant in (bm25, bm25.merged(deltas_only=True), bm25.merged()):
        for text in QUERIES:
            assert variant.top(text, 500) == fresh.top(text, 500), text


def test_merging_leaves_one_segment_without_tombstones() -> None:
    bm25 = FieldBM25(documents(50), CFG.field_weights, CFG.phrase_weight, CFG.typing)
    bm25 = bm25.changed(documents(10, 1, start=500), [1, 4])
    assert len(bm25.corpus.layers) == 2 and bm25.corpus.delta_size == 10
    merged = bm25.merged()
    assert len(merged.corpus.layers) == 1 and merged.corpus.size == 58
    assert 1 not in merged.ids.tolist() and len(merged.ids) == 58


def test_removed_words_leave_the_typing_vocabulary() -> None:
    docs = [StickerDocument(1, {"ocr": "zebra"}), StickerDocument(2, {"ocr": "cat"})]
    bm25 = FieldBM25(docs, {"ocr": 1.0}, 1.0, CFG.typing)
    assert bm25.top("zeb", 5) and not bm25.changed([], [1]).top("zeb", 5)
    renamed = bm25.changed([StickerDocument(3, {"ocr": "zeppelin"})], [1])
    assert [i for i, _ in renamed.top("zep", 5)] == [3]


@pytest.mark.parametrize("k", [1, 7, 50, 399, 10_000])
def test_the_top_k_are_the_head_of_the_full_ranking_ties_by_id(k: int) -> None:
    docs = documents(400)  # ten emoji and eleven words: many documents tie
    bm25 = FieldBM25(docs, CFG.field_weights, CFG.phrase_weight, CFG.typing)
    for text in QUERIES:
        scores = bm25.scores(text)
        ranked = sorted(
            ((int(i), float(s)) for i, s in zip(bm25.ids, scores, strict=True) if s > 0),
            key=lambda pair: (-pair[1], pair[0]),
        )
        assert bm25.top(text, k) == ranked[:k], text
        assert bm25.top(text, k) == bm25.top(text, k)  # the second from the term cache


def test_the_term_cache_keeps_to_its_byte_budget() -> None:
    from engine.corpus import TermScoreCache

    cache = TermScoreCache(budget=10_000)
    rows, values = np.arange(500, dtype=np.int64), np.ones(500, dtype=np.float32)
    for n in range(10):
        cache.put((0, f"t{n}"), (rows, values))
    assert cache.get((0, "t0")) is None and cache.get((0, "t9")) is not None
    assert cache._bytes <= 10_000


def _document_frequencies(docs: list[StickerDocument], key: tuple[str, bool]) -> Counter[str]:
    split = phrase_tokens if key[1] else tokenize
    return Counter(t for d in docs for t in set(split(d.fields.get(key[0], ""))))


@pytest.mark.parametrize("merged", [False, True])
def test_shared_fields_hold_one_row_per_distinct_text_and_count_every_sticker(
    merged: bool,
) -> None:
    docs = documents(400)  # ten emoji, three pack titles
    keys = [k for k, _ in index_keys(CFG.field_weights, CFG.phrase_weight)]
    corpus = Corpus.build(docs, keys)
    if merged:  # a delta, a removal, and everything folded into one segment again
        corpus = corpus.changed(documents(30, 5, start=5000), [docs[0].sticker_id]).merged()
        docs = [*docs[1:], *documents(30, 5, start=5000)]
    ordered = sorted(docs, key=lambda d: d.sticker_id)
    some = np.arange(0, len(ordered), 7)
    for key, postings in zip(keys, corpus.layers[0].segment.postings, strict=True):
        texts = {d.fields.get(key[0], "") for d in docs}
        if key[0] in SHARED_FIELDS:
            assert postings.matrix.shape[0] == len(texts) <= 10, key
        else:
            assert postings.shapes is None and postings.matrix.shape[0] == len(docs)
        everywhere = _document_frequencies(docs, key)
        # A merge drops terms whose postings all died; a build has no such terms.
        assert postings.counts() == {t: everywhere[t] for t in postings.names}
        assert set(postings.names) == set(everywhere), key
        picked = [ordered[i] for i in some.tolist()]
        want = {t: n for t, n in _document_frequencies(picked, key).items() if n}
        assert postings.row_frequencies(some) == want, key
