"""`stickerbot demo` runs offline on the bundled sample and draws its contact sheet."""

import sys
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main
from bot.demo import QUERIES, THUMB, USERS


def test_demo_prints_results_and_writes_contact_sheet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sheet.png"
    argv = ["stickerbot", "demo", "--out", str(out), "--demo-dir", str(tmp_path / "lib")]
    old, sys.argv = sys.argv, argv
    try:
        main()
    finally:
        sys.argv = old
    printed = capsys.readouterr().out
    assert "sample pack: 125 added" in printed
    results = [line for line in printed.splitlines() if "->" in line]
    assert len(results) == len(USERS) * len(QUERIES)
    sad = next(line for line in printed.splitlines() if "traurig" in line)
    assert sad.split("->")[1].split()[0].startswith(("😢", "😭"))
    cat = next(line for line in printed.splitlines() if " 猫 " in line)
    assert cat.split("->")[1].split()[0].startswith(("🐱", "🐈"))
    # Same relevance, each user's own style first: alice and bob see different top stickers.
    firsts = {line.split()[0]: line.split("->")[1].split()[0] for line in results if " 猫 " in line}
    assert firsts["demo:alice"].endswith("(fluent-3d)")
    assert firsts["demo:bob"].endswith("(openmoji-color)")
    # The empty query shows each user's own history: alice's and bob's styles differ.
    recents = [line for line in printed.splitlines() if "(empty)" in line]
    assert len(recents) == len(USERS) and recents[0].split("->")[1] != recents[1].split("->")[1]
    with Image.open(out) as sheet:
        assert sheet.height >= len(USERS) * len(QUERIES) * THUMB
