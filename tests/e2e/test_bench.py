"""`stickerbot bench` end to end at 300 stickers, with the pg_trgm peer on the test PostgreSQL."""

import json
import sys
from pathlib import Path

import pytest

from bot.cli import main
from engine.benchmark.corpus import make_corpus
from engine.benchmark.run import build
from engine.index import sync_point
from engine.service import SearchService
from engine.settings import EngineSettings, StorageSettings
from tests.conftest import internals
from tests.contract.test_text_index_sync import HashEmbedder

LEXICAL_ONLY = "[search]\ndense = false\n"  # no text model load: the test stays fast


def test_bench_runs_end_to_end_with_the_peer(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config, out = tmp_path / "config.toml", tmp_path / "bench.json"
    config.write_text(LEXICAL_ONLY, encoding="utf-8")
    argv = [
        "stickerbot", "--config", str(config), "--data-dir", str(tmp_path / "lib"), "bench",
        "--sizes", "300", "--work-dir", str(tmp_path / "work"), "--peer-url", postgres_url,
        "--queries", "20", "--typing", "3", "--import-stickers", "20", "--annotate-sample", "0",
        "--json", str(out),
    ]  # fmt: skip
    old, sys.argv = sys.argv, argv
    try:
        main()
    finally:
        sys.argv = old
    table = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    r = result["300"]
    assert r["stickers"] == 300 and r["build"]["stale_documents"] == 0
    for stream in ("novel", "typing", "concurrent8", "during_import", "page2"):
        lat = r[stream]
        assert 0 < lat["p50_ms"] <= lat["p99_ms"] <= lat["max_ms"] < 60_000, stream
    assert r["novel"]["n"] == 20 and r["typing"]["n"] > 20
    assert r["typing"]["model_calls_per_search"] == 0  # dense off: no model call at all
    assert 0 < r["novel"]["recall@10"] <= 1 and 0 < r["novel"]["ndcg@10"] <= 1
    peer = r["peer"]
    assert peer["tag_rows"] > 300 and 0 < peer["novel"]["p50_ms"] <= peer["novel"]["max_ms"]
    assert 0 < peer["novel"]["recall@10"] <= 1
    assert r["vs_peer"]["speedup_p50"] > 0
    assert r["during_import"]["stickers_imported"] == 20
    assert 0 < r["searchable"]["searchable_s"] < 60
    assert r["restart"]["hits"] > 0 and r["restart"]["rss_mb"] > 0 and r["disk_mb"] > 0
    served = r["restart_server"]  # the same library, its vectors on a Chroma server
    assert served["hits"] == r["restart"]["hits"] and served["chroma_server_rss_mb"] > 0
    assert served["rss_without_models_mb"] > 0 and served["first_answer_s"] > 0
    names = [t["target"] for t in result["targets"]]
    assert "300 p99 during import <= 2x idle" in names
    assert all(t["status"] in ("pass", "miss", "n/a") for t in result["targets"])
    assert "novel p50" in table and "peer R@10" in table and "Chroma server" in table


def test_sigterm_stops_the_bench_and_removes_its_postgresql_cluster(tmp_path: Path) -> None:
    import glob
    import signal
    import subprocess
    import time

    from engine.pgserver import server_binaries

    if server_binaries() is None:
        pytest.skip("PostgreSQL is not installed")
    config = tmp_path / "config.toml"
    config.write_text(LEXICAL_ONLY, encoding="utf-8")
    before = set(glob.glob("/tmp/stickerbot-pg-*"))
    args = [
        sys.executable, "-c", "from bot.cli import main; main()", "--config", str(config),
        "--data-dir", str(tmp_path / "lib"), "bench", "--sizes", "300000",
        "--work-dir", str(tmp_path / "work"), "--annotate-sample", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "size 300,000: building": the cluster is up
        assert "building" in line, line
        assert set(glob.glob("/tmp/stickerbot-pg-*")) - before
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        proc.wait(timeout=30)
        assert time.monotonic() - started < 10
    finally:
        proc.kill()
    assert set(glob.glob("/tmp/stickerbot-pg-*")) == before


def test_a_built_library_records_its_text_sync_point(tmp_path: Path) -> None:
    settings = EngineSettings(storage=StorageSettings(data_dir=tmp_path / "lib"))
    corpus = make_corpus(300, settings.search.locales)
    embedder = HashEmbedder("bench-model", 8)
    with SearchService.open(settings, embedder) as svc:
        timings = build(svc, corpus, tmp_path, lambda _line: None)
        core = internals(svc)
        assert timings["stale_documents"] == 0
        # As after a complete sync: the next refresh checks only what changes from here.
        assert sync_point(core.db) == ("bench-model", core.db.revision())
        embedded = len(embedder.embedded)  # the build embeds each emoji's keyword text
        assert core.refresh() == 0 and len(embedder.embedded) == embedded
