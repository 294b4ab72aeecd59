"""Variants of dev queries for the typing track: cut short, or with one typo."""

import random
from pathlib import Path

import pytest
from rapidfuzz.distance import OSA

from engine.evaluation import DevSet, EvalQuery, prefix_variant, typing_cases, typo_variant


@pytest.mark.parametrize(
    ("query", "typed"),
    [
        ("happiness", "happin"),  # ceil(0.6 * 9) = 6 letters
        ("smile", "smi"),  # at least 3 letters
        ("feu de circulation", "feu de circula"),
        ("собака", "соба"),
        ("擂台争霸", "擂台争"),
        ("cat", None),  # nothing left to cut
        ("hand", "han"),
    ],
)
def test_prefix_variant(query: str, typed: str | None) -> None:
    assert prefix_variant(query) == typed


@pytest.mark.parametrize("query", ["happiness", "feu de circulation", "собака", "glücklich"])
def test_typo_variant_is_one_edit_in_one_word(query: str) -> None:
    for seed in range(30):
        typo = typo_variant(query, random.Random(seed))
        assert typo is not None
        assert OSA.distance(typo, query) == 1
        assert len(typo.split(" ")) == len(query.split(" "))


def test_typo_letters_keep_the_script() -> None:
    for seed in range(30):
        typo = typo_variant("собака", random.Random(seed))
        assert typo is not None
        assert all("а" <= ch <= "я" or ch == "ё" for ch in typo)


@pytest.mark.parametrize("query", ["cat", "red car", "猫", "サラリーマン", "1234567"])
def test_no_typo_without_a_latin_or_cyrillic_word_of_five_letters(query: str) -> None:
    assert typo_variant(query, random.Random(0)) is None


def test_typing_cases_are_deterministic() -> None:
    queries = [
        EvalQuery("en", "happiness", frozenset({"1F600"})),
        EvalQuery("ru", "собака", frozenset()),
    ]
    dev = DevSet(Path("."), [], queries)
    first, again = typing_cases(dev, seed=3), typing_cases(dev, seed=3)
    assert first == again
    assert [c.prefix for c in first] == ["happin", "соба"]
    assert first[0].typo is not None and first[1].typo is not None
