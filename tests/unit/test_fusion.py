"""Field-weighted BM25 and the fusion of lexical and dense candidate lists."""

import random

import pytest

from engine.documents import StickerDocument
from engine.recall import PHRASE_FIELDS, Candidate, FieldBM25, fuse_rrf, fuse_weighted


def ids(candidates: list[Candidate]) -> list[int]:
    return [c.sticker_id for c in candidates]


def scores(candidates: list[Candidate]) -> dict[int, float]:
    return {c.sticker_id: c.score for c in candidates}


def _fused_by_definition(
    lexical: list[tuple[int, float]], dense: list[tuple[int, float]], weight: float
) -> list[tuple[int, float]]:
    """The weighted fusion written out per id, as it was before it was vectorised."""
    top = max((s for _, s in lexical), default=0.0)
    lex = {i: s / top for i, s in lexical} if top > 0 else {}
    den: dict[int, float] = {}
    if dense:
        low, high = min(s for _, s in dense), max(s for _, s in dense)
        span = high - low
        den = {i: 1.0 if span <= 1e-12 else (s - low) / span for i, s in dense}
    weight = 1.0 if not lex else 0.0 if not den else weight
    fused = {i: (1 - weight) * lex.get(i, 0.0) + weight * den.get(i, 0.0) for i in lex | den}
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


@pytest.mark.parametrize("seed", range(40))
def test_weighted_fusion_equals_its_definition_exactly(seed: int) -> None:
    rng = random.Random(seed)
    ids_ = rng.sample(range(60), 40)  # the two lists overlap on some ids
    lexical = [(i, rng.choice([0.0, 1.0, rng.uniform(0, 9)])) for i in ids_[: rng.randint(0, 25)]]
    dense = [(i, rng.choice([0.8, rng.uniform(0.7, 0.9)])) for i in ids_[rng.randint(10, 40) :]]
    weight = rng.choice([0.0, 0.1, 0.5])
    got = [(c.sticker_id, c.score) for c in fuse_weighted(lexical, dense, weight)]
    assert got == _fused_by_definition(lexical, dense, weight)  # same floats, same order


class TestFuseWeighted:
    def test_lexical_scores_are_divided_by_the_best(self) -> None:
        fused = fuse_weighted([(1, 10.0), (2, 6.0), (3, 2.0)], [], dense_weight=0.3)
        # An empty dense list forces the dense weight to 0: scores are lexical / best lexical.
        assert ids(fused) == [1, 2, 3]
        assert scores(fused) == pytest.approx({1: 1.0, 2: 0.6, 3: 0.2})

    def test_weakest_lexical_match_stays_above_dense_only_tail(self) -> None:
        # Min-max would give sticker 8 a lexical 0 and rank it below sticker 4 by id.
        lexical = [(7, 4.0), (8, 1.0)]
        dense = [(3, 0.9), (4, 0.1)]
        fused = fuse_weighted(lexical, dense, dense_weight=0.3)
        assert scores(fused) == pytest.approx({7: 0.7, 3: 0.3, 8: 0.175, 4: 0.0})
        assert ids(fused) == [7, 3, 8, 4]

    def test_non_positive_lexical_scores_are_ignored(self) -> None:
        fused = fuse_weighted([(1, 0.0), (2, 0.0)], [(3, 0.9), (4, 0.1)], dense_weight=0.0)
        # No usable lexical score: the dense list decides alone.
        assert scores(fused) == pytest.approx({3: 1.0, 4: 0.0})

    def test_empty_lexical_uses_dense_only(self) -> None:
        fused = fuse_weighted([], [(7, 0.9), (8, 0.5), (9, 0.1)], dense_weight=0.0)
        assert ids(fused) == [7, 8, 9]
        assert scores(fused) == pytest.approx({7: 1.0, 8: 0.5, 9: 0.0})

    def test_both_empty(self) -> None:
        assert fuse_weighted([], [], dense_weight=0.5) == []

    def test_equal_scores_normalise_to_one(self) -> None:
        fused = fuse_weighted([(1, 3.0), (2, 3.0)], [], dense_weight=0.5)
        assert scores(fused) == pytest.approx({1: 1.0, 2: 1.0})

    def test_weight_zero_follows_lexical(self) -> None:
        lexical = [(1, 5.0), (2, 1.0)]
        dense = [(2, 0.9), (3, 0.8), (1, 0.1)]
        fused = fuse_weighted(lexical, dense, dense_weight=0.0)
        assert ids(fused) == [1, 2, 3]
        assert scores(fused) == pytest.approx({1: 1.0, 2: 0.2, 3: 0.0})

    def test_weight_one_follows_dense(self) -> None:
        lexical = [(1, 5.0), (2, 1.0)]
        dense = [(2, 0.9), (3, 0.5), (1, 0.1)]
        fused = fuse_weighted(lexical, dense, dense_weight=1.0)
        assert ids(fused) == [2, 3, 1]
        assert scores(fused) == pytest.approx({2: 1.0, 3: 0.5, 1: 0.0})

    def test_weighted_sum(self) -> None:
        lexical = [(1, 4.0), (2, 2.0), (3, 0.0)]
        dense = [(3, 0.9), (2, 0.5), (4, 0.1)]
        fused = fuse_weighted(lexical, dense, dense_weight=0.25)
        expected = {
            1: 0.75 * 1.0,
            2: 0.75 * 0.5 + 0.25 * 0.5,
            3: 0.75 * 0.0 + 0.25 * 1.0,
            4: 0.0,
        }
        assert scores(fused) == pytest.approx(expected)
        assert ids(fused) == [1, 2, 3, 4]

    def test_ties_break_on_id(self) -> None:
        fused = fuse_weighted([(9, 1.0), (3, 1.0), (5, 1.0)], [], dense_weight=0.0)
        assert ids(fused) == [3, 5, 9]


