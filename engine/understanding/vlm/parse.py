"""The tolerant parser: real VLMs wrap, truncate and misquote the JSON they are asked for."""

import ast
import json
import re
import unicodedata
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from engine.understanding.vlm.prompt import KEYWORDS_PER_LANGUAGE
from engine.understanding.vlm.types import VlmAnnotation, VlmFields

MAX_KEYWORD_CHARS = 40
MAX_DESCRIPTION_CHARS = 300
MAX_EMOTION_CHARS = 32
# A VLM answer is a few hundred characters; the cap bounds parsing time on runaway output.
MAX_ANSWER_CHARS = 20_000

_ALIASES = {
    **dict.fromkeys(
        ("keywords", "keyword", "tags", "tag", "search keywords", "queries", "search queries"),
        "keywords",
    ),
    **dict.fromkeys(("description", "desc", "caption", "summary"), "description"),
    **dict.fromkeys(("emotion", "emotions", "feeling", "feelings", "mood"), "emotion"),
}
_LABEL = re.compile(
    r"(?i)(?<!\w)[\"']?(search[ _]keywords|search[ _]queries|keywords?|tags?|queries"
    r"|description|desc|caption|summary|emotions?|feelings?|mood)[\"']?\**\s*[:：=]"
)
_FENCE = re.compile(r"```[A-Za-z]*[ \t]*\n?(.*?)(?:```|$)", re.S)
_JSON_STRING = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_FENCE_MARK = re.compile(r"```[A-Za-z]*")
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_KEYWORD_SEP = re.compile(r"[,;\n|，、；]|\s+/\s+|\s+(?=#)")
_BULLET = re.compile(r"^\s*(?:[-*•·+>]+|\d{1,2}[.)]|#+)\s*")
_EMOTION_SEP = re.compile(r"[,;/(\n，、]|\s(?:and|or)\s")
_EDGE_JUNK = " \t\r\n\"'`*{}[],;|"
_PARSE_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)


def parse_vlm_output(
    text: str, max_keywords: int = KEYWORDS_PER_LANGUAGE, max_keyword_chars: int = MAX_KEYWORD_CHARS
) -> VlmFields:
    """Parse a VLM answer (JSON, labelled lines or a bare list) into clean fields; never raises."""
    text = text[:MAX_ANSWER_CHARS].replace("“", '"').replace("”", '"')
    raw = _json_fields(text) or _labelled_fields(text) or _bare_list_fields(text) or {}
    keywords = _dedupe(_clean_keyword(k, max_keyword_chars) for k in _keyword_items(raw))
    return VlmFields(
        keywords=keywords[:max_keywords],
        description=_clean_description(raw.get("description")),
        emotion=_clean_emotion(raw.get("emotion")),
    )


def _json_candidates(text: str) -> Iterator[str]:
    # Fenced blocks first: prose around them may hold braces of its own.
    for body in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        start = body.find("{")
        if start < 0 and body.lstrip().startswith("["):
            start = body.find("[")
        if start >= 0:
            yield body[start:]


def _load_json_like(candidate: str) -> Any:
    try:
        return json.JSONDecoder().raw_decode(candidate)[0]  # ignores text after the object
    except _PARSE_ERRORS:
        pass
    end = candidate.rfind("}" if candidate.startswith("{") else "]")
    body = _TRAILING_COMMA.sub(r"\1", candidate[: end + 1])
    # literal_eval reads the single-quoted Python dicts that some models write; it runs no code.
    for loader in (json.loads, ast.literal_eval):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # literal_eval warns on odd escapes in noise
                return loader(body)
        except _PARSE_ERRORS:
            continue
    return None


