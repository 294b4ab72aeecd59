"""Chroma in server mode: two services (as two processes would) share one library."""

from pathlib import Path

import chromadb

from engine.ingest import ImportItem
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings, VectorSettings
from engine.types import SearchQuery
from tests.conftest import ImageMaker


def test_two_services_share_a_library_through_a_chroma_server(
    tmp_path: Path, chroma_server_address: tuple[str, int], make_png: ImageMaker
) -> None:
    host, port = chroma_server_address
    vectors = VectorSettings(mode="server", host=host, port=port, collection_prefix="shared_")
    settings = EngineSettings(storage=StorageSettings(data_dir=tmp_path), vectors=vectors)
    items = [
        ImportItem("cat.png", lambda: make_png((200, 120, 0, 255)), emoji="🐱"),
        ImportItem("dog.png", lambda: make_png((90, 60, 20, 255)), emoji="🐶"),
    ]
    # No writer lock in server mode: a worker and a bot may both hold the library open.
    with SearchService.open(settings) as worker, SearchService.open(settings) as bot:
        assert worker.library.import_items(items, "pets").added == 2
        hits = bot.search(SearchQuery("tg:1", "feline")).hits  # in no keyword: dense only
        assert hits and hits[0].emoji == "🐱", "dense recall through the server finds the cat"
    client = chromadb.HttpClient(host=host, port=port)
    assert client.get_collection("shared_sticker_text").count() == 2
