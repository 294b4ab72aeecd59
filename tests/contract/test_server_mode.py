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


def test_the_whole_engine_on_postgresql_and_a_chroma_server(
    tmp_path: Path,
    postgres_url: str,
    chroma_server_address: tuple[str, int],
    make_png: ImageMaker,
) -> None:
    """The scale-out configuration: no file in the data dir but media."""
    host, port = chroma_server_address
    settings = EngineSettings(
        storage=StorageSettings(data_dir=tmp_path, database_url=postgres_url),
        vectors=VectorSettings(mode="server", host=host, port=port, collection_prefix="pg_"),
    )
    with SearchService.open(settings) as svc:
        try:
            colours = [(200, 120, 0, 255), (90, 60, 20, 255), (10, 200, 90, 255)]
            items = [
                ImportItem(f"{i}.png", lambda c=c: make_png(c), emoji="🐱")
                for i, c in enumerate(colours)
            ]
            ids = svc.library.import_items(items, "cats").sticker_ids
            for user in ("a", "b"):
                svc.users.record(user, ids[2], "chosen", "caturday")
            assert svc.crowd.update_utility() == 1
            assert svc.crowd.update_history_queries() == 1
            assert svc.search(SearchQuery("c", "caturday")).hits[0].id == ids[2]
            assert svc.suggest("c", "catu", 3)[0].text == "caturday"
        finally:
            svc.library.remove_pack("cats")
