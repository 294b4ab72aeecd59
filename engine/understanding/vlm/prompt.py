"""The annotation prompt: feeling and intent of a sticker as search keywords, in strict JSON."""

import hashlib

from engine.understanding.vlm.types import KeywordLanguage

# Bump when the prompt's contract or the way answers become fields changes, to re-annotate.
SCHEMA_VERSION = "v1"
KEYWORDS_PER_LANGUAGE = 10


_PROMPT = """This image is a chat sticker. Think about the feeling or intent that a person \
expresses by sending it.
Answer with one strict JSON object and nothing else:
{{"keywords": ["...", "..."], "description": "...", "emotion": "..."}}
- keywords: 5 to 10 short search keywords (1 to 3 words each) {languages} that a person would \
type to find this sticker: its feeling, intent or reaction, and any text written on it.
- description: one line saying what the sticker shows.
- emotion: one word for its main emotion."""


def _languages(keyword_language: KeywordLanguage) -> tuple[str, ...]:
    if isinstance(keyword_language, str):
        return (keyword_language,)
    return tuple(keyword_language) or ("English",)


def build_prompt(keyword_language: KeywordLanguage = "English") -> str:
    """The annotation prompt, asking for keywords in one language or in each of several."""
    languages = _languages(keyword_language)
    if len(languages) == 1:
        where = f"in {languages[0]}"
    else:
        where = f"in each of these languages: {', '.join(languages)}"
    return _PROMPT.format(languages=where)


def max_keywords_for(keyword_language: KeywordLanguage) -> int:
    """How many keywords to keep: the prompt asks for up to 10 per language."""
    return KEYWORDS_PER_LANGUAGE * len(_languages(keyword_language))


def prompt_tag(prompt: str) -> str:
    """A short tag naming the schema version and the exact prompt text."""
    return f"{SCHEMA_VERSION}-{hashlib.sha256(prompt.encode('utf-8')).hexdigest()[:8]}"
