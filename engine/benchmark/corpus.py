"""A synthetic sticker library whose meaning is known: emoji, CLDR keywords, OCR-like text, packs.

Every sticker carries one emoji; its meaning is that emoji's CLDR names and keywords in the
search locales (emojibase), so the stickers relevant to a keyword query are known exactly.
Around it, the noise a real library has: pack titles that say what the pack is about rather
than what each sticker says, file names that are sometimes words and mostly hashes, OCR text
that repeats the sticker's meaning with reading errors (and sometimes says nothing useful),
and one art style per pack. Queries are CLDR keywords of several locales; the simulated users'
picks use other keywords than the queries measured, so every measured query is novel.
"""

import hashlib
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from engine.lexicon import Lexicon, split_emoji
from engine.text import normalize

STYLES = 9
PACK_SIZES = (24, 120)  # Telegram packs hold at most 120 stickers
OCR_SHARE = 0.3
WORDY_FILE_SHARE = 0.35
NOISE_WORDS = ("lol", "omg", "pls", "ok", "yes", "no", "bro", "mood", "me", "when", "u", "ur")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Pictographs that people use as sticker emoji: no flags, keycaps, letters or bare symbols.
EMOJI_RANGES = ((0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF))


@dataclass(frozen=True)
class SynthPack:
    """A pack: one art style, a theme emoji that its title is about."""

    id: int
    name: str
    title: str
    style: int


@dataclass(frozen=True)
class SynthSticker:
    """A sticker with its emoji (its meaning), pack, OCR text and file name."""

    id: int
    emoji: str
    pack: int
    style: int
    ocr: str
    file_name: str


@dataclass(frozen=True)
class SynthQuery:
    """A query: a CLDR keyword in one locale, typed by one user."""

    locale: str
    text: str
    user: str


@dataclass(frozen=True)
class SynthPick:
    """A simulated user's pick of a relevant sticker for a (training) keyword."""

    user: str
    sticker: int
    query: str
    at: datetime


@dataclass
class Corpus:
    """Packs, stickers, the keyword -> stickers ground truth, users and their picks."""

    locales: tuple[str, ...]
    packs: list[SynthPack]
    stickers: list[SynthSticker]
    keywords: dict[str, set[str]]  # emoji -> normalised keywords in every locale
    by_keyword: dict[str, set[str]] = field(default_factory=dict)  # keyword -> emoji
    by_emoji: dict[str, list[int]] = field(default_factory=dict)
    user_styles: dict[str, int] = field(default_factory=dict)
    picks: list[SynthPick] = field(default_factory=list)

    def relevant(self, query: str) -> set[int]:
        """The stickers whose emoji has `query` among its keywords."""
        found: set[int] = set()
        for emoji in self.by_keyword.get(normalize(query), ()):
            found.update(self.by_emoji.get(emoji, ()))
        return found


def sticker_emoji(lexicon: Lexicon) -> list[str]:
    """The pool of emoji stickers carry: pictographs with keywords in every search locale."""
    pool = []
    for lo, hi in EMOJI_RANGES:
        for code in range(lo, hi + 1):
            emoji = chr(code)
            if split_emoji(emoji) and all(
                lexicon.keywords(emoji, (loc,)) for loc in lexicon.locales
            ):
                pool.append(emoji)
    return pool


def _keyword_sets(lexicon: Lexicon, pool: Sequence[str]) -> dict[str, set[str]]:
    return {e: {normalize(k) for k in lexicon.keywords(e) if k.strip()} for e in pool}


def _title(rng: random.Random, lexicon: Lexicon, pool: Sequence[str]) -> str:
    theme = lexicon.label(rng.choice(pool), "en").split(":")[0].title()
    suffix = rng.choice(("", " Stickers", " Pack", " vol. 2", " by Mika", " Mood", " Reactions"))
    return f"{theme}{suffix}"


def _packs(rng: random.Random, lexicon: Lexicon, pool: Sequence[str], n: int) -> list[SynthPack]:
    packs: list[SynthPack] = []
    total = 0
    while total < n:
        title = _title(rng, lexicon, pool)
        slug = "".join(ch if ch.isalnum() else "_" for ch in title.lower()).strip("_")
        packs.append(
            SynthPack(len(packs) + 1, f"{slug}_{len(packs)}_by_bench", title, len(packs) % STYLES)
        )
        total += rng.randint(*PACK_SIZES)
    return packs


def _misread(rng: random.Random, text: str) -> str:
    """OCR errors: a letter dropped or replaced now and then, case as printed."""
    out = []
    for ch in text:
        roll = rng.random()
        if roll < 0.03:
            continue
        out.append(rng.choice(LETTERS) if roll < 0.06 and ch.isalpha() else ch)
    printed = "".join(out)
    return printed.upper() if rng.random() < 0.5 else printed


