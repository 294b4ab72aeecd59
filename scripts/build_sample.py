"""Copy the demo's sample pack (a few emoji in every style) from stickers-dev into the package.

Run from the repository root: python scripts/build_sample.py ../shared/data/stickers-dev
"""

import json
import shutil
import sys
from pathlib import Path

EMOJI = (
    "😀",
    "😂",
    "🤣",
    "😅",
    "😘",
    "🤗",
    "🤔",
    "😢",
    "😭",
    "😠",
    "😡",
    "😱",
    "😍",
    "😴",
    "😎",
    "👍",
    "❤️",
    "🔥",
    "🎉",
    "🐱",
    "🐈",
    "🐶",
    "🦊",
    "🐸",
    "🍕",
    "🍩",
    "☕",
    "🌹",
    "💩",
    "🆗",
    "🆘",
)
STRIP = dict.fromkeys((0xFE0E, 0xFE0F))


def main(src: Path, dst: Path) -> None:
    wanted = {e.translate(STRIP) for e in EMOJI}
    rows = [json.loads(line) for line in (src / "manifest.jsonl").open(encoding="utf-8")]
    chosen = [r for r in rows if r["emoji"].translate(STRIP) in wanted]
    if dst.exists():
        shutil.rmtree(dst / "stickers", ignore_errors=True)
    (dst / "stickers").mkdir(parents=True, exist_ok=True)
    with (dst / "manifest.jsonl").open("w", encoding="utf-8") as out:
        for row in chosen:
            shutil.copyfile(src / row["file"], dst / row["file"])
            # `style` is kept only so the demo can simulate users with a taste; import ignores it.
            out.write(
                json.dumps({k: row[k] for k in ("file", "emoji", "style")}, ensure_ascii=False)
                + "\n"
            )
    shutil.copyfile(src / "CREDITS.md", dst / "CREDITS.md")
    print(f"{len(chosen)} stickers of {len({r['emoji'] for r in chosen})} emoji")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parents[1] / "engine" / "data" / "sample")
