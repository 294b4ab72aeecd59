"""Sorted vocabularies: completions of a typed prefix and words one edit away."""

import pytest

from engine.vocabulary import Vocabulary

WORDS = Vocabulary(
    {"happy": 9, "happiness": 4, "happier": 2, "hat": 7, "hazy": 3, "cat": 5, "katze": 2}
)


class TestCompletions:
    def test_most_frequent_extensions_first(self) -> None:
        assert list(WORDS.completions("hap", 10)) == ["happy", "happiness", "happier"]

    def test_limit_keeps_the_most_frequent(self) -> None:
        assert list(WORDS.completions("ha", 2)) == ["happy", "hat"]

    def test_the_prefix_itself_is_no_completion(self) -> None:
        assert list(WORDS.completions("happy", 10)) == []
        assert list(WORDS.completions("hat", 10)) == []

    def test_unknown_prefix(self) -> None:
        assert list(WORDS.completions("zz", 10)) == []

    def test_ties_are_alphabetical(self) -> None:
        vocab = Vocabulary({"abd": 1, "abc": 1, "abe": 1})
        assert list(vocab.completions("ab", 10)) == ["abc", "abd", "abe"]


class TestCorrections:
    @pytest.mark.parametrize(
        "typo",
        ["hapy", "happpy", "hbppy", "hpapy", "jappy", "happu", "ahppy", "happ"],
        ids=["deletion", "insertion", "substitution", "transposition", "first letter",
             "last letter", "first two swapped", "last letter dropped"],
    )  # fmt: skip
    def test_one_edit_finds_the_word(self, typo: str) -> None:
        assert list(WORDS.corrections(typo, min_length=5, limit=3)) == ["happy"]

    def test_two_edits_find_nothing(self) -> None:
        assert list(WORDS.corrections("hpay", min_length=5, limit=3)) == []

    def test_short_targets_are_left_out(self) -> None:
        # "hazy" is one edit from "hapy" but shorter than the minimum length.
        assert "hazy" in WORDS.corrections("hapy", min_length=4, limit=3)
        assert "hazy" not in WORDS.corrections("hapy", min_length=5, limit=3)

    def test_a_known_word_is_not_its_own_correction(self) -> None:
        assert "happy" not in WORDS.corrections("happy", min_length=5, limit=3)

    def test_most_frequent_first(self) -> None:
        vocab = Vocabulary({"mouse": 1, "house": 5, "horse": 3})
        assert list(vocab.corrections("hoase", min_length=5, limit=3)) == ["house", "horse"]


class TestFuzzyCompletions:
    def test_typo_at_the_end_of_the_prefix(self) -> None:
        assert list(WORDS.fuzzy_completions("katy", 5)) == ["katze"]

    def test_typo_in_a_longer_prefix(self) -> None:
        assert list(WORDS.fuzzy_completions("happo", 5)) == ["happy", "happiness", "happier"]

    def test_typed_letter_too_many_or_too_few(self) -> None:
        assert list(WORDS.fuzzy_completions("happpi", 5)) == ["happiness", "happier"]
        assert list(WORDS.fuzzy_completions("hapin", 5)) == ["happiness"]

    def test_typo_in_the_first_half_is_not_searched(self) -> None:
        assert list(WORDS.fuzzy_completions("xatz", 5)) == []


def test_lookups_are_memoised_and_bounded() -> None:
    vocab = Vocabulary({"happy": 2, "happier": 1}, cache_size=2)
    first = vocab.completions("hap", 10)
    assert vocab.completions("hap", 10) is first
    vocab.corrections("hapy", 5, 3)
    vocab.fuzzy_completions("hapo", 3)  # evicts the oldest: "hap"
    assert vocab.completions("hap", 10) == first
    assert vocab.completions("hap", 10) is not first
