"""OCR: the RapidOCR reader with the models from its wheel, on rendered text and dev stickers."""

import json
import socket
import threading
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from pydantic import ValidationError

from engine.errors import ConfigError, MediaError
from engine.understanding.ocr import (
    OcrLine,
    OcrResult,
    OcrSettings,
    RapidOcrReader,
    TextReader,
    flatten,
    light_edged,
)

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CJK_FONTS = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
]
DEV_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "stickers-dev"
Color = tuple[int, int, int, int]
BLACK: Color = (0, 0, 0, 255)
WHITE: Color = (255, 255, 255, 255)


def font(path: Path, size: int = 72) -> ImageFont.FreeTypeFont:
    """A TrueType font, or skip the test when the machine lacks it."""
    if not path.is_file():
        pytest.skip(f"font not installed: {path}")
    return ImageFont.truetype(str(path), size)


def sticker(text: str, face: ImageFont.FreeTypeFont, fill: Color = BLACK) -> Image.Image:
    """Text drawn on a transparent 512x512 canvas, centred, as a text sticker looks."""
    image = Image.new("RGBA", (512, 512), (0, 0, 0, 0))
    ImageDraw.Draw(image).multiline_text(
        (256, 256), text, font=face, fill=fill, anchor="mm", align="center"
    )
    return image


@pytest.fixture(scope="module")
def reader() -> RapidOcrReader:
    """One reader for the module: its models load once, on the first read."""
    return RapidOcrReader()


def test_reader_is_a_text_reader_naming_its_models(reader: RapidOcrReader) -> None:
    typed: TextReader = reader  # mypy checks the structural match
    assert typed.read(Image.new("RGB", (64, 64), "white")).text == ""
    assert reader.model_name.startswith("rapidocr-3.")
    assert "PP-OCRv6_det_small+PP-OCRv6_rec_small" in reader.model_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Good morning", "good morning"), ("LOL 2024", "lol 2024"), ("Ça va? Über!", "ça va")],
)
def test_reads_rendered_latin_text(reader: RapidOcrReader, text: str, expected: str) -> None:
    result = reader.read(sticker(text, font(DEJAVU)))
    assert expected in result.text.casefold()
    assert all(0.0 <= line.score <= 1.0 for line in result.lines)


def test_reads_two_lines_in_reading_order(reader: RapidOcrReader) -> None:
    result = reader.read(sticker("HAPPY\nFRIDAY", font(DEJAVU)))
    assert result.text.casefold().split() == ["happy", "friday"]


def test_reads_small_sticker_after_upscaling(reader: RapidOcrReader) -> None:
    small = sticker("OK BYE", font(DEJAVU, 110)).resize((96, 96), Image.Resampling.LANCZOS)
    assert "ok bye" in reader.read(small).text.casefold()


@pytest.mark.xfail(
    strict=True,
    reason="the PP-OCRv6 recogniser in the rapidocr wheel has no Cyrillic; Cyrillic needs a "
    "downloaded PP-OCRv5 cyrillic/eslav model set as OcrSettings.rec_model_path",
)
def test_reads_rendered_cyrillic_text(reader: RapidOcrReader) -> None:
    assert "привет" in reader.read(sticker("Привет", font(DEJAVU))).text.casefold()


def test_reads_rendered_cjk_text(reader: RapidOcrReader) -> None:
    path = next((Path(p) for p in CJK_FONTS if Path(p).is_file()), None)
    if path is None:
        pytest.skip("no CJK font installed (apt: fonts-noto-cjk); dev-sticker tests cover CJK")
    assert "早上好" in reader.read(sticker("早上好", font(path))).text


def test_light_text_on_transparency_is_read_on_black(reader: RapidOcrReader) -> None:
    image = sticker("NICE", font(DEJAVU, 96), fill=WHITE)
    assert light_edged(image)
    assert flatten(image).getpixel((0, 0)) == (0, 0, 0)
    assert "nice" in reader.read(image).text.casefold()


def test_dark_text_is_composited_on_white() -> None:
    image = sticker("NICE", font(DEJAVU, 96))
    assert not light_edged(image)
    assert flatten(image).getpixel((0, 0)) == (255, 255, 255)
    assert flatten(image, "black").getpixel((0, 0)) == (0, 0, 0)


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGBA", (512, 512), (0, 0, 0, 0)),
        Image.new("RGB", (512, 512), "white"),
        Image.new("RGBA", (128, 128), (200, 40, 40, 255)),
    ],
    ids=["transparent", "white", "red"],
)
def test_blank_image_yields_no_text(reader: RapidOcrReader, image: Image.Image) -> None:
    result = reader.read(image)
    assert result.text == ""
    assert result.lines == ()


