"""Query and document normalisation and the multilingual tokenizer used by BM25."""

import re
import unicodedata
from functools import cache

import Stemmer

from engine.lexicon import find_emoji, strip_emoji_modifiers

EMOJI_TOKEN_PREFIX = "e:"
STEM_PREFIX = "~"
PHRASE_PREFIX = "="
_CJK = (
    "\u3005\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[^\\W_{_CJK}]+")
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def is_fragment(norm: str, min_letters: int) -> bool:
    """A normalised query of one alphabetic word too short to mean anything yet (`h`, `ha`).

    CJK characters are words of their own (猫 is "cat"), so they never count as fragments.
    """
    return 0 < len(norm) < min_letters and norm.isalpha() and not _CJK_RUN.search(norm)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def normalize(text: str) -> str:
    """NFKC, case-folded, without emoji variation selectors or skin tones, spaces collapsed.

    Emoji are kept as they are: NFKC would turn some into letters (‼ -> !!, ℹ -> i, 🈯 -> 指).
    """
    clean = strip_emoji_modifiers(text)
    parts: list[str] = []
    last = 0
    for start, end, _ in find_emoji(clean):
        parts.extend((_fold(clean[last:start]), clean[start:end]))
        last = end
    parts.append(_fold(clean[last:]))
    return " ".join("".join(parts).split())


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def _fold_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def surface_form(word: str) -> str:
    """A normalised word as its surface token: ё as е in Cyrillic, accents folded otherwise."""
    return word.replace("ё", "е") if _CYRILLIC.search(word) else _fold_accents(word)


@cache
def word_tokens(word: str) -> tuple[str, ...]:
    """The surface token and the stem token of one normalised word (a digit run: itself)."""
    # The stem is prefixed so the two never collide: another form of the word matches
    # through the stem, and an exact form scores higher by matching both.
    # Cyrillic words get the Russian stemmer; Latin words the English one, which only trims
    # common suffixes and leaves other languages' words mostly intact.
    if word.isdigit():
        return (word,)
    surface = surface_form(word)
    language = "russian" if _CYRILLIC.search(word) else "english"
    return (surface, STEM_PREFIX + str(_stemmer(language).stemWord(surface)))


def query_words(norm: str) -> list[tuple[int, int, str]]:
    """(start, end, word) of the non-CJK words of a normalised query; numbers left out."""
    matches = _WORD.finditer(norm)
    return [(m.start(), m.end(), m.group()) for m in matches if not m.group().isdigit()]


def _cjk_tokens(run: str) -> list[str]:
    # Unigrams and overlapping bigrams (as Lucene's CJK analyzer): needs no dictionary, finds
    # one-character queries such as 猫, and bigrams reward contiguous matches.
    grams = list(run)
    grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def _plain_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for chunk in _CJK_RUN.split(text):
        for word in _WORD.findall(chunk):
            tokens.extend(word_tokens(word))
    for run in _CJK_RUN.findall(text):
        tokens.extend(_cjk_tokens(run))
    return tokens


def tokenize(text: str) -> list[str]:
    """Tokens for BM25: emoji as `e:HEXCODE`, CJK as uni+bigrams, other words stemmed."""
    norm = normalize(text)
    tokens: list[str] = []
    last = 0
    for start, end, hexcode in find_emoji(norm):
        tokens.extend(_plain_tokens(norm[last:start]))
        tokens.append(EMOJI_TOKEN_PREFIX + hexcode)
        last = end
    tokens.extend(_plain_tokens(norm[last:]))
    return tokens


def phrase_token(text: str) -> str:
    """One token for a whole keyword or query, so exact keyword matches can be rewarded."""
    return PHRASE_PREFIX + normalize(text)


def phrase_tokens(field_text: str) -> list[str]:
    """Phrase tokens of a field whose entries are joined by ' ; '."""
    return [phrase_token(p) for p in field_text.split(" ; ") if p.strip()]
