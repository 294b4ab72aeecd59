"""Discord latency: autocomplete and /sticker, server-side, p50/p99, on a large library.

Usage (from the repository root, with the dev dependencies installed):
    python scripts/bench_discord.py ../shared/data/stickers-dev --copies 3 --work-dir DIR

Builds the library as scripts/bench_search.py does (`--copies 3`: 11.6k stickers; an existing
`--work-dir` library is reused), then measures:

- engine: `suggest` for every prefix a user types of each dev query (what autocomplete calls),
  and `search` + the contact sheet of one /sticker page;
- end to end: the real discord.py client against tests/fakes/discord_api.py on localhost, from
  the INTERACTION_CREATE the fake sends to the bot's answer: autocomplete choices, and for
  /sticker the deferral and the finished result page;
- scopes: the same searches when the whole library is scoped to another server (every sticker
  hidden: the widest recall pool that visibility filtering can cost).
"""

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_search import items

from adapters.base import StatusBoard
from adapters.discord import Deps, DiscordRuntime, DiscordSettings, StickerBot
from adapters.discord.sheet import contact_sheet
from engine import (
    EngineSettings,
    Redactor,
    SearchQuery,
    SearchService,
    StorageSettings,
    latency_summary,
    load_devset,
)
from tests.fakes.discord_api import FakeDiscord

PAGE = 10
USER = 4242


def prefixes(texts: list[str], limit: int, seed: int = 0) -> list[str]:
    """What autocomplete sees while people type: every prefix of sampled queries."""
    sample = random.Random(seed).sample(texts, min(limit, len(texts)))
    return [t[:n] for t in sample for n in range(1, len(t) + 1)]


def timed(func: Callable[[str], Any], inputs: list[str]) -> list[float]:
    """Milliseconds per call."""
    out = []
    for value in inputs:
        start = time.perf_counter()
        func(value)
        out.append((time.perf_counter() - start) * 1000)
    return out


def engine_numbers(svc: SearchService, texts: list[str], typed: list[str]) -> dict[str, Any]:
    """suggest per keystroke; search + contact sheet per /sticker, for a member of a server."""
    space = "dc-guild:1"

    def page(text: str) -> None:
        hits = svc.search(SearchQuery(f"dc:{USER}", text, PAGE, 0, space=space)).hits
        contact_sheet([h.preview_path for h in hits])

    svc.suggest(f"dc:{USER}", "a", 25, space)  # warm-up: vocabulary build
    page(texts[0])
    svc.clear_page_cache()
    return {
        "suggest": latency_summary(timed(lambda t: svc.suggest(f"dc:{USER}", t, 25, space), typed)),
        "search+sheet": latency_summary(timed(page, texts)),
    }


async def end_to_end(svc: SearchService, texts: list[str], typed: list[str]) -> dict[str, Any]:
    """Through discord.py and localhost HTTP: dispatch to answer, as Discord would time it."""
    api = FakeDiscord()
    await api.start()
    guild = int(api.add_guild("Bench")["id"])
    settings = DiscordSettings(api_base_url=api.api_base_url, cdn_url=api.cdn_url)
    runtime = DiscordRuntime(
        StickerBot(Deps(svc, settings, StatusBoard(svc))), settings, api.token, Redactor([])
    )
    await runtime.start()
    try:
        choices, deferred, finished = [], [], []
        for text in typed:
            record = await api.autocomplete("sticker", "query", text, user_id=USER, guild_id=guild)
            await record.until(lambda r: bool(r.responses), timeout=30)
            choices.append((record.first_response_s or 0) * 1000)
        svc.clear_page_cache()
        for text in texts:
            options = [{"name": "query", "type": 3, "value": text[:56]}]
            record = await api.slash("sticker", options, user_id=USER, guild_id=guild)
            await record.until(lambda r: r.edits > 0, timeout=30)
            deferred.append((record.first_response_s or 0) * 1000)
            finished.append((time.monotonic() - record.sent_at) * 1000)
    finally:
        await runtime.stop()
        await api.stop()
    return {
        "autocomplete answered": latency_summary(choices),
        "/sticker deferred": latency_summary(deferred),
        "/sticker page shown": latency_summary(finished),
    }


def scoped_numbers(svc: SearchService, texts: list[str]) -> dict[str, Any]:
    """Search from a server that sees none of the library: the widest pool scoping costs."""
    pack = svc.library.packs()[0].name
    svc.library.set_pack_space(pack, "dc-guild:999")
    try:
        svc.search(SearchQuery("dc:1", texts[0], PAGE, space="dc-guild:1"))  # snapshot rebuild
        svc.clear_page_cache()
        other = timed(lambda t: svc.search(SearchQuery("dc:1", t, PAGE, space="dc-guild:1")), texts)
        own = timed(lambda t: svc.search(SearchQuery("dc:2", t, PAGE, space="dc-guild:999")), texts)
    finally:
        svc.library.set_pack_space(pack, None)
    return {"search, all hidden": latency_summary(other), "search, own scope": latency_summary(own)}


def main() -> None:
    """Build (or reuse) the library and print the latency table."""
    ap = argparse.ArgumentParser()
    ap.add_argument("data", type=Path)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--work-dir", type=Path)
    ap.add_argument("--queries", type=int, default=200, help="dev queries per measurement")
    args = ap.parse_args()
    dev = load_devset(args.data)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="stickerbot-bench-"))
    texts = random.Random(1).sample([q.text for q in dev.queries], args.queries)
    typed = prefixes([q.text for q in dev.queries], max(1, args.queries // 4))
    with SearchService.open(EngineSettings(storage=StorageSettings(data_dir=work))) as svc:
        if not svc.library.packs():
            svc.library.import_items(items(args.data, dev.rows, args.copies), "bench")
        report: dict[str, Any] = {"stickers": svc.library.stats().stickers}
        report |= engine_numbers(svc, texts, typed)
        report |= asyncio.run(end_to_end(svc, texts, typed))
        report |= scoped_numbers(svc, texts)
    print(f"{report['stickers']} stickers, {len(texts)} queries, {len(typed)} keystrokes")
    for name, summary in report.items():
        if isinstance(summary, dict):
            print(f"{name:24s} p50 {summary['p50']:8.2f} ms  p99 {summary['p99']:8.2f} ms")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
