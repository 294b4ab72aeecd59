"""Vendor a trimmed, compressed copy of emojibase CLDR data into the engine package.

Run from the repository root: python scripts/vendor_emojibase.py ../shared/data/emojibase
"""

import gzip
import json
import shutil
import sys
from pathlib import Path

KEEP = ("hexcode", "unicode", "label", "tags")


def trim(entries: list[dict[str, object]]) -> list[dict[str, object]]:
    """Keep only the fields the lexicon reads; skin-tone variants are folded at run time."""
    return [{k: e[k] for k in KEEP if k in e} for e in entries if "unicode" in e]


def main(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for locale_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        entries = json.loads((locale_dir / "compact.json").read_text("utf-8"))
        data = json.dumps(trim(entries), ensure_ascii=False, separators=(",", ":"))
        # mtime=0 keeps the vendored bytes reproducible between runs.
        with gzip.GzipFile(dst / f"{locale_dir.name}.json.gz", "wb", mtime=0) as fh:
            fh.write(data.encode("utf-8"))
    shutil.copyfile(src / "LICENSE", dst / "LICENSE")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).resolve().parents[1] / "engine" / "data" / "emojibase")
