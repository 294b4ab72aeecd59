"""`stickerbot eval`: runs the tracks in scratch libraries and prints their tables."""

import time
from pathlib import Path
from typing import Any

import click

from bot.console import progress
from engine import (
    CrowdResult,
    DevSet,
    EngineSettings,
    PersonalizationResult,
    SearchService,
    TrackResult,
    blind_track,
    crowd_track,
    format_table,
    format_typing_table,
    lexicon_track,
    load_devset,
    personalization_track,
    typing_track,
)

TRACKS = ("lexicon", "personalization", "blind", "crowd", "typing")


def _library(base: EngineSettings, work: Path, name: str) -> SearchService:
    svc = SearchService.open(base.in_dir(work / name))
    try:
        # A reused --work-dir may hold another text model's vectors: re-embed before measuring.
        with progress("indexing") as advance:
            svc.library.refresh(advance)
    except BaseException:
        svc.close()
        raise
    return svc


def _emoji_tracks(svc: SearchService, dev: DevSet, names: list[str], seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "lexicon" in names or "personalization" in names:
        with progress("lexicon queries") as advance:
            out["lexicon"] = lexicon_track(svc, dev, advance)
    if "personalization" in names:
        with progress("style annotation") as advance:
            svc.understanding.annotate(progress=advance, only=["style"])
        out["personalization"] = personalization_track(svc, dev, seed=seed)
    if "typing" in names:
        with progress("typing queries") as advance:
            out["typing"] = typing_track(svc, dev, seed, advance)
    return out


def _blind_tracks(svc: SearchService, dev: DevSet, names: list[str], seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "blind" in names or "crowd" in names:
        with progress("blind queries") as advance:
            out["blind"] = blind_track(svc, dev, advance)
    if "crowd" in names:
        out["crowd"] = crowd_track(svc, dev, seed=seed)
    return out


def personalization_table(results: list[PersonalizationResult]) -> str:
    """One row per history size and system."""
    row = "{:>7} {:12s} {:>9} {:>10} {:>8} {:>8}"
    lines = [row.format("history", "system", "gNDCG@10", "Hit@1 pref", "share@10", "NDCG@10")]
    for r in results:
        for system, m in r.metrics.items():
            values = (m["graded_ndcg@10"], m["hit@1_preferred"], m["style_share@10"], m["ndcg@10"])
            lines.append(row.format(r.history, system, *(f"{v:.4f}" for v in values)))
    return "\n".join(lines)


def crowd_table(results: list[CrowdResult]) -> str:
    """NDCG@10 of new users as picks accumulate."""
    head = ("picks", "NDCG@10", "top-100 queries", "learned stickers")
    lines = ["{:>6s} {:>8s} {:>16s} {:>17s}".format(*head)]
    lines += [
        f"{r.picks:6d} {r.ndcg:8.4f} {r.popular_ndcg:16.4f} {r.learned_stickers:17d}"
        for r in results
    ]
    return "\n".join(lines)


def run_eval(
    base: EngineSettings, data: Path, split: str, names: list[str], work: Path | None, seed: int
) -> dict[str, Any]:
    """Run the named tracks, print their tables, and return the JSON payload."""
    dev = load_devset(data, split)
    work = base.in_dir(work, "stickerbot-eval-").data_dir
    started = time.perf_counter()
    results: dict[str, Any] = {}
    if {"lexicon", "personalization", "typing"} & set(names):
        with _library(base, work, "emoji") as svc:
            results |= _emoji_tracks(svc, dev, names, seed)
    if {"blind", "crowd"} & set(names):
        with _library(base, work, "blind") as svc:
            results |= _blind_tracks(svc, dev, names, seed)
    elapsed = time.perf_counter() - started
    _print(results, names)
    click.echo(f"took {elapsed:.0f} s (libraries in {work})")
    return {"split": split, "seconds": round(elapsed, 1), **_jsonable(results, names)}


def _print(results: dict[str, Any], names: list[str]) -> None:
    plain: list[TrackResult] = [
        results[n] for n in ("lexicon", "blind") if n in names and n in results
    ]
    if plain:
        click.echo(format_table(plain))
    if "personalization" in names:
        click.echo(personalization_table(results["personalization"]))
    if "crowd" in names:
        click.echo(crowd_table(results["crowd"]))
    if "typing" in names:
        click.echo(format_typing_table(results["typing"]))


def _jsonable(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = results[name]
        out[name] = [r.to_json() for r in value] if isinstance(value, list) else value.to_json()
    return out
