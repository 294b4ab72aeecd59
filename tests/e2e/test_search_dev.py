"""Multilingual search over real dev stickers returns what CLDR calls relevant."""

import pytest

from engine.evaluation import DevSet
from engine.service import SearchService
from engine.types import SearchQuery
from tests.conftest import internals

PROBES = [("en", "happy"), ("en", "angry"), ("en", "cat"), ("ja", "猫"), ("de", "traurig")]
# "angry" is not among the dev queries (CLDR keywords shared by 2-50 emoji of this half), so its
# relevant emoji are labelled here by hand: angry, pouting, symbols-on-mouth, steam, horns, anger.
HAND_LABELLED = {
    ("en", "angry"): frozenset({"1F620", "1F621", "1F92C", "1F624", "1F47F", "1F63E", "1F4A2"}),
}


def _relevant(devset: DevSet, locale: str, text: str) -> frozenset[str]:
    if (locale, text) in HAND_LABELLED:
        return HAND_LABELLED[(locale, text)]
    return next(q.relevant for q in devset.queries if (q.locale, q.text) == (locale, text))


@pytest.mark.parametrize(("locale", "text"), PROBES)
def test_probe_queries_find_relevant_stickers(
    dev_service: SearchService, devset: DevSet, locale: str, text: str
) -> None:
    relevant = _relevant(devset, locale, text)
    hits = dev_service.search(SearchQuery("tester", text, limit=10)).hits
    labels = [devset.labels_by_file[h.file.split("stickers-dev/")[-1]] for h in hits]
    precise = sum(bool(lab & relevant) for lab in labels)
    assert labels and labels[0] & relevant, f"top hit for {text!r} is not relevant"
    # Only 😠 carries the keyword "angry" in this half of the data; the rest must come from
    # dense recall, so half the page is the honest bar there.
    assert precise >= (5 if text == "angry" else 8), f"only {precise}/10 relevant for {text!r}"


def test_emoji_query_matches_stickers_with_that_emoji(dev_service: SearchService) -> None:
    hits = dev_service.search(SearchQuery("tester", "😢", limit=10)).hits
    assert [h.emoji.replace("\ufe0f", "") for h in hits[:5]] == ["😢"] * 5


def test_skin_tone_and_variation_selector_are_ignored(dev_service: SearchService) -> None:
    plain = dev_service.search(SearchQuery("tester", "😢", limit=5)).hits
    varied = dev_service.search(SearchQuery("tester", "😢\ufe0f", limit=5)).hits
    assert [h.id for h in plain] == [h.id for h in varied]


def test_pages_are_disjoint_and_continue(dev_service: SearchService) -> None:
    first = dev_service.search(SearchQuery("tester", "face", limit=20))
    assert first.next_offset == 20
    second = dev_service.search(SearchQuery("tester", "face", limit=20, offset=20))
    assert not {h.id for h in first.hits} & {h.id for h in second.hits}
    both = dev_service.search(SearchQuery("tester", "face", limit=40))
    assert [h.id for h in both.hits] == [h.id for h in first.hits + second.hits]


def test_nonsense_query_returns_nothing_lexical(dev_service: SearchService) -> None:
    # Only the lexical half can promise nothing: dense recall always has nearest neighbours (this
    # test once passed through search() only while the snapshot was too stale for dense recall).
    snapshot = internals(dev_service).fresh_snapshot()
    assert snapshot.bm25.top("qzxv wplk", 10) == []


def test_empty_query_lists_recent_stickers_of_that_user(dev_service: SearchService) -> None:
    ids = [h.id for h in dev_service.search(SearchQuery("tester", "cat", limit=3)).hits]
    for sticker_id in reversed(ids):
        dev_service.users.record("recent-user", sticker_id, "chosen", "cat")
    recent = dev_service.search(SearchQuery("recent-user", "", limit=10)).hits
    assert {h.id for h in recent} == set(ids)
    assert dev_service.search(SearchQuery("someone-else", "", limit=10)).hits == []
    dev_service.users.forget("recent-user")
    assert dev_service.search(SearchQuery("recent-user", "", limit=10)).hits == []
