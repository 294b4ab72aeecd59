"""The transformers VLM backend: its version, its errors, and a tiny random LLaVA end to end."""

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine.errors import ConfigError
from engine.understanding.vlm import (
    TransformersVlmAnnotator,
    VlmAnnotation,
    VlmSettings,
    make_vlm_annotator,
)


def test_version_follows_model_adapter_prompt_and_generation(tmp_path: Path) -> None:
    def version(**options: Any) -> str:
        return TransformersVlmAnnotator(str(tmp_path / "m"), **options).version

    base = version()
    assert str(tmp_path / "m") in base and base == version()
    assert version(keyword_language="German") != base
    assert version(adapter=str(tmp_path / "lora")) != base
    assert str(tmp_path / "lora") in version(adapter=str(tmp_path / "lora"))
    assert version(max_new_tokens=64) != base and version(dtype="bfloat16") != base
    assert version(device="cpu", batch_size=1) == base  # speed, not answers


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
