"""End-to-end fixtures: a library built from a slice of the shared dev data, real model included."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.evaluation import DevSet, load_devset
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings

DEV_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "stickers-dev"
PROBE_QUERIES = {("en", "happy"), ("en", "angry"), ("en", "cat"), ("ja", "猫"), ("de", "traurig")}


@pytest.fixture(scope="session")
def devset() -> DevSet:
    """The shared dev data (../shared/data/stickers-dev beside the checkout)."""
    if not DEV_DIR.is_dir():
        pytest.skip(f"dev data not found at {DEV_DIR}")
    return load_devset(DEV_DIR)


@pytest.fixture(scope="session")
def dev_slice(devset: DevSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest of the probe queries' relevant stickers plus 400 distractors, with emoji."""
    wanted = set().union(
        *(q.relevant for q in devset.queries if (q.locale, q.text) in PROBE_QUERIES)
    )
    wanted |= {"1F620", "1F92C", "1F624", "1F47F", "1F63E", "1F4A2"}  # "angry" (hand-labelled)
    rows = [r for r in devset.rows if r["hexcode"] in wanted] + devset.rows[:400]
    manifest = tmp_path_factory.mktemp("slice") / "manifest.jsonl"
    with manifest.open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps({"file": str(DEV_DIR / r["file"]), "emoji": r["emoji"]}) + "\n")
    return manifest


@pytest.fixture(scope="session")
def dev_service(
    dev_slice: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SearchService]:
    """A real service (SQLite, embedded Chroma, the default text model) holding the dev slice."""
    settings = EngineSettings(storage=StorageSettings(data_dir=tmp_path_factory.mktemp("lib")))
    with SearchService.open(settings) as svc:
        svc.library.import_path(dev_slice, "dev")
        yield svc
