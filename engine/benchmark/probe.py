"""A restart, measured: `python -m engine.benchmark.probe SETTINGS.json QUERY` prints one JSON line.

It loads the text model, opens the library and answers the query, reporting the time each took
and the resident memory after the imports, after the model and after the first answer, so that
the library's own memory (snapshot, indexes) is told apart from the models'.
"""

import sys
import time


def main() -> None:
    """Open, answer one query, print the measurements."""
    begun = time.perf_counter()
    import json
    from pathlib import Path

    from engine.benchmark.measure import rss_mb
    from engine.embedding import make_text_embedder
    from engine.service import SearchService
    from engine.settings import EngineSettings
    from engine.types import SearchQuery

    settings = EngineSettings.model_validate_json(Path(sys.argv[1]).read_text(encoding="utf-8"))
    base = rss_mb()
    embedder = make_text_embedder(settings.text_model)
    if settings.search.dense:
        embedder.embed_queries(["warm up"])  # loads the model
    model_s, with_model = time.perf_counter() - begun, rss_mb()
    with SearchService.open(settings, embedder) as svc:
        hits = svc.search(SearchQuery("bench:probe", sys.argv[2], limit=50)).hits
        answered_at, total = time.time(), rss_mb()
        opened_s = time.perf_counter() - begun - model_s
    print(
        json.dumps(
            {
                "answered_at": answered_at,
                "model_load_s": round(model_s, 2),
                "open_and_first_search_s": round(opened_s, 2),
                "hits": len(hits),
                "rss_mb": round(total, 1),
                "rss_models_mb": round(with_model - base, 1),
                "rss_without_models_mb": round(total - (with_model - base), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
