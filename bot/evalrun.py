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
    LosoPlan,
    LosoResult,
    PersonalizationResult,
    SearchService,
    TrackResult,
    blind_track,
    crowd_track,
    format_table,
    format_typing_table,
    import_pack_per_style,
    lexicon_track,
    load_devset,
    loso_track,
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


def _emoji_tracks(
    svc: SearchService, dev: DevSet, names: list[str], seed: int, work: Path
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "lexicon" in names or "personalization" in names:
        with progress("lexicon queries") as advance:
            out["lexicon"] = lexicon_track(svc, dev, advance)
    if "personalization" in names:
        with progress("style annotation") as advance:
            svc.understanding.annotate(progress=advance, only=["style"])
        out["personalization"] = personalization_track(svc, dev, seed=seed)
        out["personalization_loso"] = [_loso(svc, dev, "one pack", seed, work)]
    if "typing" in names:
        with progress("typing queries") as advance:
            out["typing"] = typing_track(svc, dev, seed, advance)
    return out


def _loso(svc: SearchService, dev: DevSet, name: str, seed: int, work: Path) -> LosoResult:
    with progress(f"leave-one-style-out, {name}") as advance:
        return loso_track(svc, dev, name, LosoPlan(seed=seed), cache=work, progress=advance)


def _pack_library(base: EngineSettings, dev: DevSet, seed: int, work: Path) -> LosoResult:
    # The variant where pack affinity may help: each style imported as a pack of its own.
    with _library(base, work, "packs") as svc:
        with progress("import, a pack per style") as advance:
            import_pack_per_style(svc, dev, "eval-lexicon", advance)
        return _loso(svc, dev, "pack per style", seed, work)


def _blind_tracks(svc: SearchService, dev: DevSet, names: list[str], seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "blind" in names or "crowd" in names:
        with progress("blind queries") as advance:
            out["blind"] = blind_track(svc, dev, advance)
    if "crowd" in names:
        out["crowd"] = crowd_track(svc, dev, seed=seed)
    return out


def personalization_table(results: list[PersonalizationResult]) -> str:
    """One row per history size and system (in-sample: all styles, end to end)."""
    row = "{:>7} {:12s} {:>9} {:>10} {:>8} {:>8}"
    lines = ["personalization, end to end, in-sample (the defaults were chosen on these styles)"]
    lines.append(row.format("history", "system", "gNDCG@10", "Hit@1 pref", "share@10", "NDCG@10"))
    for r in results:
        for system, m in r.metrics.items():
            values = (m["graded_ndcg@10"], m["hit@1_preferred"], m["style_share@10"], m["ndcg@10"])
            lines.append(row.format(r.history, system, *(f"{v:.4f}" for v in values)))
    return "\n".join(lines)


LOSO_ROW = "{:24s} {:>3} {:>10} {:>10} {:>9} {:>9} {:>8} {:>8}"
LOSO_HEAD = ("", "H", "Hit@1 pref", "(unpers.)", "gNDCG@10", "(unpers.)", "NDCG@10", "(unpers.)")


def _loso_cells(m: dict[str, float], base: dict[str, float]) -> list[str]:
    keys = ("hit@1_preferred", "graded_ndcg@10", "ndcg@10")
    return [f"{d[k]:.4f}" for k in keys for d in (m, base)]


def loso_table(result: LosoResult) -> str:
    """Held-out style per row and history size, the mean, then each variant (the ablation)."""
    lines = [f"personalization, leave-one-style-out, {result.library} (held-out figures only)"]
    lines.append(LOSO_ROW.format(*LOSO_HEAD))
    for fold in result.folds:
        lines.append(f"held out {fold.held_out} (chose: {fold.chosen})")
        for size in result.sizes:
            cells = _loso_cells(fold.personalized[size], fold.baseline[size])
            lines.append(LOSO_ROW.format("", size, *cells))
    mean, base = result.mean("personalized"), result.mean("baseline")
    for size in result.sizes:
        lines.append(LOSO_ROW.format("mean", size, *_loso_cells(mean[size], base[size])))
    lines.append("ablation: each variant's held-out mean (unpers. = no personalization)")
    for name, by_size in result.variants.items():
        for size in result.sizes:
            lines.append(LOSO_ROW.format(name[:24], size, *_loso_cells(by_size[size], base[size])))
    lines.append(f"chosen the same way on every style: {result.chosen_on_all}")
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
            results |= _emoji_tracks(svc, dev, names, seed, work)
    if "personalization" in names:
        results["personalization_loso"].append(_pack_library(base, dev, seed, work))
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
        for loso in results["personalization_loso"]:
            click.echo(loso_table(loso))
    if "crowd" in names:
        click.echo(crowd_table(results["crowd"]))
    if "typing" in names:
        click.echo(format_typing_table(results["typing"]))


def _jsonable(results: dict[str, Any], names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "personalization" in names:
        names = [*names, "personalization_loso"]
    for name in names:
        value = results[name]
        out[name] = [r.to_json() for r in value] if isinstance(value, list) else value.to_json()
    return out
