"""The tolerant parser on answers as real VLMs write them: JSON, labelled lines, lists, noise."""

import random

import pytest

from engine.understanding.vlm import VlmFields, parse_vlm_output
from engine.understanding.vlm.parse import MAX_ANSWER_CHARS

JSON_CASES = [
    pytest.param(
        '{"keywords": ["Happy", "joy", "LOL!"], "description": "A cat laughing.", '
        '"emotion": "Joy"}',
        VlmFields(["happy", "joy", "lol"], "A cat laughing.", "joy"),
        id="strict-json",
    ),
    pytest.param(
        'Sure! Here is the JSON:\n```json\n{"keywords": ["happy", "smile"], '
        '"description": "a smiling dog", "emotion": "happy"}\n```\nLet me know if you need more.',
        VlmFields(["happy", "smile"], "a smiling dog", "happy"),
        id="fenced-with-prose",
    ),
    pytest.param(
        '```\n{"keywords": ["ok",], "description": "thumbs up", "emotion": "calm",}\n```',
        VlmFields(["ok"], "thumbs up", "calm"),
        id="trailing-commas-plain-fence",
    ),
    pytest.param(
        "{'keywords': ['sad', \"don't cry\"], 'description': 'A crying frog', 'emotion': 'sad'}",
        VlmFields(["sad", "don't cry"], "A crying frog", "sad"),
        id="single-quotes",
    ),
    pytest.param(
        '{"keywords": ["bye"], "description": "waving", "emotion": "warm"} I hope {this} helps',
        VlmFields(["bye"], "waving", "warm"),
        id="trailing-text-with-braces",
    ),
    pytest.param(
        "{“keywords”: [“hi”, “hello”], “description”: “a wave”, “emotion”: “friendly”}",
        VlmFields(["hi", "hello"], "a wave", "friendly"),
        id="curly-quotes",
    ),
    pytest.param(
        '{"keywords": ["happy", "joy", "smi',
        VlmFields(["happy", "joy"], "", ""),
        id="truncated-mid-list",
    ),
    pytest.param(
        '```json\n{"keywords": ["love", "hug"], "description": "two bears hugging", "emo',
        VlmFields(["love", "hug"], "two bears hugging", ""),
        id="truncated-unclosed-fence",
    ),
    pytest.param(
        '{"Keywords": "angry, mad; furious", "Description": ["An angry", "cat"], '
        '"Emotions": ["anger", "rage"]}',
        VlmFields(["angry", "mad", "furious"], "An angry cat", "anger"),
        id="string-keywords-list-fields-capitalised",
    ),
    pytest.param(
        '{"result": {"tags": ["ok"], "caption": "fine", "mood": "neutral"}}',
        VlmFields(["ok"], "fine", "neutral"),
        id="nested-with-aliases",
    ),
    pytest.param(
        '[{"search_keywords": ["yay"], "summary": "party", "feeling": "excited"}]',
        VlmFields(["yay"], "party", "excited"),
        id="list-of-object",
    ),
    pytest.param(
        '["love", "heart", "kiss"]', VlmFields(["love", "heart", "kiss"], "", ""), id="json-list"
    ),
    pytest.param(
        '{"keywords": ["😂", "lol", "LOL", "lol.", "  Lol  "], '
        '"description": null, "emotion": null}',
        VlmFields(["😂", "lol"], "", ""),
        id="dedupe-and-nulls",
    ),
    pytest.param(
        '{"keywords": ["Happy_Face", "face-palm", "—", "...", "#blessed", "1. first"]}',
        VlmFields(["happy face", "face-palm", "blessed", "first"], "", ""),
        id="punctuation-and-bullets",
    ),
]

