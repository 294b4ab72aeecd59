"""VLM answers parsing, prompt, settings, and the transformers backend on a tiny random LLaVA."""

import random
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from pydantic import ValidationError

from engine.errors import ConfigError
from engine.understanding.vlm import (
    MAX_ANSWER_CHARS,
    TransformersVlmAnnotator,
    VlmAnnotation,
    VlmFields,
    VlmSettings,
    build_prompt,
    make_vlm_annotator,
    max_keywords_for,
    parse_vlm_output,
    png_data_url,
    to_rgb,
)

# --- parsing: answers as real VLMs write them ---------------------------------------------------

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


# --- prompt, annotation and settings -------------------------------------------------------------


def test_prompt_asks_for_strict_json_in_the_configured_languages() -> None:
    english = build_prompt("English")
    assert '{"keywords": [' in english and '"emotion"' in english
    assert "5 to 10" in english and "in English" in english
    several = build_prompt(("English", "Japanese"))
    assert "English, Japanese" in several
    assert max_keywords_for(("English", "Japanese")) == 2 * max_keywords_for("English")


def test_annotation_maps_to_document_fields() -> None:
    annotation = VlmAnnotation(["hi", "hello"], "a wave", "warm", "m", "raw")
    assert annotation.document_fields() == {
        "vlm_keywords": ["hi", "hello"],
        "vlm_description": "a wave",
        "vlm_emotion": "warm",
    }
    assert not annotation.empty and VlmAnnotation([], "", "", "m", "junk").empty


def test_transparent_stickers_are_put_on_white() -> None:
    clear = Image.new("RGBA", (4, 4), (0, 0, 0, 0))
    assert to_rgb(clear).getpixel((0, 0)) == (255, 255, 255)
    assert png_data_url(clear).startswith("data:image/png;base64,")


def test_settings_are_frozen_and_strict() -> None:
    settings = VlmSettings()
    assert settings.backend == "none" and make_vlm_annotator(settings) is None
    with pytest.raises(ValidationError):
        VlmSettings(backend="gpt")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        VlmSettings(unknown=1)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        VlmSettings(batch_size=0)
    with pytest.raises(ValidationError):
        settings.model = "x"


def test_backends_need_a_model() -> None:
    for backend in ("transformers", "openai"):
        with pytest.raises(ConfigError, match="model"):
            make_vlm_annotator(VlmSettings(backend=backend))


def test_version_follows_model_adapter_and_prompt(tmp_path: Path) -> None:
    def version(**options: Any) -> str:
        return TransformersVlmAnnotator(str(tmp_path / "m"), **options).version

    base = version()
    assert str(tmp_path / "m") in base and base == version()
    assert version(keyword_language="German") != base
    assert version(adapter=str(tmp_path / "lora")) != base
    assert str(tmp_path / "lora") in version(adapter=str(tmp_path / "lora"))


def test_adapter_without_peft_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "peft", None)  # how Python marks a module as unimportable
    with pytest.raises(ConfigError, match="peft"):
        TransformersVlmAnnotator(str(tmp_path), adapter=str(tmp_path / "lora"))
    assert TransformersVlmAnnotator(str(tmp_path)).name == str(tmp_path)  # no adapter: fine


def test_nothing_to_annotate_loads_nothing(tmp_path: Path) -> None:
    assert TransformersVlmAnnotator(str(tmp_path / "missing")).annotate([]) == []


def test_missing_model_is_a_config_error(tmp_path: Path) -> None:
    vlm = TransformersVlmAnnotator(str(tmp_path / "missing"), device="cpu")
    with pytest.raises(ConfigError, match="cannot load the VLM"):
        vlm.annotate([Image.new("RGB", (8, 8))])


# --- the transformers backend on a tiny random LLaVA ---------------------------------------------

IMAGE_TOKEN = "<image>"
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] | upper }}: "
    "{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}\n{% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
CORPUS = [
    "a happy cat waves hello",
    "a sad dog is crying",
    'keywords description emotion {"json": ["list"]}',
    "USER: ASSISTANT: thumbs up, love, angry, sleepy",
]


