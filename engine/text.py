"""Query and document normalisation and the multilingual tokenizer used by BM25."""

import re
import unicodedata
from functools import cache

import Stemmer

from engine.lexicon import find_emoji, strip_emoji_modifiers

EMOJI_TOKEN_PREFIX = "e:"
_CJK = (
    "\u3005\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    "\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff\u3130-\u318f"
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_WORD = re.compile(f"[^\\W_{_CJK}]+")
_CYRILLIC = re.compile("[\u0400-\u04ff]")


def normalize(text: str) -> str:
    """NFKC, case-folded, without emoji variation selectors or skin tones, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(strip_emoji_modifiers(folded).split())


@cache
def _stemmer(language: str) -> Stemmer.Stemmer:
    return Stemmer.Stemmer(language)


def _fold_accents(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@cache
def _word_token(word: str) -> str:
    # Cyrillic words get the Russian stemmer; Latin words the English one, which only trims
    # common suffixes and leaves other languages' words mostly intact.
    if _CYRILLIC.search(word):
        return str(_stemmer("russian").stemWord(word.replace("ё", "е")))
    return str(_stemmer("english").stemWord(_fold_accents(word)))


def _cjk_tokens(run: str) -> list[str]:
    # Unigrams and overlapping bigrams (as Lucene's CJK analyzer): needs no dictionary, finds
    # one-character queries such as 猫, and bigrams reward contiguous matches.
    grams = list(run)
    grams.extend(run[i : i + 2] for i in range(len(run) - 1))
    return grams


def _plain_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for chunk in _CJK_RUN.split(text):
        tokens.extend(_word_token(w) for w in _WORD.findall(chunk))
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