def test_empty_image_is_a_media_error(reader: RapidOcrReader) -> None:
    with pytest.raises(MediaError, match="empty image"):
        reader.read(Image.new("RGBA", (0, 0)))


def test_concurrent_first_reads_agree() -> None:
    fresh = RapidOcrReader()  # not yet loaded: the threads race to load it
    image = sticker("SOS", font(DEJAVU, 120))
    texts: list[str] = []

    def work() -> None:
        texts.append(fresh.read(image).text)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert texts == ["SOS"] * 3


def test_result_text_applies_both_thresholds() -> None:
    lines = (OcrLine("HELLO", 0.85), OcrLine("G", 0.85), OcrLine("月", 0.95), OcrLine("xx", 0.5))
    result = OcrResult(lines, min_score=0.8, min_score_single_char=0.9)
    assert result.text == "HELLO 月"
    assert OcrResult(lines).text == "HELLO G 月 xx"
    assert OcrResult().text == ""


def test_models_load_from_the_wheel_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("OCR tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    offline = RapidOcrReader()
    assert offline.read(sticker("OFFLINE", font(DEJAVU))).text == "OFFLINE"


def test_reader_applies_configured_thresholds() -> None:
    strict = RapidOcrReader(OcrSettings(min_score=0.3, min_score_single_char=0.4))
    image = sticker("OK", font(DEJAVU, 120))
    result = strict.read(image)
    assert (result.min_score, result.min_score_single_char) == (0.3, 0.4)
    assert result.text == "OK"


def test_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        RapidOcrReader(OcrSettings(rec_model_path=tmp_path / "cyrillic_rec.onnx"))


def test_settings_are_frozen_and_strict() -> None:
    settings = OcrSettings()
    assert (settings.min_score, settings.min_score_single_char) == (0.8, 0.9)
    with pytest.raises(ValidationError):
        OcrSettings(min_sore=0.5)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        OcrSettings(min_score=1.5)
    with pytest.raises(ValidationError):
        settings.min_score = 0.1


# --- real dev stickers: text-bearing emoji, and pictures that must not produce text ----------

DEV_TEXT = [
    ("1F197", "google", "OK"),
    ("1F198", "twitter", "SOS"),
    ("1F3E7", "fluent-flat", "ATM"),
    ("0037-20E3", "openmoji-color", "7"),
    ("3297", "google", "祝"),
    ("1F237", "fluent-3d", "月"),
    ("1F22F", "twitter", "指"),
]
DEV_PICTURES = [
    ("1F600", "google"),
    ("1F602", "twitter"),
    ("1F622", "fluent-flat"),
    ("1F431", "openmoji-color"),
    ("1F436", "fluent-3d"),
]


@pytest.fixture(scope="module")
def dev_files() -> dict[tuple[str, str], Path]:
    """(hexcode, style) -> sticker file of the shared dev data."""
    manifest = DEV_DIR / "manifest.jsonl"
    if not manifest.is_file():
        pytest.skip(f"dev data not found at {DEV_DIR}")
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    return {(r["hexcode"], r["style"]): DEV_DIR / r["file"] for r in rows}


@pytest.mark.parametrize(
    ("hexcode", "style", "expected"), DEV_TEXT, ids=[f"{h}-{s}" for h, s, _ in DEV_TEXT]
)
def test_reads_dev_text_stickers(
    reader: RapidOcrReader,
    dev_files: dict[tuple[str, str], Path],
    hexcode: str,
    style: str,
    expected: str,
) -> None:
    with Image.open(dev_files[hexcode, style]) as image:
        assert expected.casefold() in reader.read(image).text.casefold()


@pytest.mark.parametrize("key", DEV_PICTURES, ids=["-".join(k) for k in DEV_PICTURES])
def test_dev_pictures_yield_no_text(
    reader: RapidOcrReader, dev_files: dict[tuple[str, str], Path], key: tuple[str, str]
) -> None:
    with Image.open(dev_files[key]) as image:
        assert reader.read(image).text == ""