def tiny_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on a few sentences, with LLaVA's image token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", IMAGE_TOKEN]
    core = Tokenizer(models.BPE(unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    core.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": IMAGE_TOKEN},
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_llava(tokenizer: Any) -> Any:
    """A randomly initialised LLaVA: a 1-layer CLIP vision tower and a 1-layer Llama."""
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    vision = CLIPVisionConfig(
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=16,
        patch_size=8,
        projection_dim=16,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=tokenizer.convert_tokens_to_ids(IMAGE_TOKEN),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    return LlavaForConditionalGeneration(config)


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny LLaVA with its processor, saved as a local checkpoint directory."""
    from transformers import CLIPImageProcessor, LlavaProcessor

    tokenizer = tiny_tokenizer()
    processor = LlavaProcessor(  # type: ignore[no-untyped-call]
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token
        chat_template=CHAT_TEMPLATE,
    )
    path = tmp_path_factory.mktemp("tiny-llava")
    tiny_llava(tokenizer).save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def lora_dir(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA adapter with non-zero weights, trained on nothing, for the tiny LLaVA."""
    peft = pytest.importorskip("peft")
    import torch
    from transformers import LlavaForConditionalGeneration

    base = LlavaForConditionalGeneration.from_pretrained(tiny_vlm_dir)
    torch.manual_seed(1)
    config = peft.LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    path = tmp_path_factory.mktemp("tiny-lora")
    peft.get_peft_model(base, config).save_pretrained(path)
    return path


def stickers(count: int) -> list[Image.Image]:
    """Distinct small RGBA images, one of them mostly transparent."""
    colors = [(250, 20, 20, 255), (20, 250, 20, 255), (20, 20, 250, 40), (200, 200, 0, 255)]
    return [Image.new("RGBA", (20 + 4 * i, 24), colors[i % 4]) for i in range(count)]


def test_tiny_llava_annotates_each_image_in_batches(tiny_vlm_dir: Path) -> None:
    settings = VlmSettings(
        backend="transformers",
        model=str(tiny_vlm_dir),
        device="auto",
        dtype="float32",
        batch_size=2,
        max_new_tokens=8,
    )
    vlm = make_vlm_annotator(settings)
    assert isinstance(vlm, TransformersVlmAnnotator)
    assert str(tiny_vlm_dir) in vlm.version
    results = vlm.annotate(stickers(3))
    assert len(results) == 3
    for result in results:
        assert isinstance(result, VlmAnnotation)
        assert result.model == str(tiny_vlm_dir)
        assert isinstance(result.raw, str)  # random weights: random text
        assert all(isinstance(k, str) and k == k.lower() for k in result.keywords)
        assert isinstance(result.description, str) and isinstance(result.emotion, str)
    # Batching (with left padding) must not change what each image gets.
    single = TransformersVlmAnnotator(
        str(tiny_vlm_dir), device="cpu", batch_size=1, max_new_tokens=8
    )
    assert [r.raw for r in single.annotate(stickers(3))] == [r.raw for r in results]


def test_loading_is_lazy_and_shared_between_threads(tiny_vlm_dir: Path) -> None:
    vlm = TransformersVlmAnnotator(str(tiny_vlm_dir), device="cpu", max_new_tokens=4)
    results: list[list[VlmAnnotation]] = []
    threads = [
        threading.Thread(target=lambda: results.append(vlm.annotate(stickers(1)))) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and len({r[0].raw for r in results}) == 1


def test_lora_adapter_changes_the_model(tiny_vlm_dir: Path, lora_dir: Path) -> None:
    images = stickers(2)
    base = TransformersVlmAnnotator(str(tiny_vlm_dir), device="cpu", max_new_tokens=8)
    tuned = TransformersVlmAnnotator(
        str(tiny_vlm_dir), adapter=str(lora_dir), device="cpu", max_new_tokens=8
    )
    assert str(lora_dir) in tuned.version and tuned.version != base.version
    tuned_results = tuned.annotate(images)
    assert len(tuned_results) == 2
    assert [r.raw for r in tuned_results] != [r.raw for r in base.annotate(images)]


def test_adapter_for_other_layers_is_refused(
    lora_dir: Path, tiny_vlm_dir: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file, save_file

    # The same adapter with its weights renamed, as if trained on another LLaVA code base.
    weights = load_file(lora_dir / "adapter_model.safetensors")
    renamed = {k.replace("language_model", "llm"): v for k, v in weights.items()}
    (tmp_path / "adapter_config.json").write_text((lora_dir / "adapter_config.json").read_text())
    save_file(renamed, tmp_path / "adapter_model.safetensors")
    vlm = TransformersVlmAnnotator(str(tiny_vlm_dir), adapter=str(tmp_path), device="cpu")
    with pytest.raises(ConfigError, match="does not fit the model"):
        vlm.annotate(stickers(1))
