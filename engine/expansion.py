"""Query expansion for search as people type: the word being typed and words with a typo.

Telegram sends an inline query at every pause while the user types, so the last word is often
unfinished (`hap`) and any word may be misspelt (`hapy`, `собкаа`). Each such word gets
stand-in terms from the index vocabulary, weighted below the word itself:

- completions: the most frequent terms that extend the last word (and whole-keyword phrases
  that extend the whole query), at `prefix_weight` times their frequency relative to the most
  frequent one: people type common words, and BM25 alone would favour the rarest completion;
- corrections: terms one edit away from a word that the vocabulary does not hold, at
  `typo_weight`; a word the vocabulary holds is never corrected, so its exact matches stay;
- fuzzy completions, when the last word (of `min_typo_length` letters or more) has neither a
  completion nor a correction: terms whose start is one edit from it, at
  `prefix_weight * typo_weight`.

Words shorter than `min_prefix` letters get no completions: one or two letters extend to
hundreds of unrelated words, so such a query is searched as typed (exact tokens and dense
recall). CJK text needs none of this: its uni- and bigram tokens already match partial words.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from engine.text import PHRASE_PREFIX, phrase_token, query_words, word_tokens
from engine.vocabulary import Vocabulary


class TypingSettings(BaseModel):
    """Completion of the word being typed and typo tolerance (see engine/expansion.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prefix: bool = True
    min_prefix: int = Field(default=3, ge=1)  # letters the last word needs to be completed
    completions: int = Field(default=10, ge=1)  # most frequent completions kept per word
    prefix_weight: float = Field(default=0.5, gt=0.0, lt=1.0)
    typos: bool = True
    min_typo_length: int = Field(default=5, ge=2)  # letters of the intended word
    corrections: int = Field(default=3, ge=1)  # most frequent corrections kept per word
    typo_weight: float = Field(default=0.5, gt=0.0, lt=1.0)


@dataclass(frozen=True)
class Expansion:
    """Stand-in terms for one query word, each with a weight below 1.

    `own` are the word's own tokens: where any document matches them, the stand-ins are scaled
    to score below the weakest of those matches, so an exact word always outranks them. The
    stem of a word the vocabulary lacks is `demoted` to a stand-in when the word has completions
    or corrections: `weari` stems like `weary`, but is most likely `wearing` being typed.
    """

    own: tuple[str, ...]
    terms: dict[str, float]
    demoted: tuple[str, ...] = ()  # tokens of the query that count as stand-ins, not exact


def split_frequencies(frequencies: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    """Surface words and whole-keyword phrases of an index vocabulary, with their counts."""
    words = {t: n for t, n in frequencies.items() if t[:1].isalnum() and ":" not in t}
    phrases = {t: n for t, n in frequencies.items() if t.startswith(PHRASE_PREFIX)}
    return words, phrases


def split_vocabulary(frequencies: Mapping[str, int]) -> tuple[Vocabulary, Vocabulary]:
    """Surface words and whole-keyword phrases of an index vocabulary, as two vocabularies."""
    words, phrases = split_frequencies(frequencies)
    return Vocabulary(words), Vocabulary(phrases)


class QueryExpander:
    """Finds the expansions of a normalised query in the vocabulary of the indexes."""

    def __init__(self, words: Vocabulary, phrases: Vocabulary, cfg: TypingSettings) -> None:
        self._words = words
        self._phrases = phrases
        self._cfg = cfg

    def expand(self, norm: str) -> list[Expansion]:
        """One expansion per query word that has stand-ins."""
        spans = query_words(norm)
        out: list[Expansion] = []
        for n, (start, end, word) in enumerate(spans):
            typing = n == len(spans) - 1 and end == len(norm)
            expansion = self._expand_word(norm, start, end, word, typing)
            if expansion.terms:
                out.append(expansion)
        return out

    def settled(self, norm: str) -> str:
        """The query without a last word still being typed: the text worth embedding.

        A last word that only extends vocabulary words (`hap` of happy) says nothing to a text
        model yet; it is found by its completions. Finished words stay, a word the vocabulary
        holds (`cat`) and an unknown one (a typo, a name) alike, so `happy bi` embeds as `happy`
        and every keystroke of `bi...` reuses that vector.
        """
        spans = query_words(norm)
        if not spans or not self._cfg.prefix or spans[-1][1] != len(norm):
            return norm
        start, _, word = spans[-1]
        surface = word_tokens(word)[0]
        if surface in self._words:
            return norm
        if not self._words.completions(surface, 1):
            return norm
        return norm[:start].strip()

    def _expand_word(self, norm: str, start: int, end: int, word: str, typing: bool) -> Expansion:
        tokens = word_tokens(word)
        surface = tokens[0]
        terms: dict[str, float] = {}
        completed = typing and self._complete(norm, surface, terms)
        if self._cfg.typos and surface not in self._words and not completed:
            corrected = self._correct(norm[:start], surface, norm[end:], terms)
            if typing and not corrected:
                self._complete_fuzzily(surface, terms)
        demoted = tokens[1:] if terms and surface not in self._words else ()
        # Another word with the same stem is as weak a guess as a completion with a typo.
        _add(terms, demoted, self._cfg.prefix_weight * self._cfg.typo_weight)
        own = tuple(t for t in tokens if t not in demoted)
        own = (*own, phrase_token(norm)) if typing else own
        # A stand-in equal to one of the word's own tokens is already scored in full.
        return Expansion(own, {t: w for t, w in terms.items() if t not in own}, demoted)

    def _complete(self, norm: str, surface: str, terms: dict[str, float]) -> bool:
        cfg = self._cfg
        if not cfg.prefix or len(surface) < cfg.min_prefix:
            return False
        found = self._words.completions(surface, cfg.completions)
        for completion, weight in _likely(self._words, found, cfg.prefix_weight):
            _add(terms, word_tokens(completion), weight)
        phrases = self._phrases.completions(phrase_token(norm), cfg.completions)
        for phrase, weight in _likely(self._phrases, phrases, cfg.prefix_weight):
            _add(terms, (phrase,), weight)
        return bool(found)

    def _correct(self, before: str, surface: str, after: str, terms: dict[str, float]) -> bool:
        cfg = self._cfg
        if len(surface) < cfg.min_typo_length - 1:  # a deletion makes a word one letter short
            return False
        found = self._words.corrections(surface, cfg.min_typo_length, cfg.corrections)
        for fixed, weight in _likely(self._words, found, cfg.typo_weight):
            _add(terms, (*word_tokens(fixed), phrase_token(before + fixed + after)), weight)
        return bool(found)

    def _complete_fuzzily(self, surface: str, terms: dict[str, float]) -> None:
        cfg = self._cfg
        # Like corrections, only for 5+ letters: one edit in four letters reaches far too many
        # words (`wplk` -> wolke), so a short unknown word stays unmatched.
        if not cfg.prefix or len(surface) < max(cfg.min_prefix, cfg.min_typo_length):
            return
        found = self._words.fuzzy_completions(surface, cfg.completions)
        for word, weight in _likely(self._words, found, cfg.prefix_weight * cfg.typo_weight):
            _add(terms, word_tokens(word), weight)


def _likely(vocabulary: Vocabulary, found: Sequence[str], weight: float) -> list[tuple[str, float]]:
    # Each weighted by how common it is next to the most common one: the likelier intent.
    top = max((vocabulary.frequency(t) for t in found), default=0)
    return [(t, weight * vocabulary.frequency(t) / top) for t in found] if top else []


def _add(terms: dict[str, float], tokens: tuple[str, ...], weight: float) -> None:
    for token in tokens:
        terms[token] = max(weight, terms.get(token, 0.0))