class TestFuseRrf:
    def test_order(self) -> None:
        fused = fuse_rrf([(1, 9.0), (2, 8.0), (3, 7.0)], [(3, 0.9), (1, 0.8)], k=60)
        assert ids(fused) == [1, 3, 2]
        assert scores(fused) == pytest.approx({1: 1 / 61 + 1 / 62, 3: 1 / 63 + 1 / 61, 2: 1 / 62})

    def test_only_rank_matters_not_score(self) -> None:
        a = fuse_rrf([(1, 1000.0), (2, 0.001)], [], k=10)
        b = fuse_rrf([(1, 0.2), (2, 0.1)], [], k=10)
        assert a == b

    def test_k_controls_how_much_top_ranks_count(self) -> None:
        # Sticker 1 is first in one list and sixth in the other; sticker 2 is third in both.
        lexical = [(1, 1.0), (10, 0.9), (2, 0.8), (11, 0.7), (12, 0.6), (13, 0.5)]
        dense = [(20, 1.0), (21, 0.9), (2, 0.8), (22, 0.7), (23, 0.6), (1, 0.5)]
        small = scores(fuse_rrf(lexical, dense, k=1))
        large = scores(fuse_rrf(lexical, dense, k=60))
        assert small[1] > small[2]  # 1/2 + 1/7 > 1/4 + 1/4
        assert large[1] < large[2]  # 1/61 + 1/66 < 2/63

    def test_ties_break_on_id(self) -> None:
        fused = fuse_rrf([(5, 1.0)], [(2, 1.0)])
        assert ids(fused) == [2, 5]

    def test_empty(self) -> None:
        assert fuse_rrf([], []) == []


def doc(sticker_id: int, **fields: str) -> StickerDocument:
    return StickerDocument(sticker_id, fields)