def _known_fields(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            return _known_fields(value[0])  # [{"keywords": ...}]
        return {"keywords": value} if value else {}
    if not isinstance(value, dict):
        return {}
    found: dict[str, Any] = {}
    for key, item in value.items():
        name = _ALIASES.get(_label_key(str(key)))
        if name is not None:
            found.setdefault(name, item)
    nested = (v for v in value.values() if isinstance(v, dict))
    return found or next((f for f in map(_known_fields, nested) if f), {})  # {"sticker": {...}}


def _label_key(label: str) -> str:
    return " ".join(label.lower().replace("_", " ").replace("-", " ").split())


def _json_fields(text: str) -> dict[str, Any] | None:
    for candidate in _json_candidates(text):
        found = _known_fields(_load_json_like(candidate))
        if found:
            return found
    return None


def _labelled_fields(text: str) -> dict[str, Any] | None:
    """`Keywords: a, b; Description: ...` in any layout; also rescues truncated JSON."""
    matches = list(_LABEL.finditer(text))
    if not matches:
        return None
    found: dict[str, Any] = {}
    for match, following in zip(matches, [*matches[1:], None], strict=True):
        end = following.start() if following is not None else len(text)
        value = text[match.end() : end]
        if '"' in match.group(0):  # a JSON key: its string value ends at the closing quote
            value = _leading_json_string(value) or value
        else:  # a paragraph break ends a field: what follows is the model's chatter
            value = _PARAGRAPH_BREAK.split(value.strip(), maxsplit=1)[0]
        found.setdefault(_ALIASES[_label_key(match.group(1))], value)
    return found


def _leading_json_string(text: str) -> str | None:
    match = _JSON_STRING.match(text)
    if match is None:
        return None
    try:
        return str(json.loads(match.group(0).strip()))
    except _PARSE_ERRORS:
        return match.group(1)


def _bare_list_fields(text: str) -> dict[str, Any] | None:
    if "{" in text or ":" in text:
        return None
    items = [item for item in _KEYWORD_SEP.split(_FENCE_MARK.sub("\n", text)) if item.strip()]
    # A list of short phrases, not prose and not one run of garbage tokens.
    if len(items) < 2 or any(len(item.split()) > 4 for item in items):
        return None
    return {"keywords": items}


def _keyword_items(raw: dict[str, Any]) -> list[str]:
    value = raw.get("keywords")
    if isinstance(value, str):
        items = _KEYWORD_SEP.split(value)
        if "[" in value and "]" not in value:
            items = items[:-1]  # a list cut off by max_new_tokens: its last word is likely partial
        return items
    if isinstance(value, list | tuple):
        scalars = [str(v) for v in value if _is_scalar(v)]
        return [part for item in scalars for part in _KEYWORD_SEP.split(item)]
    return []


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


def _keep_char(char: str) -> bool:
    if char in "'-":
        return True
    return char != "\ufffd" and not unicodedata.category(char).startswith(("P", "Cc", "Cs", "Cn"))


def _meaningful(text: str) -> bool:
    return any(c.isalnum() or unicodedata.category(c) == "So" for c in text)


def _truncate(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    if text[max_chars] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]  # do not leave half a word
    return cut.strip()


def _clean_keyword(item: str, max_chars: int) -> str:
    """Lowercase, NFKC, bullets and punctuation gone (inner apostrophes and hyphens kept)."""
    text = unicodedata.normalize("NFKC", item).lower().replace("’", "'")
    text = _BULLET.sub("", text.strip(_EDGE_JUNK))
    text = " ".join("".join(c if _keep_char(c) else " " for c in text).split()).strip("'- ")
    return _truncate(text, max_chars) if _meaningful(text) else ""


def _dedupe(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(item for item in items if item))


def _first_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = next((v for v in value if _is_scalar(v)), "")
    return str(value) if _is_scalar(value) else ""


def _clean_description(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value if isinstance(v, str))
    text = unicodedata.normalize("NFKC", _first_text(value)).strip(_EDGE_JUNK)
    lines = [line for line in text.splitlines() if line.strip(_EDGE_JUNK)]
    line = " ".join(lines[0].split()).strip(_EDGE_JUNK) if lines else ""
    return _truncate(line, MAX_DESCRIPTION_CHARS) if _meaningful(line) else ""


def _clean_emotion(value: Any) -> str:
    text = _first_text(value).strip(_EDGE_JUNK)
    first = _EMOTION_SEP.split(text, maxsplit=1)[0] if text else ""
    return _clean_keyword(first, MAX_EMOTION_CHARS)


def to_annotation(text: str, model: str, max_keywords: int) -> VlmAnnotation:
    """The annotation of one raw answer, parsed; the raw text is kept beside the fields."""
    fields = parse_vlm_output(text, max_keywords=max_keywords)
    return VlmAnnotation(fields.keywords, fields.description, fields.emotion, model, text)