LINE_CASES = [
    pytest.param(
        "Keywords: happy, joyful, thumbs up; Description: A cat giving a thumbs up; Emotion: Happy",
        VlmFields(["happy", "joyful", "thumbs up"], "A cat giving a thumbs up", "happy"),
        id="one-line-semicolons",
    ),
    pytest.param(
        "**Keywords:**\n- hello\n- hi there\n- waving\n\n**Description:** A bear waving hello.\n"
        "**Emotion:** friendly",
        VlmFields(["hello", "hi there", "waving"], "A bear waving hello.", "friendly"),
        id="markdown-bullets",
    ),
    pytest.param(
        "1. Keywords: sleepy, tired, good night\n2. Description: A cat yawning in bed\n"
        "3. Emotion: sleepy\n\nThese keywords capture the mood.",
        VlmFields(["sleepy", "tired", "good night"], "A cat yawning in bed", "sleepy"),
        id="numbered-lines-with-epilogue",
    ),
    pytest.param(
        "keywords: 开心, 高兴、快乐；description: 一只开心的猫; emotion: 开心",
        VlmFields(["开心", "高兴", "快乐"], "一只开心的猫", "开心"),
        id="chinese-separators",
    ),
    pytest.param(
        "Emotion: Happy and excited\nKeywords: party | celebrate | yay",
        VlmFields(["party", "celebrate", "yay"], "", "happy"),
        id="emotion-first-pipes",
    ),
    pytest.param(
        "Description: A frog shrugging\nKeywords:\n\n- whatever\n- shrug\n\n"
        "These keywords reflect the indifferent mood of the sticker.",
        VlmFields(["whatever", "shrug"], "A frog shrugging", ""),
        id="keywords-last-with-epilogue",
    ),
    pytest.param(
        "Tags = omg, shocked\nCaption = a surprised face",
        VlmFields(["omg", "shocked"], "a surprised face", ""),
        id="equals-aliases",
    ),
]

LIST_CASES = [
    pytest.param("happy, smile, good mood, yay", ["happy", "smile", "good mood", "yay"], id="csv"),
    pytest.param(
        "1. happy\n2. joyful\n3. cheerful", ["happy", "joyful", "cheerful"], id="numbered"
    ),
    pytest.param("#happy #joy #smile", ["happy", "joy", "smile"], id="hashtags"),
    pytest.param(
        "- thanks\n- thank you\n- grateful", ["thanks", "thank you", "grateful"], id="dash"
    ),
]

GARBAGE = [
    "",
    "   \n\t ",
    "�tworl�_�u",
    "{}",
    "[]",
    "null",
    "42",
    "[[[[[[[[[[",
    "{" * 5000,
    "[" * 50_000,
    '{"a": 1, "b": [2, 3]}',
    "The sticker shows a cat sitting on a chair and looking at the camera.",
    "I'm sorry, I can't help with that.",
    '{"keywords": 12}',
    '{"keywords": [{"x": 1}, null, true], "description": {}, "emotion": []}',
    "\x00\x01\x02\ufeff",
    "```",
    "```json\n```",
    "Keywords:",
    "Keywords: ...; Description: ; Emotion: !!!",
]


@pytest.mark.parametrize(("text", "expected"), JSON_CASES)
def test_parses_json_answers(text: str, expected: VlmFields) -> None:
    assert parse_vlm_output(text) == expected


@pytest.mark.parametrize(("text", "expected"), LINE_CASES)
def test_parses_labelled_answers(text: str, expected: VlmFields) -> None:
    assert parse_vlm_output(text) == expected


@pytest.mark.parametrize(("text", "keywords"), LIST_CASES)
def test_parses_bare_lists(text: str, keywords: list[str]) -> None:
    assert parse_vlm_output(text) == VlmFields(keywords, "", "")


@pytest.mark.parametrize("text", GARBAGE)
def test_garbage_gives_empty_fields(text: str) -> None:
    assert parse_vlm_output(text) == VlmFields()


def test_random_noise_never_raises() -> None:
    rng = random.Random(7)
    alphabet = "{}[]\"',:;\n `*#-_.abcXYZ开心😂\ufffd\\/|=（）"
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))
        fields = parse_vlm_output(text)
        assert all(k and k == k.lower() for k in fields.keywords)


def test_caps_keyword_count_and_length() -> None:
    words = [f"word{i}" for i in range(30)]
    long = "a very long keyword that goes on and on and on past the limit of forty characters"
    fields = parse_vlm_output(str({"keywords": [long, *words]}), max_keywords=5)
    assert len(fields.keywords) == 5
    assert fields.keywords[0] == "a very long keyword that goes on and on"
    assert all(len(k) <= 40 for k in fields.keywords)
    assert parse_vlm_output('{"keywords": ["' + "x" * 99 + '"]}').keywords == ["x" * 40]


def test_caps_description_to_one_short_line() -> None:
    text = '{"description": "' + "word " * 200 + '"}'
    assert len(parse_vlm_output(text).description) <= 300
    labelled = "Description: A dog.\nIt is really cute, isn't it?"
    assert parse_vlm_output(labelled).description == "A dog."


def test_runaway_answers_are_cut_before_parsing() -> None:
    answer = '{"keywords": ["ok"]}' + " " * MAX_ANSWER_CHARS + "Emotion: late"
    assert parse_vlm_output(answer) == VlmFields(["ok"], "", "")