def _ocr(rng: random.Random, lexicon: Lexicon, emoji: str, locales: Sequence[str]) -> str:
    if rng.random() >= OCR_SHARE:
        return ""
    words = lexicon.keywords(emoji, (rng.choice(locales),))
    phrase = rng.choice(words) if words else ""
    extra = rng.choice(NOISE_WORDS) if rng.random() < 0.4 else ""
    junk = "".join(rng.choices(LETTERS, k=rng.randint(3, 8))) if rng.random() < 0.3 else ""
    return _misread(rng, " ".join(w for w in (extra, phrase, junk) if w))


def _file_name(rng: random.Random, lexicon: Lexicon, emoji: str, n: int) -> str:
    if rng.random() < WORDY_FILE_SHARE:
        words = lexicon.label(emoji, "en").replace(":", "").split()
        return f"{'_'.join(words[:3])}-{n % 100:02d}.webp"
    return f"{hashlib.sha1(f'f{n}'.encode()).hexdigest()[:20]}.webp"


def make_corpus(size: int, locales: Sequence[str], seed: int = 0) -> Corpus:
    """`size` stickers in packs of 24-120, one emoji each, drawn from the sticker emoji pool."""
    rng = random.Random(seed)
    lexicon = Lexicon(locales)
    pool = sticker_emoji(lexicon)
    weights = [1.0 / (rank + 1) ** 0.7 for rank in range(len(pool))]  # some emoji are popular
    rng.shuffle(pool)
    packs = _packs(rng, lexicon, pool, size)
    stickers = []
    for n, emoji in enumerate(rng.choices(pool, weights, k=size)):
        pack = packs[min(n * len(packs) // size, len(packs) - 1)]
        stickers.append(
            SynthSticker(
                n + 1,
                emoji,
                pack.id,
                pack.style,
                _ocr(rng, lexicon, emoji, locales),
                _file_name(rng, lexicon, emoji, n),
            )
        )
    corpus = Corpus(tuple(locales), packs, stickers, _keyword_sets(lexicon, pool))
    for emoji, words in corpus.keywords.items():
        for word in words:
            corpus.by_keyword.setdefault(word, set()).add(emoji)
    by_emoji: dict[str, list[int]] = defaultdict(list)
    for st in stickers:
        by_emoji[st.emoji].append(st.id)
    corpus.by_emoji = dict(by_emoji)
    return corpus


def query_pool(corpus: Corpus, seed: int = 0) -> list[tuple[str, str]]:
    """Every (locale, keyword) whose relevant stickers exist, shuffled."""
    lexicon = Lexicon(corpus.locales)
    found: dict[tuple[str, str], None] = {}
    for emoji in corpus.by_emoji:
        for locale in corpus.locales:
            for word in lexicon.keywords(emoji, (locale,)):
                text = normalize(word)
                if text and len(text) <= 40:
                    found[(locale, text)] = None
    pool = sorted(found)
    random.Random(seed).shuffle(pool)
    return pool


def add_users(
    corpus: Corpus, users: int, training: Sequence[tuple[str, str]], seed: int = 0
) -> None:
    """Users who each prefer one style; half have 10-30 picks of relevant stickers in it."""
    rng = random.Random(seed)
    by_style: dict[tuple[str, int], list[int]] = defaultdict(list)
    for st in corpus.stickers:
        by_style[(st.emoji, st.style)].append(st.id)
    now = datetime.now(UTC)
    for u in range(users):
        user = f"bench:{u}"
        style = corpus.user_styles[user] = rng.randrange(STYLES)
        if u % 2:
            continue  # no history: global ranking
        for _ in range(rng.randint(10, 30)):
            _locale, text = rng.choice(training)
            emoji = rng.choice(sorted(corpus.by_keyword[text] & corpus.by_emoji.keys()))
            ids = by_style.get((emoji, style)) or corpus.by_emoji[emoji]
            at = now - timedelta(hours=rng.uniform(0, 24 * 60))
            corpus.picks.append(SynthPick(user, rng.choice(ids), text, at))


def users_of(corpus: Corpus) -> list[str]:
    """The simulated users, those with histories first."""
    with_history = sorted({p.user for p in corpus.picks})
    return with_history + sorted(set(corpus.user_styles) - set(with_history))


def assign_users(
    texts: Sequence[tuple[str, str]], users: Sequence[str], seed: int
) -> list[SynthQuery]:
    """Each query typed by a random user."""
    rng = random.Random(seed)
    return [SynthQuery(loc, text, rng.choice(users)) for loc, text in texts]
