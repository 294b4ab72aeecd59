"""Fixtures the adapter tests share."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """A real library (SQLite, embedded Chroma) with lexical recall only: fast and exact."""
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path), search=SearchSettings(dense=False)
    )
    with SearchService.open(settings) as service:
        yield service