class TestFieldBM25:
    def test_higher_weighted_field_ranks_higher(self) -> None:
        docs = [doc(1, pack_title="cat"), doc(2, emoji_keywords="cat")]
        bm25 = FieldBM25(docs, {"emoji_keywords": 1.0, "pack_title": 0.2})
        assert [i for i, _ in bm25.top("cat", 10)] == [2, 1]

    def test_swapping_weights_swaps_order(self) -> None:
        docs = [doc(1, pack_title="cat"), doc(2, emoji_keywords="cat")]
        bm25 = FieldBM25(docs, {"emoji_keywords": 0.2, "pack_title": 1.0})
        assert [i for i, _ in bm25.top("cat", 10)] == [1, 2]

    def test_score_scales_with_weight(self) -> None:
        docs = [doc(1, ocr="cat"), doc(2, ocr="dog")]
        once = FieldBM25(docs, {"ocr": 1.0}).scores("cat")
        thrice = FieldBM25(docs, {"ocr": 3.0}).scores("cat")
        assert once[0] > 0
        assert thrice[0] == pytest.approx(3 * once[0])
        assert once[1] == thrice[1] == 0

    def test_fields_sum(self) -> None:
        docs = [doc(1, ocr="cat", pack_title="cat"), doc(2, ocr="cat"), doc(3, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 1.0, "pack_title": 0.5})
        top = bm25.top("cat", 10)
        assert [i for i, _ in top] == [1, 2]
        assert top[0][1] > top[1][1]

    def test_zero_weight_field_ignored(self) -> None:
        docs = [doc(1, ocr="cat"), doc(2, emoji_keywords="cat"), doc(3, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 0.0, "emoji_keywords": 1.0})
        assert [i for i, _ in bm25.top("cat", 10)] == [2]
        assert bm25.scores("cat")[0] == 0

    def test_missing_weight_means_zero(self) -> None:
        docs = [doc(1, vlm_description="cat"), doc(2, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert bm25.top("cat", 10) == []

    def test_unknown_field_name_ignored(self) -> None:
        docs = [doc(1, not_a_field="cat"), doc(2, ocr="dog")]
        bm25 = FieldBM25(docs, {"not_a_field": 5.0, "ocr": 1.0})
        assert bm25.top("cat", 10) == []

    def test_top_only_positive_scores(self) -> None:
        docs = [doc(1, ocr="cat"), doc(2, ocr="dog"), doc(3, ocr="bird")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        top = bm25.top("cat", 10)
        assert [i for i, _ in top] == [1]
        assert all(s > 0 for _, s in top)

    def test_unknown_and_empty_query(self) -> None:
        docs = [doc(1, ocr="cat")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert bm25.top("zebra", 10) == []
        assert bm25.top("", 10) == []
        assert bm25.scores("").tolist() == [0.0]

    def test_top_respects_k_and_orders_best_first(self) -> None:
        docs = [
            doc(1, ocr="cat"),
            doc(2, ocr="cat cat cat"),
            doc(3, ocr="cat cat"),
            doc(4, ocr="dog"),
        ]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        full = bm25.top("cat", 10)
        assert [i for i, _ in full] == [2, 3, 1]
        assert [s for _, s in full] == sorted((s for _, s in full), reverse=True)
        assert bm25.top("cat", 2) == full[:2]
        assert bm25.top("cat", 1) == full[:1]

    def test_ties_broken_by_id(self) -> None:
        docs = [doc(i, ocr="cat") for i in (5, 3, 9, 1)] + [doc(2, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        top = bm25.top("cat", 10)
        assert [i for i, _ in top] == [1, 3, 5, 9]
        assert len({s for _, s in top}) == 1

    def test_truncation_among_ties_keeps_lowest_ids(self) -> None:
        docs = [doc(i, ocr="cat") for i in range(9, 0, -1)]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert [i for i, _ in bm25.top("cat", 3)] == [1, 2, 3]

    def test_truncation_keeps_better_scores_before_lower_ids(self) -> None:
        docs = [doc(i, ocr="cat") for i in (1, 2, 3)] + [doc(9, ocr="cat cat cat")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert [i for i, _ in bm25.top("cat", 2)] == [9, 1]

    def test_query_text_is_tokenized(self) -> None:
        docs = [doc(1, ocr="happy cat"), doc(2, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert [i for i, _ in bm25.top("  CAT!! ", 10)] == [1]
        assert bm25.scores("CAT!!").tolist() == bm25.scores("cat").tolist()

    def test_exact_form_scores_above_stem_only_match(self) -> None:
        docs = [doc(1, ocr="runs"), doc(2, ocr="running"), doc(3, ocr="dog")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        top = bm25.top("running", 10)
        assert [i for i, _ in top] == [2, 1]
        assert top[0][1] > top[1][1] > 0

    @pytest.mark.parametrize(("document", "query"), [("cat", "cats"), ("cats", "cat")])
    def test_other_form_of_a_word_is_found(self, document: str, query: str) -> None:
        bm25 = FieldBM25([doc(1, ocr=document), doc(2, ocr="dog")], {"ocr": 1.0})
        assert [i for i, _ in bm25.top(query, 10)] == [1]

    def test_empty_library(self) -> None:
        bm25 = FieldBM25([], {"ocr": 1.0})
        assert bm25.top("cat", 10) == []
        assert bm25.scores("cat").tolist() == []


class TestPhraseIndex:
    # Same words, so the word index ties them; only the whole-entry phrase index separates them.
    DOCS = (doc(1, vlm_keywords="cat happy ; sleepy"), doc(2, vlm_keywords="happy cat ; sleepy"))

    def test_phrase_fields(self) -> None:
        assert set(PHRASE_FIELDS) == {"emoji_keywords", "vlm_keywords", "history_queries"}

    @pytest.mark.parametrize("field", PHRASE_FIELDS)
    def test_whole_entry_match_ranks_first(self, field: str) -> None:
        docs = [doc(1, **{field: "cat happy ; sleepy"}), doc(2, **{field: "happy cat ; sleepy"})]
        bm25 = FieldBM25(docs, {field: 1.0})
        top = bm25.top("happy cat", 10)
        assert [i for i, _ in top] == [2, 1]
        assert top[0][1] > top[1][1] > 0

    def test_entry_equal_to_query_beats_better_word_match(self) -> None:
        # Doc 1 has the query's words among other words (and "cat" twice), so it wins on
        # words alone; doc 2 has an entry equal to the query, which wins with the phrase index.
        docs = [
            doc(1, emoji_keywords="happy cat face ; cat"),
            doc(2, emoji_keywords="happy cat ; grinning face ; smile"),
        ]
        words_only = FieldBM25(docs, {"emoji_keywords": 1.0}, phrase_weight=0.0)
        assert [i for i, _ in words_only.top("happy cat", 10)] == [1, 2]
        with_phrase = FieldBM25(docs, {"emoji_keywords": 1.0}, phrase_weight=1.0)
        assert [i for i, _ in with_phrase.top("happy cat", 10)] == [2, 1]

    def test_phrase_weight_zero_disables_the_phrase_index(self) -> None:
        bm25 = FieldBM25(self.DOCS, {"vlm_keywords": 1.0}, phrase_weight=0.0)
        top = bm25.top("happy cat", 10)
        assert [i for i, _ in top] == [1, 2]  # a tie, broken by id
        assert top[0][1] == top[1][1] > 0

    def test_phrase_score_scales_with_phrase_weight(self) -> None:
        def scores(phrase_weight: float) -> list[float]:
            bm25 = FieldBM25(self.DOCS, {"vlm_keywords": 2.0}, phrase_weight=phrase_weight)
            return bm25.scores("happy cat").tolist()

        base, once, twice = scores(0.0), scores(1.0), scores(2.0)
        assert once[0] == pytest.approx(base[0])  # no entry of doc 1 equals the query
        assert once[1] > base[1]
        assert twice[1] - base[1] == pytest.approx(2 * (once[1] - base[1]))

    def test_phrase_match_is_normalised(self) -> None:
        bm25 = FieldBM25(self.DOCS, {"vlm_keywords": 1.0})
        assert bm25.scores("  Happy   CAT ").tolist() == bm25.scores("happy cat").tolist()
        assert [i for i, _ in bm25.top("HAPPY CAT", 10)] == [2, 1]

    def test_partial_entry_is_no_phrase_match(self) -> None:
        bm25 = FieldBM25(self.DOCS, {"vlm_keywords": 1.0})
        with_phrase = bm25.scores("happy")
        without = FieldBM25(self.DOCS, {"vlm_keywords": 1.0}, phrase_weight=0.0).scores("happy")
        assert with_phrase.tolist() == pytest.approx(without.tolist())

    def test_second_entry_matches_as_a_phrase(self) -> None:
        docs = [doc(1, vlm_keywords="sleepy kitten ; cat"), doc(2, vlm_keywords="cat sleepy")]
        bm25 = FieldBM25(docs, {"vlm_keywords": 1.0})
        assert [i for i, _ in bm25.top("sleepy kitten", 10)] == [1, 2]
        # Doc 1's longer field gives it the lower word score; its "cat" entry lifts it above.
        assert [i for i, _ in bm25.top("cat", 10)] == [1, 2]
        without = FieldBM25(docs, {"vlm_keywords": 1.0}, phrase_weight=0.0)
        assert [i for i, _ in without.top("cat", 10)] == [2, 1]

    @pytest.mark.parametrize("field", ["ocr", "vlm_description", "pack_title", "emoji"])
    def test_other_fields_have_no_phrase_index(self, field: str) -> None:
        docs = [doc(1, **{field: "cat happy"}), doc(2, **{field: "happy cat"})]
        bm25 = FieldBM25(docs, {field: 1.0})
        top = bm25.top("happy cat", 10)
        assert [i for i, _ in top] == [1, 2]
        assert top[0][1] == top[1][1] > 0

    def test_phrase_index_needs_a_positive_field_weight(self) -> None:
        bm25 = FieldBM25(self.DOCS, {"vlm_keywords": 0.0, "ocr": 1.0}, phrase_weight=5.0)
        assert bm25.top("happy cat", 10) == []

    def test_tokenized_query_matches_emoji_field(self) -> None:
        docs = [doc(1, emoji="😀"), doc(2, emoji="🐱")]
        bm25 = FieldBM25(docs, {"emoji": 2.0})
        assert [i for i, _ in bm25.top("🐱", 10)] == [2]

    def test_ids_aligned_with_scores(self) -> None:
        docs = [doc(40, ocr="dog"), doc(10, ocr="cat")]
        bm25 = FieldBM25(docs, {"ocr": 1.0})
        assert sorted(bm25.ids.tolist()) == [10, 40]  # rows are kept in id order
        result = dict(zip(bm25.ids.tolist(), bm25.scores("cat").tolist(), strict=True))
        assert result[40] == 0
        assert result[10] > 0
